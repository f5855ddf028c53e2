"""Pausing a patient's alarms for a bounded time with a reason (bathing, transport).

A pause ends by itself; suppressed alarms are still recorded as alerts with the reason; a
P0 (arrest) is never suppressed by a pause (healthguard.clinical.triage)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from healthguard.models import AlarmPause, Patient
from healthguard.security.audit import record_audit

MAX_PAUSE = timedelta(minutes=60)
MIN_REASON = 3


class PauseError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def pause_alarms(
    session: Session,
    patient_id: uuid.UUID,
    *,
    minutes: int,
    reason: str,
    actor: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> AlarmPause:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise PauseError("reason", "say why (e.g. bathing, transport to CT)")
    if not 1 <= minutes <= int(MAX_PAUSE.total_seconds() // 60):
        raise PauseError("minutes", f"must be between 1 and {int(MAX_PAUSE.total_seconds() // 60)}")
    if session.get(Patient, patient_id) is None:
        raise PauseError("patient", "no such patient")
    for current in active_pauses(session, [patient_id], now=now).values():
        current.ended_at, current.ended_by = now, actor  # a new pause replaces the old one
        session.add(current)
    pause = AlarmPause(
        patient_id=patient_id,
        reason=reason[:500],
        paused_by=actor,
        starts_at=now,
        ends_at=now + timedelta(minutes=minutes),
    )
    session.add(pause)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="patient.updated",
        record_type="patient",
        record_id=str(patient_id),
        ip=ip,
        user_agent=user_agent,
        details={"alarm_pause": "started", "minutes": minutes, "reason": pause.reason},
        now=now,
    )
    return pause


def end_pause(
    session: Session, patient_id: uuid.UUID, *, actor: str, now: datetime
) -> AlarmPause | None:
    pause = active_pauses(session, [patient_id], now=now).get(patient_id)
    if pause is None:
        return None
    pause.ended_at, pause.ended_by = now, actor
    session.add(pause)
    record_audit(
        session,
        actor=actor,
        action="patient.updated",
        record_type="patient",
        record_id=str(patient_id),
        details={"alarm_pause": "ended early"},
        now=now,
    )
    return pause


def active_pauses(
    session: Session, patient_ids: list[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, AlarmPause]:
    rows = session.exec(
        select(AlarmPause).where(
            col(AlarmPause.patient_id).in_(patient_ids),
            col(AlarmPause.starts_at) <= now,
            col(AlarmPause.ends_at) > now,
            col(AlarmPause.ended_at).is_(None),
        )
    ).all()
    return {row.patient_id: row for row in rows}
