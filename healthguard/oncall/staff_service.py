"""Staff: the directory (who works where, their skills, availability and next shifts), who
may set whose availability, and shift swaps (request, approve, decline, cancel).

One service function per action; the API and the UI call the same ones. Swaps follow
``healthguard.oncall.swaps`` (pure): the request is checked against the rota as it is when
asked for and again when approved; an approval writes the swap's overrides on the schedule
and re-derives its shifts in the same transaction. Too little rest between two shifts
(``settings.swap_min_rest_hours``) is a warning when asked for (``swap_warnings``, and in
the audit) and a refusal (409) at approval. Every change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from healthguard.models import Schedule as ScheduleRow
from healthguard.models import ScheduleOverride as OverrideRow
from healthguard.models import (
    Shift,
    Staff,
    StaffRole,
    StaffSkill,
    StaffWardCover,
    SwapRequest,
    UserRole,
)
from healthguard.oncall import swaps
from healthguard.oncall.availability import effective_status
from healthguard.oncall.certificates import certificate_valid_on
from healthguard.oncall.roster import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    OncallError,
    _audit,
    get_schedule,
    is_admin,
    load_schedule,
    load_schedules,
    managed_ward_ids,
    manual_spans,
    materialize_schedule,
    ward_codes,
)
from healthguard.oncall.rotations import MAX_WINDOW, OnCallSpan, spans_between
from healthguard.oncall.schedule_json import Problem
from healthguard.security.accounts import Origin
from healthguard.security.permissions import Principal
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings

EXPIRING_DAYS = 30  # a certification expiring within this many days is flagged
NEXT_SHIFTS = 10


# --- the directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftInfo:
    starts_at: datetime
    ends_at: datetime
    ward: str | None  # ward code; None: hospital-wide
    role: str | None
    schedule_id: uuid.UUID | None


@dataclass(frozen=True)
class SkillInfo:
    skill: str
    expires_on: date | None
    status: str  # valid, expiring (within EXPIRING_DAYS), expired


@dataclass(frozen=True)
class StaffInfo:
    id: uuid.UUID
    name: str
    role: str
    home_ward: str | None
    covers: tuple[str, ...]
    availability: str  # effective now
    availability_until: datetime | None
    on_shift: bool
    current_shift: ShiftInfo | None


@dataclass(frozen=True)
class StaffDetail:
    info: StaffInfo
    email: str | None
    pager_id: str | None
    time_zone: str | None
    skills: tuple[SkillInfo, ...]
    next_shifts: tuple[ShiftInfo, ...]


def skill_status(expires_on: date | None, today: date) -> str:
    """valid, expiring (within ``EXPIRING_DAYS``) or expired on the hospital's local date
    ``today`` (a certificate counts through its expiry date: ``oncall.certificates``)."""
    if expires_on is None:
        return "valid"
    if not certificate_valid_on(expires_on, today):
        return "expired"
    if expires_on <= today + timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return "valid"


def _shift_info(shift: Shift, codes: dict[uuid.UUID | None, str]) -> ShiftInfo:
    return ShiftInfo(
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        ward=codes.get(shift.ward_id) if shift.ward_id else None,
        role=shift.role,
        schedule_id=shift.schedule_id,
    )


def _current_shifts(
    session: Session, staff_ids: Iterable[uuid.UUID] | None, now: datetime
) -> dict[uuid.UUID, Shift]:
    query = select(Shift).where(col(Shift.starts_at) <= now, col(Shift.ends_at) > now)
    if staff_ids is not None:
        query = query.where(col(Shift.staff_id).in_(list(staff_ids)))
    current: dict[uuid.UUID, Shift] = {}
    for shift in session.exec(query.order_by(col(Shift.ends_at).desc())).all():
        current.setdefault(shift.staff_id, shift)
    return current


def list_staff(
    session: Session,
    *,
    now: datetime,
    ward_id: uuid.UUID | None = None,
    role: str | None = None,
    on_shift: bool | None = None,
) -> list[StaffInfo]:
    """Staff by name. ``ward_id``: whose home ward it is, who covers it, or who is on shift
    there now; ``role``: a StaffRole; ``on_shift``: on a shift now (or not)."""
    query = select(Staff).order_by(col(Staff.display_name))
    if role is not None:
        query = query.where(Staff.role == role)
    staff = session.exec(query).all()
    codes = ward_codes(session)
    covers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for cover in session.exec(select(StaffWardCover)).all():
        covers.setdefault(cover.staff_id, []).append(cover.ward_id)
    current = _current_shifts(session, None, now)
    on_ward_now: set[uuid.UUID] = set()
    if ward_id is not None:
        on_ward_now = set(
            session.exec(
                select(Shift.staff_id).where(
                    Shift.ward_id == ward_id,
                    col(Shift.starts_at) <= now,
                    col(Shift.ends_at) > now,
                )
            ).all()
        )
    result: list[StaffInfo] = []
    for person in staff:
        if ward_id is not None and not (
            person.home_ward_id == ward_id
            or ward_id in covers.get(person.id, [])
            or person.id in on_ward_now
        ):
            continue
        if on_shift is not None and (person.id in current) != on_shift:
            continue
        result.append(_info(person, covers.get(person.id, []), current.get(person.id), codes, now))
    return result


def _info(
    person: Staff,
    covered: Sequence[uuid.UUID],
    shift: Shift | None,
    codes: dict[uuid.UUID | None, str],
    now: datetime,
) -> StaffInfo:
    status = effective_status(person.availability, person.availability_until, now)
    return StaffInfo(
        id=person.id,
        name=person.display_name,
        role=person.role,
        home_ward=codes.get(person.home_ward_id) if person.home_ward_id else None,
        covers=tuple(sorted(codes[w] for w in covered if w in codes)),
        availability=status,
        availability_until=None if status != person.availability else person.availability_until,
        on_shift=shift is not None,
        current_shift=_shift_info(shift, codes) if shift else None,
    )


def staff_detail(
    session: Session, staff_id: uuid.UUID, *, now: datetime, today: date
) -> StaffDetail:
    """One person: wards, skills with expiry, availability, the shift now and the next ones.
    ``today``: the hospital's local date (for the expiry flags)."""
    person = session.get(Staff, staff_id)
    if person is None:
        raise NotFound("No such staff member.")
    codes = ward_codes(session)
    covered = list(
        session.exec(select(StaffWardCover.ward_id).where(StaffWardCover.staff_id == staff_id))
    )
    current = _current_shifts(session, [staff_id], now).get(staff_id)
    skills = session.exec(
        select(StaffSkill).where(StaffSkill.staff_id == staff_id).order_by(col(StaffSkill.skill))
    ).all()
    upcoming = session.exec(
        select(Shift)
        .where(Shift.staff_id == staff_id, col(Shift.ends_at) > now)
        .order_by(col(Shift.starts_at))
        .limit(NEXT_SHIFTS)
    ).all()
    return StaffDetail(
        info=_info(person, covered, current, codes, now),
        email=person.email,
        pager_id=person.pager_id,
        time_zone=person.time_zone,
        skills=tuple(
            SkillInfo(s.skill, s.expires_on, skill_status(s.expires_on, today)) for s in skills
        ),
        next_shifts=tuple(_shift_info(s, codes) for s in upcoming),
    )


