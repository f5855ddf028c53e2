"""Staff, availability, schedules, swaps, coverage and who is on call.

Thin: parse, authorise, call ``healthguard.oncall.roster`` / ``staff_service`` /
``availability``, serialise. Every route declares its permission (``secured``); the ward
scope is enforced in the services: a charge nurse changes the rotas (and approves the swaps,
and sets the availability of the staff) of their own wards only, an admin those of every
ward and the hospital-wide schedules. Every change is audited and re-derives the affected
schedule's shifts in the same transaction. Times: ISO 8601 with an offset (a time without
one is refused, naming the field); answers in UTC. A refused input answers 422 with
``{"error": {"code": "invalid_request", "message", "fields": [{"field", "message"}]}}``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NoReturn
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from healthguard.api.errors import error_body
from healthguard.api.security import current_principal, request_origin, secured
from healthguard.api.vitals import BodyTooLarge, read_limited_body
from healthguard.db import session_scope
from healthguard.models import CoverageRequirement, Staff, SwapRequest, Ward
from healthguard.models import Schedule as ScheduleRow
from healthguard.models import ScheduleOverride as OverrideRow
from healthguard.oncall import availability as avail
from healthguard.oncall import roster
from healthguard.oncall import staff_service as staff_svc
from healthguard.oncall.ical import MAX_FILE_BYTES
from healthguard.oncall.rotations import MAX_WINDOW, OnCallSpan, on_call_at, spans_between
from healthguard.security.permissions import Permission, Principal
from healthguard.settings import get_settings

router = APIRouter(tags=["on call"])

STAFF_NOT_FOUND = "No such staff member."
CALENDAR = "text/calendar"
DEFAULT_CALENDAR_BACK = timedelta(days=7)
DEFAULT_CALENDAR_AHEAD = timedelta(days=56)
DEFAULT_GAP_DAYS = 7
DEFAULT_IMPORT_DAYS = 366
SCHEDULE_SPAN_DAYS = 7


# --- errors ---------------------------------------------------------------------------------


def _fail(exc: roster.OncallError) -> NoReturn:
    """The service's refusal as the API's error: 422 with every field named, else the
    status and message."""
    if isinstance(exc, roster.Invalid) and exc.problems:
        raise RequestValidationError(
            [
                {"loc": ("body", *p.loc), "msg": p.message, "type": "value_error"}
                for p in exc.problems
            ]
        )
    raise HTTPException(exc.status, exc.message)


def _invalid(field: str, message: str, where: str = "query") -> NoReturn:
    raise RequestValidationError([{"loc": (where, field), "msg": message, "type": "value_error"}])


def _aware(value: datetime | None, field: str, where: str = "query") -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        _invalid(field, "give a time zone offset (e.g. 2026-11-26T19:00:00Z or +01:00)", where)
    return value


def _window(
    start: datetime | None, end: datetime | None, *, default: tuple[datetime, datetime]
) -> tuple[datetime, datetime]:
    a = _aware(start, "from") or default[0]
    b = _aware(end, "to") or default[1]
    if b <= a:
        _invalid("to", "must be after from")
    if b - a > MAX_WINDOW:
        _invalid("to", f"at most {MAX_WINDOW.days} days after from")
    return a, b


def _today(now: datetime) -> date:
    return now.astimezone(ZoneInfo(get_settings().timezone)).date()


def _json(example: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"example": example}}


FIELD_ERROR = {
    "description": "Input refused; every field named",
    "content": _json(
        {
            "error": {
                "code": "invalid_request",
                "message": "layers.0.rotation.anchor: a wall-clock time without an offset",
                "fields": [
                    {
                        "field": "layers.0.rotation.anchor",
                        "message": "a wall-clock time without an offset (the schedule's time "
                        'zone applies), e.g. "2026-03-02T07:00"',
                    }
                ],
            }
        }
    ),
}
FORBIDDEN_WARD = {
    "description": "Not your ward (a charge nurse changes their own wards' rotas only)",
    "content": _json(
        {
            "error": {
                "code": "forbidden",
                "message": "You can change the rotas of your own wards only; this one is for ICU.",
            }
        }
    ),
}


# --- staff ----------------------------------------------------------------------------------


class ShiftOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    ward: str | None = Field(description="Ward code; null: hospital-wide")
    role: str | None
    schedule_id: str | None = Field(description="The schedule it comes from; null: by hand")


class StaffOut(BaseModel):
    id: str
    name: str
    role: str = Field(examples=["nurse"])
    home_ward: str | None = Field(examples=["ICU"])
    covers: list[str] = Field(description="Other wards covered (codes)")
    availability: str = Field(
        description="available, busy, on_break or off (as it counts now)", examples=["busy"]
    )
    availability_until: datetime | None
    on_shift: bool
    current_shift: ShiftOut | None


class SkillOut(BaseModel):
    skill: str = Field(examples=["ACLS"])
    expires_on: date | None
    status: str = Field(description="valid, expiring (within 30 days) or expired")


class StaffDetailOut(StaffOut):
    email: str | None
    pager_id: str | None
    time_zone: str | None
    skills: list[SkillOut]
    next_shifts: list[ShiftOut] = Field(description="The shift now and the next ones (up to 10)")


def _shift_out(shift: staff_svc.ShiftInfo) -> ShiftOut:
    return ShiftOut(
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        ward=shift.ward,
        role=shift.role,
        schedule_id=str(shift.schedule_id) if shift.schedule_id else None,
    )


def _staff_out(info: staff_svc.StaffInfo) -> dict[str, Any]:
    return {
        "id": str(info.id),
        "name": info.name,
        "role": info.role,
        "home_ward": info.home_ward,
        "covers": list(info.covers),
        "availability": info.availability,
        "availability_until": info.availability_until,
        "on_shift": info.on_shift,
        "current_shift": _shift_out(info.current_shift) if info.current_shift else None,
    }


def _ward_id(session: Session, code: str | None) -> uuid.UUID | None:
    if code is None:
        return None
    ward = roster.ward_by_code(session, code)
    if ward is None:
        raise HTTPException(404, f"No ward with the code {code!r}.")
    return ward.id


@router.get(
    "/staff",
    response_model=list[StaffOut],
    summary="The staff directory: who works where, their availability and shift now",
    **secured(Permission.STAFF_READ),
)
def get_staff(
    ward: str | None = Query(
        None, description="Ward code: home ward, covers it, or on shift there"
    ),
    role: str | None = Query(None, description="nurse, charge_nurse, resident, attending, ..."),
    on_shift: bool | None = Query(None, description="On a shift now (true) or not (false)"),
) -> list[StaffOut]:
    now = datetime.now(UTC)
    with session_scope() as session:
        ward_id = _ward_id(session, ward)
        rows = staff_svc.list_staff(session, now=now, ward_id=ward_id, role=role, on_shift=on_shift)
        return [StaffOut(**_staff_out(r)) for r in rows]


@router.get(
    "/staff/{staff_id}",
    response_model=StaffDetailOut,
    summary="One staff member: skills with expiry, wards, availability, next shifts",
    responses={404: {"description": STAFF_NOT_FOUND}},
    **secured(Permission.STAFF_READ),
)
def get_staff_member(staff_id: uuid.UUID) -> StaffDetailOut:
    now = datetime.now(UTC)
    with session_scope() as session:
        try:
            detail = staff_svc.staff_detail(session, staff_id, now=now, today=_today(now))
        except roster.OncallError as exc:
            _fail(exc)
    return StaffDetailOut(
        **_staff_out(detail.info),
        email=detail.email,
        pager_id=detail.pager_id,
        time_zone=detail.time_zone,
        skills=[
            SkillOut(skill=s.skill, expires_on=s.expires_on, status=s.status) for s in detail.skills
        ],
        next_shifts=[_shift_out(s) for s in detail.next_shifts],
    )


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "busy", "until": "2026-11-26T15:00:00Z"},
                {"status": "on_break"},
                {"status": "available"},
            ]
        },
    )
    status: Literal["available", "busy", "on_break", "off"]
    until: datetime | None = Field(
        None,
        description="When it ends (busy: at most 12 h ahead, on_break: 2 h, off: 14 days; "
        "none for available). Left out: busy / on a break until the end of the shift, off "
        "until the next shift starts.",
    )


class AvailabilityOut(BaseModel):
    staff_id: str
    availability: str
    availability_until: datetime | None


@router.put(
    "/staff/{staff_id}/availability",
    response_model=AvailabilityOut,
    summary="Set availability (your own; a charge nurse for their wards' staff; an admin)",
    responses={
        403: {"description": "Not yours, and not a charge nurse of their ward"},
        404: {"description": STAFF_NOT_FOUND},
        422: FIELD_ERROR,
    },
    **secured(Permission.AVAILABILITY_SET),
)
def put_availability(
    staff_id: uuid.UUID,
    body: AvailabilityIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> AvailabilityOut:
    now, origin = datetime.now(UTC), request_origin(request)
    _aware(body.until, "until", "body")
    with session_scope() as session:
        if session.get(Staff, staff_id) is None:
            raise HTTPException(404, STAFF_NOT_FOUND)
        if not staff_svc.may_set_availability(session, principal, staff_id, now=now):
            raise HTTPException(
                403,
                "You can set your own availability; a charge nurse that of their wards' staff.",
            )
        try:
            staff = avail.set_availability(
                session,
                staff_id,
                body.status,
                until=body.until,
                actor=principal.audit_name,
                now=now,
                ip=origin.ip,
                user_agent=origin.user_agent,
            )
        except avail.AvailabilityError as exc:
            _invalid(exc.field, exc.message, "body")
        return AvailabilityOut(
            staff_id=str(staff.id),
            availability=staff.availability,
            availability_until=staff.availability_until,
        )


def _calendar(content: bytes, filename: str) -> Response:
    return Response(
        content=content,
        media_type=f"{CALENDAR}; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


CALENDAR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "iCalendar (RFC 5545): one event per on-call span, stable UIDs",
        "content": {CALENDAR: {"example": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n...END:VCALENDAR"}},
    }
}


@router.get(
    "/staff/{staff_id}/calendar.ics",
    response_class=Response,
    summary="A person's on call as iCalendar (default: a week back to 8 weeks ahead)",
    responses={**CALENDAR_RESPONSE, 404: {"description": STAFF_NOT_FOUND}},
    **secured(Permission.STAFF_READ),
)
def get_staff_calendar(
    staff_id: uuid.UUID,
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
) -> Response:
    now = datetime.now(UTC)
    a, b = _window(start, end, default=(now - DEFAULT_CALENDAR_BACK, now + DEFAULT_CALENDAR_AHEAD))
    with session_scope() as session:
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise HTTPException(404, STAFF_NOT_FOUND)
        content = roster.staff_calendar(session, staff, start=a, end=b, now=now)
    return _calendar(content, f"oncall-{staff_id}.ics")


@router.get(
    "/wards/{code}/calendar.ics",
    response_class=Response,
    summary="Everybody on call for a ward, every role, as iCalendar",
    responses={**CALENDAR_RESPONSE, 404: {"description": "No such ward"}},
    **secured(Permission.STAFF_READ),
)
def get_ward_calendar(
    code: str,
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
) -> Response:
    now = datetime.now(UTC)
    a, b = _window(start, end, default=(now - DEFAULT_CALENDAR_BACK, now + DEFAULT_CALENDAR_AHEAD))
    with session_scope() as session:
        ward = roster.ward_by_code(session, code)
        if ward is None:
            raise HTTPException(404, f"No ward with the code {code!r}.")
        content = roster.ward_ical(session, ward, start=a, end=b, now=now)
        return _calendar(content, f"oncall-{ward.code}.ics")


# --- who is on call -------------------------------------------------------------------------


class OnCallOut(BaseModel):
    staff_id: str
    name: str
    role: str
    ward: str | None = Field(description="Ward code; null: hospital-wide")
    schedule_id: str
    schedule: str
    starts_at: datetime = Field(description="When this person's stretch began (UTC)")
    ends_at: datetime = Field(description="When they hand over (UTC)")
    availability: str


def _on_call_out(session: Session, spans: Sequence[OnCallSpan], now: datetime) -> list[OnCallOut]:
    people = (
        {
            s.id: s
            for s in session.exec(
                select(Staff).where(col(Staff.id).in_([sp.staff_id for sp in spans]))
            ).all()
        }
        if spans
        else {}
    )
    names = (
        {
            r.id: r.name
            for r in session.exec(
                select(ScheduleRow).where(col(ScheduleRow.id).in_([sp.schedule_id for sp in spans]))
            ).all()
        }
        if spans
        else {}
    )
    codes = roster.ward_codes(session)
    out: list[OnCallOut] = []
    for span in spans:
        person = people.get(span.staff_id)
        out.append(
            OnCallOut(
                staff_id=str(span.staff_id),
                name=person.display_name if person else str(span.staff_id),
                role=span.role,
                ward=codes.get(span.ward_id) if span.ward_id else None,
                schedule_id=str(span.schedule_id),
                schedule=names.get(span.schedule_id, ""),
                starts_at=span.start,
                ends_at=span.end,
                availability=avail.effective_status(
                    person.availability, person.availability_until, now
                )
                if person
                else "unknown",
            )
        )
    return out


@router.get(
    "/on-call",
    response_model=list[OnCallOut],
    summary="Who is on call for a ward and role, now or at a given time, in paging order",
    **secured(Permission.STAFF_READ),
)
def get_on_call(
    ward: str | None = Query(
        None,
        description="Ward code (its schedules, then the hospital-wide ones); left out: the "
        "hospital-wide schedules only",
    ),
    role: str | None = Query(None, description="e.g. nurse, charge_nurse; left out: every role"),
    at: datetime | None = Query(None, description="ISO 8601 with offset; default: now"),
) -> list[OnCallOut]:
    now = datetime.now(UTC)
    when = _aware(at, "at") or now
    with session_scope() as session:
        ward_id = _ward_id(session, ward)
        spans = roster.on_call(session, ward_id=ward_id, role=role, at=when)
        return _on_call_out(session, spans, now)


# --- schedules ------------------------------------------------------------------------------


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=r"^\d{2}:\d{2}$", examples=["19:00"])
    end: str = Field(pattern=r"^\d{2}:\d{2}$", examples=["07:00"])
    weekdays: list[int] = Field(
        default_factory=lambda: list(range(7)),
        description="0 = Monday ... 6 = Sunday (the day the window starts)",
    )


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participants: list[uuid.UUID] = Field(description="Staff ids, in turn order")
    anchor: datetime = Field(
        description="The first turn's start on the ward's wall clock, without an offset",
        examples=["2026-03-02T07:00"],
    )
    handoff: Literal["shift", "daily", "weekly", "custom"] = "shift"
    shift_hours: float | None = Field(None, description="shift only: 8 or 12 ...")
    custom_hours: list[float] = Field(
        default_factory=list, description="custom only: a repeating cycle, e.g. [10, 14]"
    )


class LayerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(examples=["Day and night"])
    mode: Literal["replace", "add"] = Field(
        "replace", description="replace: wins over the layers below; add: on call alongside"
    )
    rotation: RotationIn
    windows: list[WindowIn] = Field(
        default_factory=list, description="When the layer applies; empty: all the time"
    )


_SCHEDULE_EXAMPLE: dict[str, Any] = {
    "name": "ICU nurses",
    "ward": "ICU",
    "role": "nurse",
    "time_zone": "Europe/London",
    "layers": [
        {
            "name": "Day and night",
            "mode": "replace",
            "rotation": {
                "participants": [
                    "6a3f2c1e-0000-4000-8000-000000000001",
                    "6a3f2c1e-0000-4000-8000-000000000002",
                ],
                "anchor": "2026-03-02T07:00",
                "handoff": "shift",
                "shift_hours": 12,
            },
            "windows": [],
        }
    ],
}


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SCHEDULE_EXAMPLE]})
    name: str = Field(min_length=1, max_length=200)
    ward: str | None = Field(None, description="Ward code; null: hospital-wide (admins only)")
    role: str = Field(
        description="nurse, charge_nurse, resident, attending, rapid_response, operator"
    )
    time_zone: str | None = Field(
        None, description="IANA zone of the wall clock; default: the hospital's"
    )
    layers: list[LayerIn] = Field(description="Bottom layer first")


class ScheduleOut(BaseModel):
    id: str
    name: str
    ward: str | None
    role: str
    time_zone: str
    layers: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class OverrideOut(BaseModel):
    id: str
    kind: str
    staff_id: str
    staff: str
    replaces_staff_id: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


class SpanOut(BaseModel):
    staff_id: str
    name: str
    starts_at: datetime
    ends_at: datetime


class ScheduleDetailOut(ScheduleOut):
    on_call_now: list[OnCallOut]
    next_spans: list[SpanOut] = Field(description="Who is on call over the next 7 days")
    overrides: list[OverrideOut] = Field(description="Overrides running or ahead")


def _schedule_out(row: ScheduleRow, codes: dict[uuid.UUID | None, str]) -> ScheduleOut:
    return ScheduleOut(
        id=str(row.id),
        name=row.name,
        ward=codes.get(row.ward_id) if row.ward_id else None,
        role=row.role,
        time_zone=row.time_zone,
        layers=list(row.layers),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {
        s.id: s.display_name
        for s in session.exec(select(Staff).where(col(Staff.id).in_(list(ids)))).all()
    }


def _override_out(row: OverrideRow, names: dict[uuid.UUID, str]) -> OverrideOut:
    return OverrideOut(
        id=str(row.id),
        kind=row.kind,
        staff_id=str(row.staff_id),
        staff=names.get(row.staff_id, str(row.staff_id)),
        replaces_staff_id=str(row.replaces_staff_id) if row.replaces_staff_id else None,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        created_by=row.created_by,
    )


def _schedule_input(body: ScheduleIn) -> roster.ScheduleInput:
    return roster.ScheduleInput(
        name=body.name,
        ward=body.ward,
        role=body.role,
        time_zone=body.time_zone or get_settings().timezone,
        layers=[layer.model_dump(mode="json") for layer in body.layers],
    )


@router.get(
    "/schedules",
    response_model=list[ScheduleOut],
    summary="The on-call schedules (rotas)",
    **secured(Permission.STAFF_READ),
)
def get_schedules(
    ward: str | None = Query(None, description="Ward code"),
    role: str | None = Query(None),
) -> list[ScheduleOut]:
    with session_scope() as session:
        query = select(ScheduleRow).order_by(col(ScheduleRow.name))
        if ward is not None:
            query = query.where(ScheduleRow.ward_id == _ward_id(session, ward))
        if role is not None:
            query = query.where(ScheduleRow.role == role)
        codes = roster.ward_codes(session)
        return [_schedule_out(r, codes) for r in session.exec(query).all()]


@router.post(
    "/schedules",
    response_model=ScheduleOut,
    status_code=201,
    summary="Create a schedule (a charge nurse: for their ward; an admin: any)",
    responses={403: FORBIDDEN_WARD, 422: FIELD_ERROR},
    **secured(Permission.SCHEDULES_MANAGE),
)
def post_schedule(
    body: ScheduleIn, request: Request, principal: Principal = Depends(current_principal)
) -> ScheduleOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = roster.create_schedule(
                session, principal, _schedule_input(body), now=now, origin=origin
            )
        except roster.OncallError as exc:
            _fail(exc)
        return _schedule_out(row, roster.ward_codes(session))


class GapOut(BaseModel):
    ward: str = Field(examples=["ICU"])
    ward_name: str | None
    role: str
    skill: str | None
    minimum: int
    on_call: int
    missing: int
    start: datetime
    end: datetime
    message: str = Field(examples=["ICU has no ACLS-certified nurse on 3 Dec 02:00-07:00"])


class GapReportOut(BaseModel):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    gaps: list[GapOut]
    model_config = ConfigDict(populate_by_name=True)


@router.get(
    "/schedules/gaps",
    response_model=GapReportOut,
    response_model_by_alias=True,
    summary="Coverage gaps (your wards; an admin: every ward); default: the next 7 days",
    **secured(Permission.SCHEDULES_MANAGE),
)
def get_gaps(
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
    principal: Principal = Depends(current_principal),
) -> GapReportOut:
    now = datetime.now(UTC)
    a, b = _window(start, end, default=(now, now + timedelta(days=DEFAULT_GAP_DAYS)))
    with session_scope() as session:
        wards = roster.managed_ward_ids(session, principal, now=now)
        gaps = roster.gap_report(session, start=a, end=b, ward_ids=wards)
        names: dict[uuid.UUID | None, str] = {
            w.id: w.name for w in session.exec(select(Ward)).all()
        }
        return GapReportOut(
            start=a, end=b, gaps=[GapOut(**roster.gap_json(g, names)) for g in gaps]
        )


@router.get(
    "/schedules/{schedule_id}",
    response_model=ScheduleDetailOut,
    summary="A schedule: its layers, who is on call now and over the next 7 days, overrides",
    responses={404: {"description": "No such schedule"}},
    **secured(Permission.STAFF_READ),
)
def get_schedule(schedule_id: uuid.UUID) -> ScheduleDetailOut:
    now = datetime.now(UTC)
    with session_scope() as session:
        row = session.get(ScheduleRow, schedule_id)
        plain = roster.load_schedule(session, schedule_id)
        if row is None or plain is None:
            raise HTTPException(404, "No such schedule.")
        overrides = session.exec(
            select(OverrideRow)
            .where(OverrideRow.schedule_id == schedule_id, col(OverrideRow.ends_at) > now)
            .order_by(col(OverrideRow.starts_at))
        ).all()
        spans = spans_between(plain, now, now + timedelta(days=SCHEDULE_SPAN_DAYS))
        names = _names(
            session,
            {s.staff_id for s in spans} | {o.staff_id for o in overrides},
        )
        base = _schedule_out(row, roster.ward_codes(session))
        return ScheduleDetailOut(
            **base.model_dump(),
            on_call_now=_on_call_out(session, on_call_at(plain, now), now),
            next_spans=[
                SpanOut(
                    staff_id=str(s.staff_id),
                    name=names.get(s.staff_id, str(s.staff_id)),
                    starts_at=s.start,
                    ends_at=s.end,
                )
                for s in spans
            ],
            overrides=[_override_out(o, names) for o in overrides],
        )


@router.put(
    "/schedules/{schedule_id}",
    response_model=ScheduleOut,
    summary="Change a schedule (re-derives its shifts)",
    responses={403: FORBIDDEN_WARD, 404: {"description": "No such schedule"}, 422: FIELD_ERROR},
    **secured(Permission.SCHEDULES_MANAGE),
)
def put_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> ScheduleOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = roster.update_schedule(
                session, principal, schedule_id, _schedule_input(body), now=now, origin=origin
            )
        except roster.OncallError as exc:
            _fail(exc)
        return _schedule_out(row, roster.ward_codes(session))


@router.delete(
    "/schedules/{schedule_id}",
    status_code=204,
    summary="Delete a schedule with its overrides, swaps and derived shifts",
    responses={403: FORBIDDEN_WARD, 404: {"description": "No such schedule"}},
    **secured(Permission.SCHEDULES_MANAGE),
)
def delete_schedule(
    schedule_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            roster.delete_schedule(session, principal, schedule_id, now=now, origin=origin)
        except roster.OncallError as exc:
            _fail(exc)
    return Response(status_code=204)


class OverrideIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "replace",
                    "staff_id": "6a3f2c1e-0000-4000-8000-000000000003",
                    "replaces_staff_id": "6a3f2c1e-0000-4000-8000-000000000001",
                    "starts_at": "2026-12-03T19:00:00Z",
                    "ends_at": "2026-12-04T07:00:00Z",
                    "reason": "Off sick, covered by the bank nurse",
                }
            ]
        },
    )
    kind: Literal["replace", "add", "remove"] = Field(
        description="replace: takes over (from replaces_staff_id, or everybody); add: on call "
        "too; remove: off call, nobody fills in"
    )
    staff_id: uuid.UUID
    replaces_staff_id: uuid.UUID | None = None
    starts_at: datetime
    ends_at: datetime
    reason: str = Field("", max_length=500)


@router.post(
    "/schedules/{schedule_id}/overrides",
    response_model=OverrideOut,
    status_code=201,
    summary="Override the rota for a period (cover, extra person, off sick)",
    responses={403: FORBIDDEN_WARD, 404: {"description": "No such schedule"}, 422: FIELD_ERROR},
    **secured(Permission.SCHEDULES_MANAGE),
)
def post_override(
    schedule_id: uuid.UUID,
    body: OverrideIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> OverrideOut:
    now, origin = datetime.now(UTC), request_origin(request)
    _aware(body.starts_at, "starts_at", "body")
    _aware(body.ends_at, "ends_at", "body")
    data = roster.OverrideInput(
        kind=body.kind,
        staff_id=body.staff_id,
        replaces_staff_id=body.replaces_staff_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
    )
    with session_scope() as session:
        try:
            row = roster.add_override(session, principal, schedule_id, data, now=now, origin=origin)
        except roster.OncallError as exc:
            _fail(exc)
        return _override_out(row, _names(session, {row.staff_id}))


@router.delete(
    "/schedules/{schedule_id}/overrides/{override_id}",
    status_code=204,
    summary="Remove an override",
    responses={403: FORBIDDEN_WARD, 404: {"description": "No such schedule or override"}},
    **secured(Permission.SCHEDULES_MANAGE),
)
def delete_override(
    schedule_id: uuid.UUID,
    override_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> Response:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            roster.remove_override(
                session, principal, schedule_id, override_id, now=now, origin=origin
            )
        except roster.OncallError as exc:
            _fail(exc)
    return Response(status_code=204)


class ImportOut(BaseModel):
    shifts_read: int = Field(description="(person, shift) pairs read from the file")
    overrides_written: int
    overrides_replaced: int = Field(description="Overrides of earlier imports in the window")
    window_start: datetime
    window_end: datetime


_import_permission = secured(Permission.SCHEDULES_MANAGE)
IMPORT_ERROR_EXAMPLE = {
    "error": {
        "code": "invalid_roster",
        "message": 'Nothing was imported: 1 event cannot be imported.\n- Event "Night" '
        "(UID n1@roster): it is an all-day event (its start is a date, 2026-12-03); a shift "
        "needs start and end times",
        "fields": [
            {
                "field": "body",
                "message": 'Event "Night" (UID n1@roster): it is an all-day event (its start is '
                "a date, 2026-12-03); a shift needs start and end times",
            }
        ],
    }
}


@router.post(
    "/schedules/{schedule_id}/import",
    response_model=ImportOut,
    summary="Import an iCalendar roster as overrides (all or nothing; every problem listed)",
    description="The body is an .ics file (Content-Type text/calendar). Each event names the "
    "person (ATTENDEE mailto: or urn:uuid:, else SUMMARY = their name) and the shift. Within "
    "the window (default: now to a year ahead) the rostered people take over from the layers; "
    "periods nobody is rostered for keep the layers. A file with any event that cannot be "
    "read or matched to a staff member imports nothing: 422 naming each event.",
    dependencies=_import_permission["dependencies"],
    openapi_extra={
        **_import_permission["openapi_extra"],
        "requestBody": {
            "required": True,
            "content": {CALENDAR: {"schema": {"type": "string", "format": "binary"}}},
        },
    },
    responses={
        403: FORBIDDEN_WARD,
        404: {"description": "No such schedule"},
        413: {"description": "Over 10 MiB"},
        415: {"description": "Not text/calendar"},
        422: {"description": "Nothing imported", "content": _json(IMPORT_ERROR_EXAMPLE)},
    },
)
async def post_import(
    schedule_id: uuid.UUID,
    request: Request,
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
    principal: Principal = Depends(current_principal),
) -> Any:
    now, origin = datetime.now(UTC), request_origin(request)
    a, b = _window(start, end, default=(now, now + timedelta(days=DEFAULT_IMPORT_DAYS)))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != CALENDAR:
        return JSONResponse(
            error_body(
                "unsupported_media_type",
                f"Send the roster as {CALENDAR} (an .ics file), not {content_type or 'nothing'}.",
            ),
            status_code=415,
        )
    try:
        data = await read_limited_body(request, MAX_FILE_BYTES)
    except BodyTooLarge:
        return JSONResponse(
            error_body(
                "payload_too_large",
                f"The roster is over {MAX_FILE_BYTES // 1024 // 1024} MiB; "
                "import a shorter period.",
            ),
            status_code=413,
        )

    def work() -> ImportOut | roster.OncallError:
        with session_scope() as session:
            try:
                result = roster.import_roster_file(
                    session,
                    principal,
                    schedule_id,
                    data,
                    window_start=a,
                    window_end=b,
                    now=now,
                    origin=origin,
                )
            except roster.OncallError as exc:
                return exc
            return ImportOut(
                shifts_read=result.shifts,
                overrides_written=result.overrides,
                overrides_replaced=result.replaced,
                window_start=result.window_start,
                window_end=result.window_end,
            )

    outcome = await asyncio.to_thread(work)
    if isinstance(outcome, roster.Invalid):
        fields = [{"field": p.field, "message": p.message} for p in outcome.problems]
        return JSONResponse(error_body("invalid_roster", outcome.message, fields), status_code=422)
    if isinstance(outcome, roster.OncallError):
        _fail(outcome)
    return outcome


# --- swaps ----------------------------------------------------------------------------------


class SwapIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "schedule_id": "0b6d9a4e-0000-4000-8000-00000000000a",
                    "colleague_id": "6a3f2c1e-0000-4000-8000-000000000002",
                    "give_starts_at": "2026-12-03T19:00:00Z",
                    "give_ends_at": "2026-12-04T07:00:00Z",
                    "take_starts_at": "2026-12-05T19:00:00Z",
                    "take_ends_at": "2026-12-06T07:00:00Z",
                }
            ]
        },
    )
    schedule_id: uuid.UUID
    colleague_id: uuid.UUID = Field(description="Who takes your shift")
    give_starts_at: datetime
    give_ends_at: datetime
    take_starts_at: datetime | None = Field(None, description="Leave out for a give-away")
    take_ends_at: datetime | None = None


class SwapOut(BaseModel):
    id: str
    schedule_id: str
    requester_staff_id: str
    requester: str
    colleague_staff_id: str
    colleague: str
    give_starts_at: datetime
    give_ends_at: datetime
    take_starts_at: datetime | None
    take_ends_at: datetime | None
    status: str = Field(description="requested, approved, declined or cancelled")
    reason: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    warnings: list[str] = Field(
        default_factory=list,
        description="When asked for: too little rest between two shifts of someone (e.g. "
        '"Ana would work 19:00-07:00 on 3 Dec after 07:00-19:00 on 3 Dec: 0 h rest, needs '
        '11 h"); the approval is refused while the rota stays so',
    )


class DeclineIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Two juniors on that night"}]}
    )
    reason: str = Field(min_length=1, max_length=2000, description="The nurse reads it")


def _swap_out(session: Session, row: SwapRequest) -> SwapOut:
    names = _names(session, {row.requester_staff_id, row.colleague_staff_id})
    return SwapOut(
        id=str(row.id),
        schedule_id=str(row.schedule_id),
        requester_staff_id=str(row.requester_staff_id),
        requester=names.get(row.requester_staff_id, ""),
        colleague_staff_id=str(row.colleague_staff_id),
        colleague=names.get(row.colleague_staff_id, ""),
        give_starts_at=row.give_starts_at,
        give_ends_at=row.give_ends_at,
        take_starts_at=row.take_starts_at,
        take_ends_at=row.take_ends_at,
        status=row.status,
        reason=row.reason,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        created_at=row.created_at,
    )


SWAP_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a charge nurse of this ward / not the requester"},
    404: {"description": "No such swap request"},
    409: {
        "description": "Not pending any more, the shift has started, is not held, would "
        "put someone on two shifts at once, or (at approval) would leave someone less than "
        "the minimum rest between two shifts (settings.swap_min_rest_hours, 11 h)",
        "content": _json(
            {
                "error": {
                    "code": "conflict",
                    "message": "Zoe Taylor would be on two shifts at once: already on call on "
                    "3 Dec 07:00-19:00, during the shift given (on 3 Dec 07:00-19:00).",
                }
            }
        ),
    },
}


@router.get(
    "/swaps",
    response_model=list[SwapOut],
    summary="Your swaps, and those of the schedules you manage (newest first)",
    **secured(Permission.STAFF_READ),
)
def get_swaps(
    status: Literal["requested", "approved", "declined", "cancelled"] | None = Query(None),
    principal: Principal = Depends(current_principal),
) -> list[SwapOut]:
    now = datetime.now(UTC)
    with session_scope() as session:
        rows = staff_svc.visible_swaps(session, principal, now=now, status=status)
        return [_swap_out(session, r) for r in rows]


@router.post(
    "/swaps",
    response_model=SwapOut,
    status_code=201,
    summary="Ask to swap (or give away) one of your shifts; a charge nurse approves",
    responses={**SWAP_RESPONSES, 404: {"description": "No such schedule"}, 422: FIELD_ERROR},
    **secured(Permission.SWAPS_REQUEST),
)
def post_swap(
    body: SwapIn, request: Request, principal: Principal = Depends(current_principal)
) -> SwapOut:
    now, origin = datetime.now(UTC), request_origin(request)
    for name in ("give_starts_at", "give_ends_at", "take_starts_at", "take_ends_at"):
        _aware(getattr(body, name), name, "body")
    data = staff_svc.SwapInput(
        schedule_id=body.schedule_id,
        colleague_id=body.colleague_id,
        give_starts_at=body.give_starts_at,
        give_ends_at=body.give_ends_at,
        take_starts_at=body.take_starts_at,
        take_ends_at=body.take_ends_at,
    )
    with session_scope() as session:
        try:
            row = staff_svc.request_swap(session, principal, data, now=now, origin=origin)
        except roster.OncallError as exc:
            _fail(exc)
        out = _swap_out(session, row)
        out.warnings = staff_svc.swap_warnings(session, row)
        return out


@router.post(
    "/swaps/{swap_id}/approve",
    response_model=SwapOut,
    summary="Approve a swap (a charge nurse of its ward): the rota changes",
    responses=SWAP_RESPONSES,
    **secured(Permission.SWAPS_DECIDE),
)
def approve_swap(
    swap_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> SwapOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = staff_svc.approve_swap(session, principal, swap_id, now=now, origin=origin)
        except roster.OncallError as exc:
            _fail(exc)
        return _swap_out(session, row)


@router.post(
    "/swaps/{swap_id}/decline",
    response_model=SwapOut,
    summary="Decline a swap, saying why (a charge nurse of its ward)",
    responses=SWAP_RESPONSES,
    **secured(Permission.SWAPS_DECIDE),
)
def decline_swap(
    swap_id: uuid.UUID,
    body: DeclineIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> SwapOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = staff_svc.decline_swap(
                session, principal, swap_id, body.reason, now=now, origin=origin
            )
        except roster.OncallError as exc:
            _fail(exc)
        return _swap_out(session, row)


@router.post(
    "/swaps/{swap_id}/cancel",
    response_model=SwapOut,
    summary="Withdraw your swap request",
    responses=SWAP_RESPONSES,
    **secured(Permission.SWAPS_REQUEST),
)
def cancel_swap(
    swap_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> SwapOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = staff_svc.cancel_swap(session, principal, swap_id, now=now, origin=origin)
        except roster.OncallError as exc:
            _fail(exc)
        return _swap_out(session, row)


# --- coverage requirements ------------------------------------------------------------------


class CoverageIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ward": "ICU", "role": "nurse", "skill": "ACLS"}]},
    )
    ward: str = Field(description="Ward code")
    role: str = Field(description="nurse, charge_nurse, resident, attending, ...")
    minimum: int = Field(1, description="At least this many on call at all times (1-100)")
    skill: str | None = Field(None, description="Each must hold it, valid (e.g. ACLS)")


class CoverageOut(BaseModel):
    id: str
    ward: str
    role: str
    skill: str | None
    minimum: int


def _coverage_out(row: CoverageRequirement, codes: dict[uuid.UUID | None, str]) -> CoverageOut:
    return CoverageOut(
        id=str(row.id),
        ward=codes.get(row.ward_id, str(row.ward_id)),
        role=row.role,
        skill=row.skill,
        minimum=row.minimum,
    )


def _coverage_input(body: CoverageIn) -> roster.RequirementInput:
    return roster.RequirementInput(
        ward=body.ward, role=body.role, minimum=body.minimum, skill=body.skill
    )


@router.get(
    "/coverage-requirements",
    response_model=list[CoverageOut],
    summary="What each ward needs on call at all times",
    **secured(Permission.SCHEDULES_MANAGE),
)
def get_coverage() -> list[CoverageOut]:
    with session_scope() as session:
        codes = roster.ward_codes(session)
        return [_coverage_out(r, codes) for r, _ in roster.requirements_of(session)]


@router.post(
    "/coverage-requirements",
    response_model=CoverageOut,
    status_code=201,
    summary="Add a coverage requirement (admins)",
    responses={422: FIELD_ERROR},
    **secured(Permission.COVERAGE_MANAGE),
)
def post_coverage(
    body: CoverageIn, request: Request, principal: Principal = Depends(current_principal)
) -> CoverageOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = roster.create_requirement(
                session, principal, _coverage_input(body), now=now, origin=origin
            )
        except roster.OncallError as exc:
            _fail(exc)
        return _coverage_out(row, roster.ward_codes(session))


@router.put(
    "/coverage-requirements/{requirement_id}",
    response_model=CoverageOut,
    summary="Change a coverage requirement (admins)",
    responses={404: {"description": "No such requirement"}, 422: FIELD_ERROR},
    **secured(Permission.COVERAGE_MANAGE),
)
def put_coverage(
    requirement_id: uuid.UUID,
    body: CoverageIn,
    request: Request,
    principal: Principal = Depends(current_principal),
) -> CoverageOut:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            row = roster.update_requirement(
                session, principal, requirement_id, _coverage_input(body), now=now, origin=origin
            )
        except roster.OncallError as exc:
            _fail(exc)
        return _coverage_out(row, roster.ward_codes(session))


@router.delete(
    "/coverage-requirements/{requirement_id}",
    status_code=204,
    summary="Remove a coverage requirement (admins)",
    responses={404: {"description": "No such requirement"}},
    **secured(Permission.COVERAGE_MANAGE),
)
def delete_coverage(
    requirement_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> Response:
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        try:
            roster.delete_requirement(session, principal, requirement_id, now=now, origin=origin)
        except roster.OncallError as exc:
            _fail(exc)
    return Response(status_code=204)
