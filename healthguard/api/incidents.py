"""Incidents within the caller's scope: list (filters, cursor pagination), read (timeline,
responders, allowed actions), raise one (staff concern), and every lifecycle action.

Every action goes through ``healthguard.incidents.workflow`` (the same function the UI
calls): the incident is locked, the pure state machine decides, and the change, its
timeline entries and its audit record are written in one transaction, conditional on the
version read. A refusal answers its HTTP status with the lifecycle's code, the current
status and the actions the caller may take now::

    {"error": {"code": "illegal_transition", "message": "Incident #12 is already
      acknowledged by ana.lopez at ...", "field": null, "current_status": "acknowledged",
      "allowed_actions": ["start", "escalate", ...]}}

An incident outside the caller's wards (and not assigned to them) answers 404 exactly like
one that does not exist, whatever the action: no existence leak by guessing ids.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from healthguard.api.security import current_principal, request_origin, secured
from healthguard.db import session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.incidents.access import visible_incident
from healthguard.incidents.errors import IncidentNotFound
from healthguard.incidents.priority import PRIORITIES
from healthguard.incidents.reads import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Cursor,
    CursorError,
    IncidentFilter,
    IncidentRow,
    incident_detail,
    search_incidents,
    staff_id_for,
)
from healthguard.incidents.reads import IncidentDetail as DetailData
from healthguard.incidents.service import IncidentInputError
from healthguard.incidents.workflow import STAFF_CONCERN_TITLE, perform_as, raise_as
from healthguard.models import Incident, Ward
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.security.permissions import Permission, Principal, permissions_of
from healthguard.security.scope import ward_scope

router = APIRouter(prefix="/incidents", tags=["incidents"])
NOT_FOUND = "No such incident."
ALL_STATUSES = tuple(s.value for s in lc.IncidentState)
EXPECTED_VERSION_HELP = (
    "The version you saw (optional; also accepted as an If-Match header). When the incident "
    "has changed since, nothing is done and the answer is 409 conflict."
)


# --- answers --------------------------------------------------------------------------------


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
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    assignee: str | None = None
    lead: str | None = None
    version: int = 1


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any] = {}
    note: str | None = Field(
        None, description="Free text typed by a person (stored encrypted; decrypted for you)"
    )


class ResponderOut(BaseModel):
    person: str
    role: str
    joined_at: datetime


class IncidentDetail(BaseModel):
    id: str
    number: int
    priority: str
    status: str
    title: str
    summary: str
    ward: str | None
    bed: str | None
    patient_initials: str
    source: str
    raised_by: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    started_at: datetime | None
    started_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_reason: str | None
    resolution_text: str | None
    duplicate_of: str | None
    duplicate_of_number: int | None
    closed_at: datetime | None
    closed_by: str | None
    assignee: str | None
    lead: str | None
    escalation_step: int
    reopened_count: int
    version: int
    responders: list[ResponderOut]
    allowed_actions: list[str] = Field(
        description="What you may do now (the buttons to show): acknowledge, start, escalate, "
        "reassign, add_note, add_responder, remove_responder, set_lead, change_priority, "
        "resolve, close, reopen"
    )
    timeline: list[TimelineEntry]


def _summary(row: IncidentRow) -> IncidentSummary:
    return IncidentSummary(**row.__dict__)


def _detail(data: DetailData) -> IncidentDetail:
    return IncidentDetail(
        **{
            k: v
            for k, v in data.__dict__.items()
            if k not in ("responders", "timeline", "allowed_actions")
        },
        responders=[ResponderOut(**r.__dict__) for r in data.responders],
        allowed_actions=[a.value for a in data.allowed_actions],
        timeline=[
            TimelineEntry(
                at=e.at, kind=e.kind, actor=e.actor, message=e.message, data=e.data, note=e.note
            )
            for e in data.timeline
        ],
    )


_REFUSAL_EXAMPLE = {
    "error": {
        "code": "illegal_transition",
        "message": "Incident #12 is already acknowledged by nurse.card at "
        "2026-11-26T04:21:07+00:00.",
        "field": None,
        "current_status": "acknowledged",
        "allowed_actions": ["start", "escalate", "add_note", "add_responder", "resolve"],
    }
}
_CONFLICT_EXAMPLE = {
    "error": {
        "code": "conflict",
        "message": "Incident #12 has changed since version 3 (now version 4): it is "
        "acknowledged by nurse.card at 2026-11-26T04:21:07+00:00. Reload it and try again.",
        "field": "expected_version",
        "current_status": "acknowledged",
        "allowed_actions": ["start", "escalate", "add_note", "add_responder", "resolve"],
    }
}
_MISSING_EXAMPLE = {
    "error": {
        "code": "missing_reason",
        "message": "text: must not be empty.",
        "field": "text",
        "current_status": "in_progress",
        "allowed_actions": ["escalate", "add_note", "add_responder", "resolve"],
    }
}


def _json(example: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"example": example}}


ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Done: the incident as it is now (with its new version)",
        "headers": {"ETag": {"description": 'The new version, e.g. "5"'}},
    },
    403: {"description": "Your role may not do this"},
    404: {
        "description": "No such incident, or not one you may see",
        "content": _json({"error": {"code": "not_found", "message": NOT_FOUND}}),
    },
    409: {
        "description": "Not from the incident's current status (illegal_transition), or it "
        "changed since expected_version (conflict); with the current status and the actions "
        "you may take now",
        "content": {
            "application/json": {
                "examples": {
                    "illegal_transition": {"value": _REFUSAL_EXAMPLE},
                    "conflict": {"value": _CONFLICT_EXAMPLE},
                }
            }
        },
    },
    422: {
        "description": "A required reason, note or text is missing (missing_reason), or a "
        "value is wrong (invalid)",
        "content": _json(_MISSING_EXAMPLE),
    },
}


def _refusal_response(refusal: lc.Refusal) -> JSONResponse:
    return JSONResponse({"error": refusal.as_json()}, status_code=refusal.http_status)


# --- bodies ---------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_version: int | None = Field(None, ge=1, description=EXPECTED_VERSION_HELP)


class VersionIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"expected_version": 3}]}
    )


class EscalateIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{}, {"to": "rapid_response_team"}]},
    )
    to: str | None = Field(
        None,
        description="A person or team to notify now; leave it out for the next step of the "
        "escalation policy",
    )


class ReassignIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"to": "charge.card", "reason": "Handover at the end of the shift"}]
        },
    )
    to: str | None = Field(
        None, description="Required: a username linked to a staff member, or a staff id"
    )
    reason: str | None = Field(None, description="Required: why (stored encrypted)")


class NoteIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "Repositioned the SpO2 probe, reading 95 % now."}]
        },
    )
    text: str | None = Field(None, description="Required, at most 10 000 characters (encrypted)")


class ResponderIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"person": "dr.attending", "role": "physician"}]},
    )
    person: str | None = Field(None, description="Required: a username or a team name")
    role: str | None = Field(
        None,
        description="Required: primary_nurse, charge_nurse, physician, rapid_response_team or "
        "other",
    )


class LeadIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"person": "rrt.lead"}]}
    )
    person: str | None = Field(None, description="Required: one of the responders (P0/P1 only)")


class PriorityIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"priority": "P1"},
                {"priority": "P3", "note": "Observations back to baseline after fluids"},
            ]
        },
    )
    priority: str | None = Field(None, description="Required: P0 (most urgent) to P4")
    note: str | None = Field(
        None,
        description="Required when lowering the priority (needs incidents:downgrade); encrypted",
    )


class ResolveIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "treated"},
                {"reason": "false_alarm", "text": "Probe off the finger during a wash"},
                {"reason": "duplicate", "duplicate_of": 41},
            ]
        },
    )
    reason: str | None = Field(
        None,
        description="Required: treated, transferred_to_icu, false_alarm, duplicate, "
        "patient_deceased or other",
    )
    text: str | None = Field(
        None, description="Required for false_alarm and other (stored encrypted)"
    )
    duplicate_of: int | str | None = Field(
        None,
        description='For duplicate: the number (41 or "#41") or id of the incident this '
        "one duplicates",
    )


class CloseIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "Reviewed at the huddle"}]}
    )
    note: str | None = Field(None, description="Optional review note (encrypted)")


class ReopenIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Desaturating again"}]},
    )
    reason: str | None = Field(None, description="Optional: why (encrypted)")


class RaiseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "6f1c2b9e-4d1a-4c53-9d8e-2a1f0b7c3e55",
                    "summary": "Looks grey and more confused than an hour ago",
                },
                {"ward": "CARD", "bed": "B3", "title": "Staff concerned about patient"},
            ]
        },
    )
    patient_id: uuid.UUID | None = Field(
        None, description="The patient (their current bed and ward are used)"
    )
    ward: str | None = Field(None, description="A ward code, instead of patient_id")
    bed: str | None = Field(None, description="A bed label of that ward (optional)")
    title: str | None = Field(
        None, max_length=300, description=f'Shown on shared screens; "{STAFF_CONCERN_TITLE}"'
    )
    summary: str | None = Field(
        None,
        description="What worries you, at most 10 000 characters: stored encrypted in the "
        "timeline (the shared summary only says who raised it)",
    )
    priority: str = Field("P2", description="P0 (most urgent) to P4; P2 unless you say")


# --- helpers --------------------------------------------------------------------------------


_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def expected_version_of(body_version: int | None, if_match: str | None) -> int | None:
    """The version the caller saw: from the body, else from If-Match ("3", W/"3" or 3).
    Raises HTTPException 422 when If-Match is unreadable or disagrees with the body."""
    header_version: int | None = None
    if if_match is not None and if_match.strip() not in ("", "*"):
        match = _IF_MATCH.match(if_match)
        if match is None:
            raise HTTPException(422, 'If-Match: give the incident\'s version, e.g. "3"')
        header_version = int(match.group(1))
    if body_version is not None and header_version is not None and body_version != header_version:
        raise HTTPException(
            422,
            f"expected_version: {body_version} in the body but {header_version} in If-Match",
        )
    return body_version if body_version is not None else header_version


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name}: give a time zone (Z or an offset such as +01:00)")
    return value


def _read_detail(
    principal: Principal, incident_id: uuid.UUID, response: Response, *, acted: bool = False
) -> IncidentDetail:
    """The incident for the caller; ``acted``: the caller has just changed it (scope was
    checked then), so answer even when the change took it out of their sight (handed over)."""
    now = datetime.now(UTC)
    with session_scope() as session:
        if acted:
            incident = session.get(Incident, incident_id)
        else:
            incident = visible_incident(session, principal, incident_id, now=now)
        if incident is None:
            raise HTTPException(404, NOT_FOUND)
        data = incident_detail(session, incident, permissions=permissions_of(principal), now=now)
    response.headers["ETag"] = f'"{data.version}"'
    return _detail(data)


def _act(
    incident_id: uuid.UUID,
    command: lc.Command,
    body: _Body | None,
    request: Request,
    response: Response,
    principal: Principal,
    if_match: str | None,
) -> IncidentDetail | JSONResponse:
    expected = expected_version_of(body.expected_version if body else None, if_match)
    try:
        result = perform_as(
            principal,
            incident_id,
            command,
            now=datetime.now(UTC),
            expected_version=expected,
            origin=request_origin(request),
        )
    except IncidentNotFound:
        raise HTTPException(404, NOT_FOUND) from None
    if isinstance(result, lc.Refusal):
        return _refusal_response(result)
    return _read_detail(principal, incident_id, response, acted=True)


def _if_match() -> Any:
    return Header(None, alias="If-Match", description=EXPECTED_VERSION_HELP)


# --- list, read, raise ----------------------------------------------------------------------


@router.get(
    "",
    response_model=list[IncidentSummary],
    summary="Incidents you may see, newest first, filtered and paginated by cursor",
    description=(
        "Incidents of the wards in your scope and those assigned to you, ordered by "
        "`opened_at` then `id`, newest first (an order that never changes, so paging never "
        "skips or repeats one). Without `status`, open incidents only (triggered, "
        "acknowledged, in_progress); `status=all` for every status. At most `limit` rows "
        f"(default {DEFAULT_PAGE}, at most {MAX_PAGE}); when there are more, the answer "
        'carries `X-Next-Cursor` and a `Link: <...>; rel="next"` header: pass the cursor '
        "back as `cursor` with the same filters."
    ),
    responses={
        200: {
            "headers": {
                "X-Next-Cursor": {"description": "Opaque cursor of the next page, when any"},
                "Link": {"description": 'URL of the next page: <...>; rel="next"'},
            }
        },
        422: {"description": "A filter or the cursor is not valid"},
    },
    **secured(Permission.INCIDENTS_READ),
)
def list_incidents(
    request: Request,
    response: Response,
    status: list[str] | None = Query(
        None,
        description="Repeatable: triggered, acknowledged, in_progress, resolved, closed; or "
        "open (the first three, the default) or all",
        examples=["triggered"],
    ),
    priority: list[str] | None = Query(None, description="Repeatable: P0 to P4"),
    ward: list[str] | None = Query(None, description="Repeatable: ward codes, e.g. CARD"),
    patient: uuid.UUID | None = Query(None, description="A patient id"),
    assignee: str | None = Query(
        None, description='A username, a staff id, or "me" (incidents assigned to you)'
    ),
    opened_from: datetime | None = Query(None, description="Opened at or after (with offset)"),
    opened_to: datetime | None = Query(None, description="Opened before (with offset)"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE),
    principal: Principal = Depends(current_principal),
) -> list[IncidentSummary]:
    statuses = _statuses(status)
    priorities = tuple(dict.fromkeys(p.strip().upper() for p in priority or []))
    for p in priorities:
        if p not in PRIORITIES:
            raise HTTPException(422, f"priority: {p!r} is not one of {', '.join(PRIORITIES)}")
    try:
        position = Cursor.decode(cursor) if cursor else None
    except CursorError as exc:
        raise HTTPException(422, f"cursor: {exc}") from None
    now = datetime.now(UTC)
    with session_scope() as session:
        codes = tuple(dict.fromkeys(w.strip().upper() for w in ward or []))
        known = set(session.exec(_ward_codes_query(codes)).all()) if codes else set()
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise HTTPException(422, f"ward: no ward with code {unknown[0]!r}")
        assignee_id: uuid.UUID | None = None
        if assignee:
            if assignee.strip().lower() == "me":
                if principal.staff_id is None:
                    raise HTTPException(422, "assignee: you are not linked to a staff member")
                assignee_id = uuid.UUID(principal.staff_id)
            else:
                assignee_id = staff_id_for(session, assignee)
                if assignee_id is None:
                    raise HTTPException(422, f"assignee: no staff member named {assignee!r}")
        page = search_incidents(
            session,
            scope=ward_scope(session, principal, now=now),
            or_assigned_to=principal.staff_id,
            filters=IncidentFilter(
                statuses=statuses,
                priorities=priorities,
                ward_codes=codes,
                patient_id=patient,
                assignee_staff_id=assignee_id,
                opened_from=_aware(opened_from, "opened_from"),
                opened_to=_aware(opened_to, "opened_to"),
            ),
            cursor=position,
            limit=limit,
        )
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
        next_url = request.url.remove_query_params("cursor").include_query_params(
            cursor=page.next_cursor
        )
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return [_summary(r) for r in page.rows]


def _statuses(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return OPEN_STATUSES
    chosen: list[str] = []
    for raw in values:
        for value in (v.strip().lower() for v in raw.split(",")):
            if value == "open":
                chosen.extend(OPEN_STATUSES)
            elif value == "all":
                chosen.extend(ALL_STATUSES)
            elif value in ALL_STATUSES:
                chosen.append(value)
            else:
                raise HTTPException(
                    422,
                    f"status: {value!r} is not one of {', '.join(ALL_STATUSES)}, open or all",
                )
    return tuple(dict.fromkeys(chosen))


def _ward_codes_query(codes: tuple[str, ...]) -> Any:
    return select(Ward.code).where(col(Ward.code).in_(codes))


@router.post(
    "",
    response_model=IncidentDetail,
    status_code=201,
    summary='Raise an incident yourself ("staff concerned about patient")',
    description=(
        "Staff concern is a rapid-response trigger in its own right. Give the patient "
        "(`patient_id`: their current bed and ward are used) or a `ward` (and optionally a "
        "`bed`), within your ward scope. Title defaults to "
        f'"{STAFF_CONCERN_TITLE}", priority to P2. What you type in `summary` is stored '
        "encrypted as the note of the first timeline entry."
    ),
    responses={
        201: {"headers": {"ETag": {"description": 'The version, "1"'}}},
        422: {
            "description": "No place given, unknown ward or bed, out of your scope, bad priority"
        },
    },
    **secured(Permission.INCIDENTS_CREATE),
)
def raise_incident(
    request: Request,
    response: Response,
    body: RaiseIn | None = Body(None),
    principal: Principal = Depends(current_principal),
) -> IncidentDetail:
    body = body or RaiseIn()
    origin = request_origin(request)
    try:
        done = raise_as(
            principal,
            now=datetime.now(UTC),
            patient_id=body.patient_id,
            ward_code=body.ward,
            bed=body.bed,
            title=body.title,
            summary=body.summary,
            priority=body.priority,
            origin=origin,
        )
    except IncidentInputError as exc:
        raise HTTPException(422, f"{exc.field}: {exc.message}") from None
    except PermissionError:
        raise HTTPException(403, "Your role may not do this (needs incidents:create).") from None
    response.headers["Location"] = f"{request.url.path}/{done.incident.id}"
    return _read_detail(principal, done.incident.id, response, acted=True)


@router.get(
    "/{incident_id}",
    response_model=IncidentDetail,
    summary="One incident with its timeline, responders and the actions you may take",
    responses={
        200: {"headers": {"ETag": {"description": 'The version, e.g. "4"'}}},
        404: {"description": "No such incident, or not one you may see"},
    },
    **secured(Permission.INCIDENTS_READ),
)
def get_incident(
    incident_id: uuid.UUID, response: Response, principal: Principal = Depends(current_principal)
) -> IncidentDetail:
    return _read_detail(principal, incident_id, response)


# --- actions --------------------------------------------------------------------------------


@router.post(
    "/{incident_id}/acknowledge",
    response_model=IncidentDetail,
    summary="Acknowledge: I have it (stops the escalation)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_ACKNOWLEDGE),
)
def acknowledge(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: VersionIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    return _act(incident_id, lc.Acknowledge(), body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/start",
    response_model=IncidentDetail,
    summary="Start: a responder is at the bedside (in progress; acknowledges too)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_RESPOND),
)
def start(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: VersionIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    return _act(incident_id, lc.Start(), body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/escalate",
    response_model=IncidentDetail,
    summary="Escalate: to the next step of the policy, or to a named person or team",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_ESCALATE),
)
def escalate(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: EscalateIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    command = lc.Escalate(to=body.to if body else None)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/reassign",
    response_model=IncidentDetail,
    summary="Reassign to another staff member, with a reason",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_REASSIGN),
)
def reassign(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: ReassignIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    body = body or ReassignIn()
    command = lc.Reassign(to=body.to, reason=body.reason)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/notes",
    response_model=IncidentDetail,
    summary="Add a note (stored encrypted; also after resolution)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_RESPOND),
)
def add_note(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: NoteIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    command = lc.AddNote(text=body.text if body else None)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/responders",
    response_model=IncidentDetail,
    summary="Add a responder with a role (join the response)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_RESPOND),
)
def add_responder(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: ResponderIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    body = body or ResponderIn()
    command = lc.AddResponder(person=body.person, role=body.role)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.delete(
    "/{incident_id}/responders/{person}",
    response_model=IncidentDetail,
    summary="Remove a responder (leave the response; removing the lead leaves no lead)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_RESPOND),
)
def remove_responder(
    incident_id: uuid.UUID,
    person: str,
    request: Request,
    response: Response,
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    command = lc.RemoveResponder(person=person)
    return _act(incident_id, command, None, request, response, principal, if_match)


@router.post(
    "/{incident_id}/lead",
    response_model=IncidentDetail,
    summary="Name the incident lead (P0 and P1; one of the responders)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_REASSIGN),
)
def set_lead(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: LeadIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    command = lc.SetLead(person=body.person if body else None)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/priority",
    response_model=IncidentDetail,
    summary="Change the priority (raising re-notifies; lowering needs a note)",
    description=(
        "Raising needs `incidents:escalate` (the route's permission); lowering needs "
        "`incidents:downgrade` as well, and a `note`. Below P1 the incident has no lead."
    ),
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_ESCALATE),
)
def change_priority(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: PriorityIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    body = body or PriorityIn()
    command = lc.ChangePriority(priority=body.priority, note=body.note)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/resolve",
    response_model=IncidentDetail,
    summary="Resolve with a reason (treated, transferred to ICU, false alarm, duplicate...)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_RESOLVE),
)
def resolve(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: ResolveIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    body = body or ResolveIn()
    command = lc.Resolve(reason=body.reason, text=body.text, duplicate_of=body.duplicate_of)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/close",
    response_model=IncidentDetail,
    summary="Close a resolved incident after review (final)",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_CLOSE),
)
def close(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: CloseIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    command = lc.Close(note=body.note if body else None)
    return _act(incident_id, command, body, request, response, principal, if_match)


@router.post(
    "/{incident_id}/reopen",
    response_model=IncidentDetail,
    summary="Reopen a resolved incident within the reopen window (24 h): triggered again",
    responses=ACTION_RESPONSES,
    **secured(Permission.INCIDENTS_REOPEN),
)
def reopen(
    incident_id: uuid.UUID,
    request: Request,
    response: Response,
    body: ReopenIn | None = Body(None),
    if_match: str | None = _if_match(),
    principal: Principal = Depends(current_principal),
) -> Any:
    command = lc.Reopen(reason=body.reason if body else None)
    return _act(incident_id, command, body, request, response, principal, if_match)