def staff_ward_ids(session: Session, staff_id: uuid.UUID, *, now: datetime) -> set[uuid.UUID]:
    """The wards a person belongs to now: their home ward and the wards of the shifts they
    are on now (not the wards they merely cover)."""
    person = session.get(Staff, staff_id)
    wards: set[uuid.UUID] = set()
    if person is not None and person.home_ward_id is not None:
        wards.add(person.home_ward_id)
    wards |= {
        w
        for w in session.exec(
            select(Shift.ward_id).where(
                Shift.staff_id == staff_id,
                col(Shift.starts_at) <= now,
                col(Shift.ends_at) > now,
                col(Shift.ward_id).is_not(None),
            )
        ).all()
        if w is not None
    }
    return wards


def may_set_availability(
    session: Session, principal: Principal, staff_id: uuid.UUID, *, now: datetime
) -> bool:
    """Own availability; a charge nurse for the staff of their wards; an admin for anyone.
    (The caller has checked ``availability:set``.)"""
    if principal.kind != "user":
        return False
    if principal.staff_id is not None and principal.staff_id == str(staff_id):
        return True
    if is_admin(principal):
        return True
    if principal.role != UserRole.CHARGE_NURSE:
        return False
    scope = ward_scope(session, principal, now=now)
    return any(scope.covers(w) for w in staff_ward_ids(session, staff_id, now=now))


