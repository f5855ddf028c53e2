"""Pausing a patient's alarms for a bounded time (bathing, transport): audited, ends by
itself, never silences a P0."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from healthguard.alarms.pauses import PauseError, end_pause, pause_alarms
from healthguard.api.security import current_principal, request_origin, secured
from healthguard.db import session_scope
from healthguard.patients.actions import publish_pause_change
from healthguard.patients.detail import patient_ward_code
from healthguard.security.permissions import Permission, Principal
from healthguard.security.scope import patient_access

router = APIRouter(prefix="/patients", tags=["alarm pauses"])
NOT_FOUND = "No such patient, or not one you may see."


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: int = Field(ge=1, le=60, description="At most 60 minutes")
    reason: str = Field(min_length=3, max_length=500, examples=["Bathing"])


class PauseOut(BaseModel):
    patient_id: str
    reason: str
    paused_by: str
    ends_at: datetime


@router.post(
    "/{patient_id}/alarm-pause",
    response_model=PauseOut,
    status_code=201,
    summary="Pause a patient's alarms for up to 60 minutes with a reason (P0 still alarms)",
    responses={404: {"description": "No such patient, or outside your scope"}},
    **secured(Permission.ALARMS_PAUSE),
)
def pause(
    patient_id: uuid.UUID,
    body: PauseIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> PauseOut:
    now, origin = datetime.now(UTC), request_origin(request)
    try:
        with session_scope() as session:
            if patient_access(session, principal, patient_id, now=now) != "scope":
                raise HTTPException(404, NOT_FOUND)
            row = pause_alarms(
                session,
                patient_id,
                minutes=body.minutes,
                reason=body.reason,
                actor=principal.audit_name,
                now=now,
                ip=origin.ip,
                user_agent=origin.user_agent,
            )
            answer = PauseOut(
                patient_id=str(patient_id),
                reason=row.reason,
                paused_by=row.paused_by,
                ends_at=row.ends_at,
            )
            ward = patient_ward_code(session, patient_id)
    except PauseError as exc:
        raise HTTPException(422, f"{exc.field}: {exc.message}") from None
    publish_pause_change(patient_id, ward)  # committed: the bed boards show it now
    return answer


@router.delete(
    "/{patient_id}/alarm-pause",
    status_code=204,
    summary="End a patient's alarm pause now",
    responses={404: {"description": "No such patient or no pause running"}},
    **secured(Permission.ALARMS_PAUSE),
)
def resume(patient_id: uuid.UUID, principal: Principal = Depends(current_principal)) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        if patient_access(session, principal, patient_id, now=now) != "scope":
            raise HTTPException(404, NOT_FOUND)
        if end_pause(session, patient_id, actor=principal.audit_name, now=now) is None:
            raise HTTPException(404, "No alarm pause is running for this patient.")
        ward = patient_ward_code(session, patient_id)
    publish_pause_change(patient_id, ward)
