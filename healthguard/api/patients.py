"""Patient detail and vitals history (PHI: every read is audited), break-the-glass, and the
NEWS2 SpO2 scale (a clinician's decision, audited).

A patient outside the caller's ward scope answers 404, exactly like one that does not
exist, unless the caller has broken the glass for that patient (which is flagged). Break-
the-glass opens reads only: changing the SpO2 scale needs the patient in the caller's own
scope, as pausing alarms does."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from healthguard.api.security import current_principal, request_origin, secured
from healthguard.db import session_scope
from healthguard.ingest.store import after_commit_scoring
from healthguard.models import Observation, Patient
from healthguard.patients.detail import record_phi_read
from healthguard.patients.phi import keyring_from_settings, read_identity
from healthguard.patients.scale import MAX_REASON, ScaleError, change_spo2_scale, check_request
from healthguard.security.permissions import Permission, Principal
from healthguard.security.scope import BreakGlassError, grant_break_glass, patient_access
from healthguard.settings import get_settings

router = APIRouter(prefix="/patients", tags=["patients"])

NOT_FOUND = "No such patient, or not one you may see. To open a patient outside your wards, "
NOT_FOUND += "break the glass with a reason (POST /api/v1/patients/{id}/break-glass)."
# For changes: break-the-glass does not open them, so the answer does not suggest it.
NOT_FOUND_TO_CHANGE = "No such patient, or not one you may see."


class PatientOut(BaseModel):
    id: str
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    sex: str
    allergies: str
    notes: str
    spo2_scale: int
    access: str = Field(description='"scope" or "break_glass" (flagged for the auditor)')


class VitalOut(BaseModel):
    parameter: str
    value: float | None
    value_text: str | None
    unit: str
    source: str
    observed_at: datetime


class BreakGlassRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class BreakGlassOut(BaseModel):
    patient_id: str
    expires_at: datetime


class Spo2ScaleIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scale": 2, "reason": "Confirmed type 2 respiratory failure; target 88-92 %"}
            ]
        },
    )
    scale: int = Field(
        strict=True,
        json_schema_extra={"enum": [1, 2]},
        description="NEWS2 SpO2 scale: 2 only for confirmed hypercapnic respiratory failure",
    )
    reason: str | None = Field(
        default=None,
        max_length=MAX_REASON,
        description="Required for Scale 2: the clinical decision (kept in the audit log only)",
        examples=["Confirmed type 2 respiratory failure; target 88-92 %"],
    )


class Spo2ScaleOut(BaseModel):
    patient_id: str
    spo2_scale: int
    changed: bool = Field(description="false when the patient already had this scale")


def _audit_read(
    session: Session, principal: Principal, request: Request, action: str, pid: uuid.UUID, via: str
) -> None:
    origin = request_origin(request)
    record_phi_read(
        session,
        principal,
        action,
        pid,
        via,
        now=datetime.now(UTC),
        ip=origin.ip,
        user_agent=origin.user_agent,
    )


@router.get(
    "/{patient_id}",
    response_model=PatientOut,
    summary="A patient's identity and notes (PHI; audited)",
    responses={404: {"description": "No such patient, or outside your scope"}},
    **secured(Permission.PATIENTS_READ),
)
def get_patient(
    patient_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> PatientOut:
    with session_scope() as session:
        via = patient_access(session, principal, patient_id, now=datetime.now(UTC))
        patient = session.get(Patient, patient_id) if via else None
        if patient is None or via is None:
            raise HTTPException(404, NOT_FOUND)
        identity = read_identity(patient, keyring_from_settings(get_settings()))
        _audit_read(session, principal, request, "patient.read", patient_id, via)
        return PatientOut(
            id=str(patient.id),
            mrn=identity.mrn,
            family_name=identity.family_name,
            given_name=identity.given_name,
            date_of_birth=identity.date_of_birth,
            sex=patient.sex,
            allergies=identity.allergies,
            notes=identity.notes,
            spo2_scale=patient.spo2_scale,
            access=via,
        )


@router.get(
    "/{patient_id}/vitals",
    response_model=list[VitalOut],
    summary="A patient's vital signs, newest first (PHI; audited)",
    responses={404: {"description": "No such patient, or outside your scope"}},
    **secured(Permission.PATIENTS_READ),
)
def get_vitals(
    patient_id: uuid.UUID,
    request: Request,
    hours: int = Query(24, ge=1, le=24 * 30, description="How far back"),
    principal: Principal = Depends(current_principal),
) -> list[VitalOut]:
    now = datetime.now(UTC)
    with session_scope() as session:
        via = patient_access(session, principal, patient_id, now=now)
        if via is None:
            raise HTTPException(404, NOT_FOUND)
        rows = session.exec(
            select(Observation)
            .where(
                Observation.patient_id == patient_id,
                col(Observation.observed_at) >= now - timedelta(hours=hours),
            )
            .order_by(col(Observation.observed_at).desc())
            .limit(5000)
        ).all()
        _audit_read(session, principal, request, "vitals.read", patient_id, via)
        return [
            VitalOut(
                parameter=r.parameter,
                value=r.value,
                value_text=r.value_text,
                unit=r.unit,
                source=r.source,
                observed_at=r.observed_at,
            )
            for r in rows
        ]


@router.post(
    "/{patient_id}/break-glass",
    response_model=BreakGlassOut,
    status_code=201,
    summary="Open a patient outside your wards for a limited time, giving a reason (audited)",
    responses={422: {"description": "No reason given"}},
    **secured(Permission.BREAK_GLASS),
)
def break_glass(
    patient_id: uuid.UUID,
    body: BreakGlassRequest,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> BreakGlassOut:
    origin = request_origin(request)
    try:
        with session_scope() as session:
            grant = grant_break_glass(
                session,
                principal,
                patient_id,
                body.reason,
                duration_seconds=get_settings().break_glass_seconds,
                now=datetime.now(UTC),
                ip=origin.ip,
                user_agent=origin.user_agent,
            )
            return BreakGlassOut(patient_id=str(patient_id), expires_at=grant.expires_at)
    except BreakGlassError as exc:
        if exc.field == "patient":
            raise HTTPException(404, NOT_FOUND) from None
        raise HTTPException(422, f"{exc.field}: {exc.message}") from None


@router.put(
    "/{patient_id}/spo2-scale",
    response_model=Spo2ScaleOut,
    summary="Set a patient's NEWS2 SpO2 scale (Scale 2 needs a reason; clinicians; audited)",
    responses={
        404: {"description": "No such patient, or outside your scope"},
        422: {"description": "scale not 1 or 2, or no reason for Scale 2"},
    },
    **secured(Permission.PATIENTS_SET_SPO2_SCALE),
)
def set_spo2_scale(
    patient_id: uuid.UUID,
    body: Spo2ScaleIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> Spo2ScaleOut:
    now, origin = datetime.now(UTC), request_origin(request)
    try:
        check_request(body.scale, body.reason)  # before the look-up: 422 whoever the patient
        with session_scope() as session:
            if patient_access(session, principal, patient_id, now=now) != "scope":
                raise HTTPException(404, NOT_FOUND_TO_CHANGE)
            change = change_spo2_scale(
                session,
                patient_id,
                scale=body.scale,
                reason=body.reason,
                actor=principal.audit_name,
                now=now,
                ip=origin.ip,
                user_agent=origin.user_agent,
            )
            answer = Spo2ScaleOut(
                patient_id=str(patient_id),
                spo2_scale=change.patient.spo2_scale,
                changed=change.changed,
            )
    except ScaleError as exc:
        if exc.field == "patient":
            raise HTTPException(404, NOT_FOUND_TO_CHANGE) from None
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", exc.field), "msg": exc.message}]
        ) from None
    if answer.changed:
        # Committed: score the patient on the new scale now. A Redis outage is logged, not
        # raised (the change stands; the triage sweep and the next reading rescore it).
        after_commit_scoring({patient_id})
    return answer
