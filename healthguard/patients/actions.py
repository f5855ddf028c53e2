"""Changing a patient as a signed-in person: the NEWS2 SpO2 scale and alarm pauses.

Each function checks the person's permission and that the patient is in their own ward
scope (break-the-glass opens reads only, as in the API), calls the one service function of
the action (healthguard.patients.scale.change_spo2_scale, healthguard.alarms.pauses
.pause_alarms / end_pause: they write the audit row), commits, then does what follows the
commit: a new scale asks the triage worker to rescore the patient (as the API does), and a
pause publishes a change event so the bed boards show it at once.

A refusal raises ActionRefused naming the field ("permission", "patient", "scale",
"reason", "minutes") with words for the screen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from healthguard.alarms.pauses import PauseError, end_pause, pause_alarms
from healthguard.db import session_scope
from healthguard.ingest.store import after_commit_scoring
from healthguard.patients.detail import patient_ward_code
from healthguard.patients.scale import ScaleChange, ScaleError, change_spo2_scale
from healthguard.realtime.events import ChangeEvent
from healthguard.realtime.publish import publish_change
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.scope import patient_access

# The change event kind of a pause started or ended (the ward's feeds reload).
ALARM_PAUSE_CHANGED = "patient.alarm_pause"

NOT_YOURS = "No such patient, or not one on your wards."


class ActionRefused(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PauseDone:
    ends_at: datetime | None  # None: a pause was ended
    reason: str


def _refused(field: str, message: str) -> ActionRefused:
    return ActionRefused(field, NOT_YOURS if field == "patient" else message)


def _require(principal: Principal, permission: Permission, what: str) -> None:
    if not allows(principal, permission):
        raise ActionRefused("permission", f"Your role may not {what}.")


def set_spo2_scale_as(
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    scale: int,
    reason: str | None,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ScaleChange:
    """Set the NEWS2 SpO2 scale (clinical decision makers, own wards; audited)."""
    _require(
        principal,
        Permission.PATIENTS_SET_SPO2_SCALE,
        "change the SpO2 scale (a physician or the rapid-response team decides it)",
    )
    try:
        with session_scope() as session:
            if patient_access(session, principal, patient_id, now=now) != "scope":
                raise ActionRefused("patient", NOT_YOURS)
            change = change_spo2_scale(
                session,
                patient_id,
                scale=scale,
                reason=reason,
                actor=principal.audit_name,
                now=now,
                ip=ip,
                user_agent=user_agent,
            )
    except ScaleError as exc:
        raise ActionRefused(
            exc.field, NOT_YOURS if exc.field == "patient" else exc.message
        ) from None
    if change.changed:
        after_commit_scoring({patient_id})
    return change


def pause_alarms_as(
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    minutes: int,
    reason: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> PauseDone:
    """Pause the patient's alarms (P0 still alarms) for at most the service's maximum."""
    _require(principal, Permission.ALARMS_PAUSE, "pause alarms")
    try:
        with session_scope() as session:
            if patient_access(session, principal, patient_id, now=now) != "scope":
                raise ActionRefused("patient", NOT_YOURS)
            pause = pause_alarms(
                session,
                patient_id,
                minutes=minutes,
                reason=reason,
                actor=principal.audit_name,
                now=now,
                ip=ip,
                user_agent=user_agent,
            )
            done = PauseDone(ends_at=pause.ends_at, reason=pause.reason)
            ward = patient_ward_code(session, patient_id)
    except PauseError as exc:
        raise ActionRefused(
            exc.field, NOT_YOURS if exc.field == "patient" else exc.message
        ) from None
    publish_pause_change(patient_id, ward)
    return done


def end_pause_as(principal: Principal, patient_id: uuid.UUID, *, now: datetime) -> bool:
    """End the running pause now; False when none was running."""
    _require(principal, Permission.ALARMS_PAUSE, "end an alarm pause")
    with session_scope() as session:
        if patient_access(session, principal, patient_id, now=now) != "scope":
            raise ActionRefused("patient", NOT_YOURS)
        ended = end_pause(session, patient_id, actor=principal.audit_name, now=now)
        ward = patient_ward_code(session, patient_id)
    if ended is not None:
        publish_pause_change(patient_id, ward)
    return ended is not None


def publish_pause_change(patient_id: uuid.UUID, ward_code: str | None) -> None:
    """After the commit: the ward's bed boards reload (a lost event: the periodic resync)."""
    from workers.queues import redis_connection

    publish_change(
        redis_connection(),
        ChangeEvent(kind=ALARM_PAUSE_CHANGED, entity_id=str(patient_id), ward_code=ward_code),
    )