# --- shift swaps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapInput:
    schedule_id: uuid.UUID
    colleague_id: uuid.UUID
    give_starts_at: datetime
    give_ends_at: datetime
    take_starts_at: datetime | None = None
    take_ends_at: datetime | None = None


def _refused(refusal: swaps.SwapRefusal) -> OncallError:
    kind = {403: Forbidden, 409: Conflict, 422: Invalid}.get(refusal.http_status, Conflict)
    return kind(refusal.message)


def _names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = list(set(ids))
    return {
        s.id: s.display_name
        for s in session.exec(select(Staff).where(col(Staff.id).in_(wanted))).all()
    }


def _spans_of(
    session: Session, people: set[uuid.UUID], periods: Sequence[swaps.ShiftPeriod]
) -> list[OnCallSpan]:
    """The on-call spans of ``people`` in every schedule (and their shifts entered by hand)
    around the periods of a swap."""
    start = min(p.start for p in periods) - timedelta(days=1)
    end = max(p.end for p in periods) + timedelta(days=1)
    if end - start > MAX_WINDOW:
        raise Invalid(
            f"take_starts_at: the two shifts of a swap must lie within {MAX_WINDOW.days - 2} days"
        )
    spans = [
        s
        for schedule in load_schedules(session)
        for s in spans_between(schedule, start, end)
        if s.staff_id in people
    ]
    roles = {r.value for r in StaffRole}
    spans += [s for s in manual_spans(session, start, end, roles) if s.staff_id in people]
    return spans


def _periods(data: SwapInput) -> tuple[swaps.ShiftPeriod, swaps.ShiftPeriod | None]:
    problems: list[Problem] = []
    for name in ("give_starts_at", "give_ends_at", "take_starts_at", "take_ends_at"):
        value = getattr(data, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            problems.append(Problem((name,), "give a time zone offset (e.g. Z or +01:00)"))
    if (data.take_starts_at is None) != (data.take_ends_at is None):
        missing = "take_ends_at" if data.take_ends_at is None else "take_starts_at"
        problems.append(
            Problem((missing,), "give both take_starts_at and take_ends_at, or neither")
        )
    if problems:
        raise Invalid.of(problems)
    giving = swaps.ShiftPeriod(data.give_starts_at, data.give_ends_at)
    taking = (
        swaps.ShiftPeriod(data.take_starts_at, data.take_ends_at)
        if data.take_starts_at is not None and data.take_ends_at is not None
        else None
    )
    return giving, taking


def _pure_swap(row: SwapRequest, time_zone: str, ward_id: uuid.UUID | None) -> swaps.SwapRequest:
    taking = (
        swaps.ShiftPeriod(row.take_starts_at, row.take_ends_at)
        if row.take_starts_at is not None and row.take_ends_at is not None
        else None
    )
    return swaps.SwapRequest(
        id=row.id,
        schedule_id=row.schedule_id,
        ward_id=ward_id,
        time_zone=time_zone,
        requester=row.requester_staff_id,
        colleague=row.colleague_staff_id,
        giving=swaps.ShiftPeriod(row.give_starts_at, row.give_ends_at),
        taking=taking,
        requested_at=row.created_at,
        status=swaps.SwapStatus(row.status),
        reason=row.reason or None,
    )


def swap_json(row: SwapRequest) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "schedule_id": str(row.schedule_id),
        "requester_staff_id": str(row.requester_staff_id),
        "colleague_staff_id": str(row.colleague_staff_id),
        "give_starts_at": row.give_starts_at.isoformat(),
        "give_ends_at": row.give_ends_at.isoformat(),
        "take_starts_at": row.take_starts_at.isoformat() if row.take_starts_at else None,
        "take_ends_at": row.take_ends_at.isoformat() if row.take_ends_at else None,
        "status": row.status,
        "reason": row.reason,
        "decided_by": row.decided_by,
    }


def _own_staff_id(principal: Principal, verb: str) -> uuid.UUID:
    if not principal.staff_id:
        raise Forbidden(f"Your sign-in is not linked to a staff member, so you cannot {verb}.")
    return uuid.UUID(principal.staff_id)


