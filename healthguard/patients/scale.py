"""A patient's NEWS2 SpO2 scale: a clinician's decision, recorded in the audit log.

RCP NEWS2 (2017): SpO2 Scale 2 is only for confirmed hypercapnic respiratory failure with a
prescribed SpO2 target of 88-92 %; a competent clinical decision maker decides it and the
decision is recorded. Everyone else is scored on Scale 1.

- Setting Scale 2 needs a reason (non-blank, at most 500 characters). The reason is checked
  on the request alone, whatever the stored scale, so a retried request answers the same.
  Returning to Scale 1 may give one.
- The reason is kept only in the audit row's details (``{"from", "to", "reason"}``); it is
  never logged, stored on the patient or put in an error message.
- Asking for the scale the patient already has changes nothing and writes no audit row
  (``changed`` is false): nothing was decided that is not already recorded.
- The patient row is locked while it changes, so two clinicians changing it at once are
  recorded one after the other with the right "from".

No Redis, no HTTP: the caller commits, then asks the triage worker to rescore the patient.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from healthguard.models import Patient
from healthguard.security.audit import AuditAction, record_audit

SCALES: tuple[int, ...] = (1, 2)
MAX_REASON = 500


class ScaleError(ValueError):
    """A refused change, naming the field (``scale``, ``reason`` or ``patient``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ScaleChange:
    patient: Patient
    previous: int
    changed: bool


def check_request(scale: object, reason: str | None) -> str:
    """The cleaned reason ("" when none), or ScaleError naming the field. Depends only on
    the request, so the API checks it before it looks up the patient."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in SCALES:
        raise ScaleError("scale", "must be 1 or 2")
    if reason is not None and not isinstance(reason, str):
        raise ScaleError("reason", "must be text")
    cleaned = (reason or "").strip()
    if len(cleaned) > MAX_REASON:
        raise ScaleError("reason", f"must be at most {MAX_REASON} characters")
    if scale == 2 and not cleaned:
        raise ScaleError(
            "reason",
            "required for Scale 2: record the clinical decision (confirmed hypercapnic "
            "respiratory failure, prescribed SpO2 target 88-92 %)",
        )
    return cleaned


def change_spo2_scale(
    session: Session,
    patient_id: uuid.UUID,
    *,
    scale: int,
    reason: str | None,
    actor: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ScaleChange:
    """Set the patient's scale and audit it in the caller's transaction (see the module)."""
    cleaned = check_request(scale, reason)
    patient = session.get(Patient, patient_id, with_for_update=True, populate_existing=True)
    if patient is None:
        raise ScaleError("patient", "no such patient")
    previous = patient.spo2_scale
    if previous == scale:
        return ScaleChange(patient=patient, previous=previous, changed=False)
    patient.spo2_scale = scale
    session.add(patient)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action=AuditAction.PATIENT_SPO2_SCALE_SET,
        record_type="patient",
        record_id=str(patient_id),
        ip=ip,
        user_agent=user_agent,
        details={"from": previous, "to": scale, "reason": cleaned or None},
        now=now,
    )
    return ScaleChange(patient=patient, previous=previous, changed=True)


def set_spo2_scale(
    session: Session,
    patient_id: uuid.UUID,
    *,
    scale: int,
    reason: str | None,
    actor: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Patient:
    """`change_spo2_scale`, answering the patient (its ``spo2_scale`` is the current one)."""
    return change_spo2_scale(
        session,
        patient_id,
        scale=scale,
        reason=reason,
        actor=actor,
        now=now,
        ip=ip,
        user_agent=user_agent,
    ).patient
