"""Incidents within the caller's scope: list, read (with timeline), acknowledge.

An incident outside the caller's wards (and not assigned to them) answers 404 exactly like
one that does not exist, whatever the action: no existence leak by guessing ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from sqlmodel import col, select

from healthguard.api.security import current_principal, request_origin, secured
from healthguard.db import session_scope
from healthguard.incidents.access import acknowledge_as, visible_incident
from healthguard.incidents.actions import IncidentStateError
from healthguard.incidents.service import OpenIncidentRow, list_open_incidents
from healthguard.models import Incident, IncidentEvent, Ward
from healthguard.security.permissions import Permission, Principal
from healthguard.security.scope import ward_scope

router = APIRouter(prefix="/incidents", tags=["incidents"])
NOT_FOUND = "No such incident."


class IncidentSummary(BaseModel):
    id: str
    number: int
    priority: str
    status: str
    title: str
    summary: str
    ward: str
    bed: str
    patient_initials: str
    opened_at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str


class IncidentDetail(BaseModel):
    id: str
    number: int
    priority: str
    status: str
    title: str
    summary: str
    ward: str | None
    source: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    version: int
    timeline: list[TimelineEntry]


def _summary(row: OpenIncidentRow) -> IncidentSummary:
    return IncidentSummary(
        id=row.id,
        number=row.number,
        priority=row.priority,
        status=row.status,
        title=row.title,
        summary=row.summary,
        ward=row.ward_code,
        bed=row.bed_label,
        patient_initials=row.patient_initials,
        opened_at=row.opened_at,
    )


@router.get(
    "",
    response_model=list[IncidentSummary],
    summary="Open incidents you may see, P0 first then oldest first",
    **secured(Permission.INCIDENTS_READ),
)
def list_incidents(principal: Principal = Depends(current_principal)) -> list[IncidentSummary]:
    with session_scope() as session:
        scope = ward_scope(session, principal, now=datetime.now(UTC))
        rows = list_open_incidents(
            session,
            visible_wards=None if scope.all_wards else scope.ward_ids,
            or_assigned_to=principal.staff_id,
        )
    return [_summary(r) for r in rows]


@router.get(
    "/{incident_id}",
    response_model=IncidentDetail,
    summary="One incident with its timeline",
    responses={404: {"description": "No such incident, or not one you may see"}},
    **secured(Permission.INCIDENTS_READ),
)
def get_incident(
    incident_id: uuid.UUID, principal: Principal = Depends(current_principal)
) -> IncidentDetail:
    with session_scope() as session:
        incident = visible_incident(session, principal, incident_id, now=datetime.now(UTC))
        if incident is None:
            raise HTTPException(404, NOT_FOUND)
        ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
        events = session.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident.id)
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        ).all()
        return IncidentDetail(
            id=str(incident.id),
            number=int(incident.number or 0),
            priority=incident.priority,
            status=incident.status,
            title=incident.title,
            summary=incident.summary,
            ward=ward.code if ward else None,
            source=incident.source,
            opened_at=incident.opened_at,
            acknowledged_at=incident.acknowledged_at,
            resolved_at=incident.resolved_at,
            version=incident.version,
            timeline=[
                TimelineEntry(at=e.at, kind=e.kind, actor=e.actor, message=e.message)
                for e in events
            ],
        )


@router.post(
    "/{incident_id}/acknowledge",
    response_model=IncidentSummary,
    summary="Acknowledge an incident (stops its escalation)",
    responses={
        404: {"description": "No such incident, or not one you may see"},
        409: {"description": "Already acknowledged or resolved"},
    },
    **secured(Permission.INCIDENTS_ACKNOWLEDGE),
)
def acknowledge(
    incident_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> IncidentSummary:
    origin = request_origin(request)
    try:
        done = acknowledge_as(
            principal,
            incident_id,
            now=datetime.now(UTC),
            ip=origin.ip,
            user_agent=origin.user_agent,
        )
    except IncidentStateError as exc:
        raise HTTPException(404 if exc.code == "not_found" else 409, exc.message) from None
    with session_scope() as session:
        ward_id = session.get(Incident, done.incident_id).ward_id  # type: ignore[union-attr]
        row = next(
            r
            for r in list_open_incidents(session, ward_id=ward_id)
            if r.id == str(done.incident_id)
        )
    return _summary(row)