def request_swap(
    session: Session,
    principal: Principal,
    data: SwapInput,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> SwapRequest:
    """The signed-in staff member asks to give a shift to a colleague (and take one back)."""
    schedule_row = get_schedule(session, data.schedule_id)
    requester = _own_staff_id(principal, "ask for a swap")
    if session.get(Staff, data.colleague_id) is None:
        raise Invalid.field("colleague_id", f"no staff member with the id {data.colleague_id}")
    giving, taking = _periods(data)
    schedule = load_schedule(session, schedule_row.id)
    assert schedule is not None
    people = {requester, data.colleague_id}
    periods = [giving, *([taking] if taking else [])]
    outcome = swaps.request_swap(
        swap_id=uuid.uuid4(),
        schedule=schedule,
        requester=requester,
        colleague=data.colleague_id,
        giving=giving,
        taking=taking,
        spans=_spans_of(session, people, periods),
        now=now,
        names=_names(session, people),
        min_rest=min_rest(),
    )
    if isinstance(outcome, swaps.SwapRefusal):
        raise _refused(outcome)
    row = SwapRequest(
        id=outcome.id,
        schedule_id=schedule_row.id,
        requester_staff_id=requester,
        colleague_staff_id=data.colleague_id,
        give_starts_at=giving.start.astimezone(UTC),
        give_ends_at=giving.end.astimezone(UTC),
        take_starts_at=taking.start.astimezone(UTC) if taking else None,
        take_ends_at=taking.end.astimezone(UTC) if taking else None,
        status=swaps.SwapStatus.REQUESTED.value,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        principal,
        "swap_requested",
        record_type="swap_request",
        record_id=row.id,
        now=now,
        origin=origin,
        details={"swap": swap_json(row), "warnings": list(outcome.warnings)},
    )
    return row


def min_rest() -> timedelta:
    """The minimum rest between two shifts of one person (``settings.swap_min_rest_hours``)."""
    return timedelta(hours=get_settings().swap_min_rest_hours)


def swap_warnings(session: Session, row: SwapRequest) -> list[str]:
    """What a charge nurse should know before approving a requested swap: too little rest
    between two shifts of someone, on the rota as it is now (the approval refuses it while
    it stays so). Empty for a decided swap."""
    if row.status != swaps.SwapStatus.REQUESTED.value:
        return []
    schedule = get_schedule(session, row.schedule_id)
    pure = _pure_swap(row, schedule.time_zone, schedule.ward_id)
    people = {row.requester_staff_id, row.colleague_staff_id}
    periods = [pure.giving, *([pure.taking] if pure.taking else [])]
    return swaps.rest_problems(
        pure,
        _spans_of(session, people, periods),
        min_rest=min_rest(),
        names=_names(session, people),
    )


def _locked_swap(session: Session, swap_id: uuid.UUID) -> SwapRequest:
    row = session.exec(
        select(SwapRequest).where(SwapRequest.id == swap_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound("No such swap request.")
    return row


def _approver(
    session: Session, principal: Principal, verb: str, *, now: datetime
) -> tuple[uuid.UUID, str, set[uuid.UUID | None]]:
    approver = _own_staff_id(principal, f"{verb} a swap")
    person = session.get(Staff, approver)
    role = person.role if person else ""
    wards = managed_ward_ids(session, principal, now=now)
    ward_set: set[uuid.UUID | None] = set(wards) if wards is not None else set()
    return approver, role, ward_set


def approve_swap(
    session: Session,
    principal: Principal,
    swap_id: uuid.UUID,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> SwapRequest:
    """A charge nurse of the ward approves: checked again against the rota now, then the
    overrides are written and the schedule's shifts re-derived."""
    row = _locked_swap(session, swap_id)
    schedule = load_schedule(session, row.schedule_id)
    assert schedule is not None
    approver, role, wards = _approver(session, principal, "approve", now=now)
    pure = _pure_swap(row, schedule.time_zone, schedule.ward_id)
    people = {row.requester_staff_id, row.colleague_staff_id}
    periods = [pure.giving, *([pure.taking] if pure.taking else [])]
    outcome = swaps.approve_swap(
        pure,
        approver=approver,
        approver_role=role,
        approver_wards=wards,
        spans=_spans_of(session, people, periods),
        now=now,
        names=_names(session, people),
        min_rest=min_rest(),
    )
    if isinstance(outcome, swaps.SwapRefusal):
        raise _refused(outcome)
    for offset, override in enumerate(outcome.overrides):
        session.add(
            OverrideRow(
                schedule_id=row.schedule_id,
                kind=override.kind.value,
                staff_id=override.person,
                replaces_staff_id=override.replaces,
                starts_at=override.start.astimezone(UTC),
                ends_at=override.end.astimezone(UTC),
                reason=(f"shift swap {row.id} approved by {principal.audit_name}")[:500],
                created_by=principal.audit_name,
                created_at=now + timedelta(microseconds=offset),
            )
        )
    row.status = swaps.SwapStatus.APPROVED.value
    row.decided_by, row.decided_at = principal.audit_name, now
    session.add(row)
    session.flush()
    shifts = materialize_schedule(session, row.schedule_id, now=now)
    _audit(
        session,
        principal,
        "swap_approved",
        record_type="swap_request",
        record_id=row.id,
        now=now,
        origin=origin,
        details={
            "swap": swap_json(row),
            "overrides": len(outcome.overrides),
            "shifts_written": shifts.written,
        },
    )
    return row


def decline_swap(
    session: Session,
    principal: Principal,
    swap_id: uuid.UUID,
    reason: str | None,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> SwapRequest:
    row = _locked_swap(session, swap_id)
    schedule = get_schedule(session, row.schedule_id)
    approver, role, wards = _approver(session, principal, "decline", now=now)
    outcome = swaps.decline_swap(
        _pure_swap(row, schedule.time_zone, schedule.ward_id),
        approver=approver,
        approver_role=role,
        approver_wards=wards,
        reason=reason,
        now=now,
    )
    if isinstance(outcome, swaps.SwapRefusal):
        raise _refused(outcome)
    row.status = swaps.SwapStatus.DECLINED.value
    row.reason = (outcome.reason or "")[:500]
    row.decided_by, row.decided_at = principal.audit_name, now
    session.add(row)
    session.flush()
    _audit(
        session,
        principal,
        "swap_declined",
        record_type="swap_request",
        record_id=row.id,
        now=now,
        origin=origin,
        details={"swap": swap_json(row)},
    )
    return row


def cancel_swap(
    session: Session,
    principal: Principal,
    swap_id: uuid.UUID,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> SwapRequest:
    row = _locked_swap(session, swap_id)
    schedule = get_schedule(session, row.schedule_id)
    by = _own_staff_id(principal, "cancel a swap")
    outcome = swaps.cancel_swap(
        _pure_swap(row, schedule.time_zone, schedule.ward_id), by=by, now=now
    )
    if isinstance(outcome, swaps.SwapRefusal):
        raise _refused(outcome)
    row.status = swaps.SwapStatus.CANCELLED.value
    row.decided_by, row.decided_at = principal.audit_name, now
    session.add(row)
    session.flush()
    _audit(
        session,
        principal,
        "swap_cancelled",
        record_type="swap_request",
        record_id=row.id,
        now=now,
        origin=origin,
        details={"swap": swap_json(row)},
    )
    return row


def visible_swaps(
    session: Session, principal: Principal, *, now: datetime, status: str | None = None
) -> list[SwapRequest]:
    """The swaps the caller is part of, and those of the schedules they manage, newest
    first (at most 200)."""
    query = (
        select(SwapRequest, ScheduleRow.ward_id)
        .join(ScheduleRow, col(ScheduleRow.id) == col(SwapRequest.schedule_id))
        .order_by(col(SwapRequest.created_at).desc())
    )
    if status is not None:
        query = query.where(SwapRequest.status == status)
    own = uuid.UUID(principal.staff_id) if principal.staff_id else None
    managed = managed_ward_ids(session, principal, now=now)
    result: list[SwapRequest] = []
    for swap, ward_id in session.exec(query.limit(2000)).all():
        mine = own is not None and own in (swap.requester_staff_id, swap.colleague_staff_id)
        manages = managed is None or ward_id in managed
        if mine or manages:
            result.append(swap)
        if len(result) >= 200:
            break
    return result
