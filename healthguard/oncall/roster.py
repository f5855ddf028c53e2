"""Schedules in Postgres: the rota as the pure planner sees it, the shifts derived from it,
who is on call, coverage gaps, calendars, and every change to a rota (one service function
per action, each authorised, validated, audited and re-deriving the schedule's shifts in the
caller's transaction).

- ``plain_schedule`` / ``load_schedules``: ``models.Schedule`` rows (layers as JSON,
  ``healthguard.oncall.schedule_json``) and their overrides -> ``rotations.Schedule``.
- ``materialize_schedule`` / ``materialize_shifts``: the ``Shift`` rows of a schedule that are
  running or ahead (up to ``settings.shifts_ahead_days``) are replaced by its spans; past
  shifts stay as they were (history). A running shift keeps its real start. A person on two
  schedules starting at the same instant keeps the first shift written (one row per person
  and start; logged); a shift entered by hand (no schedule) at the same start is taken over
  by the schedule.
- ``on_call``: who is on call for a ward and role at an instant, in paging order.
- ``gap_report``: ``CoverageRequirement`` rows against the schedules' spans (and shifts
  entered by hand) and the staff's certifications (``healthguard.oncall.gaps``).
- the actions: schedules (create, update, delete), overrides (add, remove), a roster import
  (iCalendar, all or nothing) and coverage requirements (create, update, delete).

Who may change a rota: an admin (every ward and the hospital-wide schedules) or a charge
nurse for the wards in their ward scope (``healthguard.security.scope.ward_scope``).
Labels use the ward's short code (what screens show): "ICU nurse", "ICU has no ...".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from healthguard.models import (
    CoverageRequirement,
    Shift,
    Staff,
    StaffRole,
    StaffSkill,
    UserRole,
    Ward,
)
from healthguard.models import Schedule as ScheduleRow
from healthguard.models import ScheduleOverride as OverrideRow
from healthguard.oncall import gaps as gap_planner
from healthguard.oncall.gaps import Gap
from healthguard.oncall.ical import (
    CalendarPerson,
    RosterImportError,
    RosterRow,
    import_roster,
    person_calendar,
    ward_calendar,
)
from healthguard.oncall.rotations import (
    MAX_WINDOW,
    ON_CALL_AT_REACH,
    OnCallSpan,
    Override,
    OverrideKind,
    check_window,
    on_call_at,
    spans_between,
    zone_from_name,
)
from healthguard.oncall.rotations import Schedule as PlainSchedule
from healthguard.oncall.schedule_json import (
    LayersInvalid,
    Problem,
    layers_from_json,
    layers_to_json,
    participants_of,
)
from healthguard.security.accounts import Origin
from healthguard.security.audit import KNOWN_ACTIONS, AuditAction, record_audit
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings

log = logging.getLogger(__name__)

SYSTEM = "system"
MAX_NAME = 200
MAX_REASON = 500
# Shifts entered by hand (no schedule) appear in gap reports under this schedule id.
MANUAL_SHIFTS = uuid.UUID(int=0)
IMPORT_REASON = "roster import"


def audit_action(precise: str, fallback: AuditAction) -> str:
    """``precise`` once ``AuditAction`` lists it, else the nearest existing action (the
    precise change is always in ``details["change"]``)."""
    return precise if precise in KNOWN_ACTIONS else fallback.value


# Every on-call change and the audit action it is recorded under.
AUDIT: dict[str, str] = {
    "schedule_created": AuditAction.SCHEDULE_CREATED.value,
    "schedule_updated": AuditAction.SCHEDULE_UPDATED.value,
    "schedule_deleted": AuditAction.SCHEDULE_DELETED.value,
    "override_added": audit_action("schedule.override_added", AuditAction.SCHEDULE_UPDATED),
    "override_removed": audit_action("schedule.override_removed", AuditAction.SCHEDULE_UPDATED),
    "roster_imported": audit_action("schedule.imported", AuditAction.SCHEDULE_UPDATED),
    "swap_requested": audit_action("swap.requested", AuditAction.SCHEDULE_UPDATED),
    "swap_approved": audit_action("swap.approved", AuditAction.SCHEDULE_UPDATED),
    "swap_declined": audit_action("swap.declined", AuditAction.SCHEDULE_UPDATED),
    "swap_cancelled": audit_action("swap.cancelled", AuditAction.SCHEDULE_UPDATED),
    "coverage_created": audit_action("coverage.created", AuditAction.SCHEDULE_CREATED),
    "coverage_updated": audit_action("coverage.updated", AuditAction.SCHEDULE_UPDATED),
    "coverage_deleted": audit_action("coverage.deleted", AuditAction.SCHEDULE_DELETED),
    "availability_set": audit_action("staff.availability_set", AuditAction.USER_UPDATED),
    "certification_expiring": audit_action("certification.expiring", AuditAction.USER_UPDATED),
}


# --- errors ---------------------------------------------------------------------------------


class OncallError(Exception):
    """A refused on-call action: an HTTP status, a message to show as is, and (422) every
    problem naming its field."""

    status = 400

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems: tuple[Problem, ...] = tuple(problems)


class NotFound(OncallError):
    status = 404


class Forbidden(OncallError):
    status = 403


class Conflict(OncallError):
    status = 409


class Invalid(OncallError):
    status = 422

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> Invalid:
        return cls("; ".join(str(p) for p in problems), problems)

    @classmethod
    def field(cls, loc: str | tuple[str | int, ...], message: str) -> Invalid:
        where = (loc,) if isinstance(loc, str) else loc
        return cls.of([Problem(where, message)])


# --- who may change a rota ------------------------------------------------------------------


def is_admin(principal: Principal) -> bool:
    return principal.kind == "user" and principal.role == UserRole.ADMIN


def managed_ward_ids(
    session: Session, principal: Principal, *, now: datetime
) -> frozenset[uuid.UUID] | None:
    """The wards whose rotas ``principal`` may change: None for all of them (and the
    hospital-wide schedules: admins), else the charge nurse's ward scope (maybe empty)."""
    if not allows(principal, Permission.SCHEDULES_MANAGE):
        return frozenset()
    if is_admin(principal):
        return None
    scope = ward_scope(session, principal, now=now)
    if scope.all_wards:
        return None
    return frozenset(uuid.UUID(w) for w in scope.ward_ids)


def require_manage(
    session: Session, principal: Principal, ward_id: uuid.UUID | None, *, now: datetime
) -> None:
    """Forbidden unless ``principal`` may change the rotas of ``ward_id`` (None: the
    hospital-wide ones)."""
    wards = managed_ward_ids(session, principal, now=now)
    if wards is None:
        return
    if ward_id is None:
        raise Forbidden("Only an admin can change hospital-wide schedules.")
    if ward_id not in wards:
        raise Forbidden(
            f"You can change the rotas of your own wards only; this one is for "
            f"{ward_label(session, ward_id)}."
        )


def ward_label(session: Session, ward_id: uuid.UUID | None) -> str:
    if ward_id is None:
        return "Hospital-wide"
    ward = session.get(Ward, ward_id)
    return ward.code if ward else str(ward_id)


# --- loading --------------------------------------------------------------------------------


def _override(row: OverrideRow) -> Override:
    return Override(
        kind=OverrideKind(row.kind),
        person=row.staff_id,
        start=row.starts_at,
        end=row.ends_at,
        replaces=row.replaces_staff_id,
        reason=row.reason or None,
    )


def plain_schedule(
    row: ScheduleRow, overrides: Iterable[OverrideRow], ward_code: str | None
) -> PlainSchedule:
    """The pure schedule of a row (overrides applied oldest first)."""
    ordered = sorted(overrides, key=lambda o: (o.created_at, str(o.id)))
    return PlainSchedule(
        id=row.id,
        role=row.role,
        ward_id=row.ward_id,
        time_zone=row.time_zone,
        layers=layers_from_json(row.layers),
        overrides=tuple(_override(o) for o in ordered),
        ward_name=ward_code,
    )


def load_schedules(
    session: Session,
    *,
    ids: Iterable[uuid.UUID] | None = None,
    roles: Iterable[str] | None = None,
) -> list[PlainSchedule]:
    """The pure schedules (all, or those of ``ids`` / ``roles``), by name."""
    query = select(ScheduleRow).order_by(col(ScheduleRow.name))
    if ids is not None:
        query = query.where(col(ScheduleRow.id).in_(list(ids)))
    if roles is not None:
        query = query.where(col(ScheduleRow.role).in_(list(roles)))
    rows = session.exec(query).all()
    return _plain_many(session, rows)


def _plain_many(session: Session, rows: Sequence[ScheduleRow]) -> list[PlainSchedule]:
    if not rows:
        return []
    overrides: dict[uuid.UUID, list[OverrideRow]] = {}
    for o in session.exec(
        select(OverrideRow).where(col(OverrideRow.schedule_id).in_([r.id for r in rows]))
    ).all():
        overrides.setdefault(o.schedule_id, []).append(o)
    codes = ward_codes(session)
    return [plain_schedule(r, overrides.get(r.id, []), codes.get(r.ward_id)) for r in rows]


def load_schedule(session: Session, schedule_id: uuid.UUID) -> PlainSchedule | None:
    found = load_schedules(session, ids=[schedule_id])
    return found[0] if found else None


def ward_codes(session: Session) -> dict[uuid.UUID | None, str]:
    return {w.id: w.code for w in session.exec(select(Ward)).all()}


def ward_by_code(session: Session, code: str) -> Ward | None:
    return session.exec(
        select(Ward).where(sa.func.upper(Ward.code) == code.strip().upper())
    ).first()


# --- shifts derived from the schedules ------------------------------------------------------


@dataclass(frozen=True)
class Materialized:
    schedule_id: uuid.UUID
    written: int  # shifts inserted or taken over
    replaced: int  # running or future shifts of the schedule removed first
    clashes: int  # spans left out: the person already has a shift of another schedule then


def materialize_schedule(
    session: Session, schedule_id: uuid.UUID, *, now: datetime
) -> Materialized:
    """Replace the schedule's running and future shifts (up to ``shifts_ahead_days``) with
    its spans. Locks the schedule row until the caller commits (concurrent runs queue)."""
    row = session.exec(
        select(ScheduleRow).where(ScheduleRow.id == schedule_id).with_for_update()
    ).first()
    if row is None:
        return Materialized(schedule_id, 0, 0, 0)
    plain = _plain_many(session, [row])[0]
    horizon = now + timedelta(days=get_settings().shifts_ahead_days)
    table = Shift.__table__  # type: ignore[attr-defined]
    deleted = session.execute(
        sa.delete(table)
        .where(table.c.schedule_id == schedule_id, table.c.ends_at > now)
        .returning(table.c.starts_at)
    ).all()
    cutoff = min([now, *(r[0] for r in deleted)])
    kept = {
        (r[0], r[1])
        for r in session.execute(
            sa.select(table.c.staff_id, table.c.starts_at).where(
                table.c.schedule_id == schedule_id, table.c.starts_at >= now - ON_CALL_AT_REACH
            )
        ).all()
    }
    spans = [
        s
        for s in spans_between(plain, now - ON_CALL_AT_REACH, horizon)
        if s.end > cutoff and (s.staff_id, s.start) not in kept
    ]
    written = 0
    if spans:
        statement = pg_insert(table).values(
            [
                {
                    "id": uuid.uuid4(),
                    "staff_id": s.staff_id,
                    "ward_id": row.ward_id,
                    "starts_at": s.start,
                    "ends_at": s.end,
                    "schedule_id": row.id,
                    "role": row.role,
                }
                for s in spans
            ]
        )
        upsert = statement.on_conflict_do_update(
            index_elements=["staff_id", "starts_at"],
            set_={
                "ends_at": statement.excluded.ends_at,
                "ward_id": statement.excluded.ward_id,
                "schedule_id": statement.excluded.schedule_id,
                "role": statement.excluded.role,
            },
            where=table.c.schedule_id.is_(None),
        ).returning(table.c.id)
        written = len(session.execute(upsert).all())
    clashes = len(spans) - written
    if clashes:
        log.warning(
            "schedule %s: %d shift(s) left out, the person already has a shift of another "
            "schedule starting at the same time",
            row.name,
            clashes,
        )
    return Materialized(row.id, written, len(deleted), clashes)


def materialize_shifts(session: Session, *, now: datetime) -> int:
    """Re-derive the running and future shifts of every schedule; the shifts written."""
    ids = session.exec(select(ScheduleRow.id).order_by(col(ScheduleRow.id))).all()
    written = 0
    for schedule_id in ids:
        try:
            with session.begin_nested():  # one unreadable schedule must not stop the others
                written += materialize_schedule(session, schedule_id, now=now).written
        except ValueError:  # LayersInvalid, or a rota the planner refuses
            log.exception(
                "schedule %s: its shifts cannot be derived; left as they were", schedule_id
            )
    return written


# --- who is on call -------------------------------------------------------------------------


def on_call(
    session: Session, *, ward_id: uuid.UUID | None, role: str | None, at: datetime
) -> list[OnCallSpan]:
    """Who is on call at ``at`` for the ward in ``role`` (None: every role): the ward's
    schedules first, then the hospital-wide ones (they cover every ward: the rapid response
    team), each by name, in paging order. ``ward_id`` None: the hospital-wide ones only."""
    wards: list[sa.ColumnElement[bool]] = [col(ScheduleRow.ward_id).is_(None)]
    if ward_id is not None:
        wards.append(col(ScheduleRow.ward_id) == ward_id)
    query = select(ScheduleRow).where(sa.or_(*wards))
    if role is not None:
        query = query.where(ScheduleRow.role == role)
    rows = sorted(session.exec(query).all(), key=lambda r: (r.ward_id is None, r.name))
    return [span for schedule in _plain_many(session, rows) for span in on_call_at(schedule, at)]


# --- coverage gaps --------------------------------------------------------------------------


def requirements_of(
    session: Session, ward_ids: Iterable[uuid.UUID] | None = None
) -> list[tuple[CoverageRequirement, Ward]]:
    query = (
        select(CoverageRequirement, Ward)
        .join(Ward, col(Ward.id) == col(CoverageRequirement.ward_id))
        .order_by(col(Ward.code), col(CoverageRequirement.role), col(CoverageRequirement.skill))
    )
    if ward_ids is not None:
        query = query.where(col(CoverageRequirement.ward_id).in_(list(ward_ids)))
    return [(r, w) for r, w in session.exec(query).all()]


def gap_report(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    ward_ids: Iterable[uuid.UUID] | None = None,
) -> list[Gap]:
    """Every stretch of ``start``-``end`` where a ward's coverage requirement is not met
    (of ``ward_ids`` only, when given), from the schedules, the shifts entered by hand and
    the certifications valid at the time. Messages in the hospital's time zone."""
    check_window(start, end)
    zone = get_settings().timezone
    pairs = requirements_of(session, ward_ids)
    if not pairs:
        return []
    requirements = [
        gap_planner.CoverageRequirement(
            ward_id=ward.id,
            ward_name=ward.code,
            role=req.role,
            time_zone=zone,
            minimum=req.minimum,
            skill=req.skill or None,
        )
        for req, ward in pairs
    ]
    roles = {r.role for r in requirements}
    spans = [
        span
        for schedule in load_schedules(session, roles=roles)
        for span in spans_between(schedule, start, end)
    ]
    spans += manual_spans(session, start, end, roles)
    people = {s.staff_id for s in spans}
    skills = (
        session.exec(select(StaffSkill).where(col(StaffSkill.staff_id).in_(list(people)))).all()
        if people
        else []
    )
    return gap_planner.find_gaps(requirements, spans, skills, start, end)


def manual_spans(
    session: Session, start: datetime, end: datetime, roles: Iterable[str]
) -> list[OnCallSpan]:
    """Shifts entered by hand (no schedule) as spans, in the shift's role or else the
    person's."""
    wanted = set(roles)
    rows = session.exec(
        select(Shift, Staff.role)
        .join(Staff, col(Staff.id) == col(Shift.staff_id))
        .where(
            col(Shift.schedule_id).is_(None),
            col(Shift.starts_at) < end,
            col(Shift.ends_at) > start,
        )
    ).all()
    spans: list[OnCallSpan] = []
    for shift, staff_role in rows:
        role = shift.role or staff_role
        if role not in wanted:
            continue
        spans.append(
            OnCallSpan(
                staff_id=shift.staff_id,
                start=max(shift.starts_at, start).astimezone(UTC),
                end=min(shift.ends_at, end).astimezone(UTC),
                schedule_id=MANUAL_SHIFTS,
                ward_id=shift.ward_id,
                role=role,
            )
        )
    return spans


def gap_json(gap: Gap, ward_names: Mapping[uuid.UUID | None, str] | None = None) -> dict[str, Any]:
    """A gap as JSON (the API and the Redis cache of the gap report)."""
    req = gap.requirement
    return {
        "ward_id": str(req.ward_id) if req.ward_id else None,
        "ward": req.ward_name,
        "ward_name": (ward_names or {}).get(req.ward_id),
        "role": req.role,
        "skill": req.skill,
        "minimum": req.minimum,
        "on_call": gap.on_call,
        "missing": gap.missing,
        "start": gap.start.astimezone(UTC).isoformat(),
        "end": gap.end.astimezone(UTC).isoformat(),
        "message": gap.message,
    }


# --- calendars ------------------------------------------------------------------------------


def _people(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CalendarPerson]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {
        s.id: CalendarPerson(name=s.display_name, email=s.email)
        for s in session.exec(select(Staff).where(col(Staff.id).in_(wanted))).all()
    }


def staff_calendar(
    session: Session, staff: Staff, *, start: datetime, end: datetime, now: datetime
) -> bytes:
    """The person's on call in every schedule, as iCalendar."""
    return person_calendar(
        load_schedules(session),
        staff.id,
        start,
        end,
        generated_at=now,
        person=CalendarPerson(name=staff.display_name, email=staff.email),
    )


def ward_ical(
    session: Session, ward: Ward, *, start: datetime, end: datetime, now: datetime
) -> bytes:
    """Everybody on call for the ward, every role, as iCalendar."""
    schedules = [s for s in load_schedules(session) if s.ward_id == ward.id]
    people = _people(session, participants_of([layer for s in schedules for layer in s.layers]))
    people |= _people(session, [o.person for s in schedules for o in s.overrides])
    return ward_calendar(
        schedules, ward.id, start, end, generated_at=now, ward_name=ward.code, people=people
    )


# --- changing a schedule --------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleInput:
    """A schedule as typed by an admin or a charge nurse (``ward``: a ward code, None for
    hospital-wide; ``layers``: JSON, see ``schedule_json``)."""

    name: str
    ward: str | None
    role: str
    time_zone: str
    layers: list[dict[str, Any]]


def _checked(
    session: Session, data: ScheduleInput, *, existing_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, list[dict[str, Any]]]:
    """The ward id and normalised layers of valid input; Invalid naming every problem."""
    problems: list[Problem] = []
    name = data.name.strip()
    if not name:
        problems.append(Problem(("name",), "must not be empty"))
    elif len(name) > MAX_NAME:
        problems.append(Problem(("name",), f"at most {MAX_NAME} characters"))
    else:
        clash = session.exec(select(ScheduleRow.id).where(ScheduleRow.name == name)).first()
        if clash is not None and clash != existing_id:
            problems.append(Problem(("name",), f"a schedule called {name!r} already exists"))
    ward_id: uuid.UUID | None = None
    if data.ward is not None:
        ward = ward_by_code(session, data.ward)
        if ward is None:
            problems.append(Problem(("ward",), f"no ward with the code {data.ward!r}"))
        else:
            ward_id = ward.id
    roles = [r.value for r in StaffRole]
    if data.role not in roles:
        problems.append(Problem(("role",), f"must be one of {', '.join(roles)}"))
    try:
        zone_from_name(data.time_zone)
    except ValueError as exc:
        problems.append(Problem(("time_zone",), str(exc).partition(": ")[2] or str(exc)))
    layers_json: list[dict[str, Any]] = []
    try:
        layers = layers_from_json(data.layers)
    except LayersInvalid as exc:
        problems.extend(exc.problems)
    else:
        known = _existing_staff(session, participants_of(layers))
        for i, layer in enumerate(layers):
            for j, person in enumerate(layer.rotation.participants):
                if person not in known:
                    problems.append(
                        Problem(
                            ("layers", i, "rotation", "participants", j),
                            f"no staff member with the id {person}",
                        )
                    )
        layers_json = layers_to_json(layers)
    if problems:
        raise Invalid.of(problems)
    return ward_id, layers_json


def _existing_staff(session: Session, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    wanted = list(set(ids))
    if not wanted:
        return set()
    return set(session.exec(select(Staff.id).where(col(Staff.id).in_(wanted))).all())


def schedule_json(row: ScheduleRow, ward_code: str | None) -> dict[str, Any]:
    """A schedule's definition (for the audit log's before / after)."""
    return {
        "name": row.name,
        "ward": ward_code,
        "role": row.role,
        "time_zone": row.time_zone,
        "layers": row.layers,
    }


def get_schedule(session: Session, schedule_id: uuid.UUID) -> ScheduleRow:
    row = session.get(ScheduleRow, schedule_id)
    if row is None:
        raise NotFound("No such schedule.")
    return row


def _audit(
    session: Session,
    principal: Principal | str,
    change: str,
    *,
    record_type: str,
    record_id: object,
    now: datetime,
    origin: Origin | None,
    details: Mapping[str, Any],
) -> None:
    origin = origin or Origin()
    record_audit(
        session,
        actor=principal if isinstance(principal, str) else principal.audit_name,
        action=AUDIT[change],
        record_type=record_type,
        record_id=str(record_id),
        now=now,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"change": change, **details},
    )


def create_schedule(
    session: Session,
    principal: Principal,
    data: ScheduleInput,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> ScheduleRow:
    ward_id, layers = _checked(session, data, existing_id=None)
    require_manage(session, principal, ward_id, now=now)
    row = ScheduleRow(
        name=data.name.strip(),
        ward_id=ward_id,
        role=data.role,
        time_zone=data.time_zone,
        layers=layers,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    shifts = materialize_schedule(session, row.id, now=now)
    _audit(
        session,
        principal,
        "schedule_created",
        record_type="schedule",
        record_id=row.id,
        now=now,
        origin=origin,
        details={"after": schedule_json(row, data.ward), "shifts_written": shifts.written},
    )
    return row


def update_schedule(
    session: Session,
    principal: Principal,
    schedule_id: uuid.UUID,
    data: ScheduleInput,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> ScheduleRow:
    row = get_schedule(session, schedule_id)
    require_manage(session, principal, row.ward_id, now=now)
    ward_id, layers = _checked(session, data, existing_id=row.id)
    require_manage(session, principal, ward_id, now=now)  # moving it to another ward too
    before = schedule_json(row, ward_label(session, row.ward_id) if row.ward_id else None)
    row.name, row.ward_id, row.role = data.name.strip(), ward_id, data.role
    row.time_zone, row.layers, row.updated_at = data.time_zone, layers, now
    session.add(row)
    session.flush()
    shifts = materialize_schedule(session, row.id, now=now)
    _audit(
        session,
        principal,
        "schedule_updated",
        record_type="schedule",
        record_id=row.id,
        now=now,
        origin=origin,
        details={
            "before": before,
            "after": schedule_json(row, data.ward),
            "shifts_written": shifts.written,
        },
    )
    return row


def delete_schedule(
    session: Session,
    principal: Principal,
    schedule_id: uuid.UUID,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> None:
    """Delete the schedule with its overrides, swap requests and derived shifts."""
    row = get_schedule(session, schedule_id)
    require_manage(session, principal, row.ward_id, now=now)
    before = schedule_json(row, ward_label(session, row.ward_id) if row.ward_id else None)
    session.delete(row)
    session.flush()
    _audit(
        session,
        principal,
        "schedule_deleted",
        record_type="schedule",
        record_id=schedule_id,
        now=now,
        origin=origin,
        details={"before": before},
    )


# --- overrides ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverrideInput:
    kind: str
    staff_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    replaces_staff_id: uuid.UUID | None = None
    reason: str = ""


def override_json(row: OverrideRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "kind": row.kind,
        "staff_id": str(row.staff_id),
        "replaces_staff_id": str(row.replaces_staff_id) if row.replaces_staff_id else None,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "reason": row.reason,
        "created_by": row.created_by,
    }


def _checked_override(session: Session, data: OverrideInput, *, now: datetime) -> None:
    problems: list[Problem] = []
    kinds = [k.value for k in OverrideKind]
    if data.kind not in kinds:
        problems.append(Problem(("kind",), f"must be one of {', '.join(kinds)}"))
    people = [data.staff_id, *([data.replaces_staff_id] if data.replaces_staff_id else [])]
    known = _existing_staff(session, people)
    if data.staff_id not in known:
        problems.append(Problem(("staff_id",), f"no staff member with the id {data.staff_id}"))
    if data.replaces_staff_id is not None:
        if data.kind != OverrideKind.REPLACE:
            problems.append(
                Problem(("replaces_staff_id",), "only for a replace override (leave it empty)")
            )
        elif data.replaces_staff_id not in known:
            problems.append(
                Problem(
                    ("replaces_staff_id",),
                    f"no staff member with the id {data.replaces_staff_id}",
                )
            )
        elif data.replaces_staff_id == data.staff_id:
            problems.append(Problem(("replaces_staff_id",), "a person cannot replace themselves"))
    naive = False
    for name, value in (("starts_at", data.starts_at), ("ends_at", data.ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            problems.append(Problem((name,), "give a time zone offset (e.g. Z or +01:00)"))
            naive = True
    if not naive:
        if data.ends_at <= data.starts_at:
            problems.append(Problem(("ends_at",), "must be after starts_at"))
        elif data.ends_at - data.starts_at > MAX_WINDOW:
            problems.append(
                Problem(("ends_at",), f"at most {MAX_WINDOW.days} days after starts_at")
            )
        elif data.ends_at <= now:
            problems.append(
                Problem(("ends_at",), "is in the past; an override changes the rota ahead")
            )
    if len(data.reason) > MAX_REASON:
        problems.append(Problem(("reason",), f"at most {MAX_REASON} characters"))
    if problems:
        raise Invalid.of(problems)


def add_override(
    session: Session,
    principal: Principal,
    schedule_id: uuid.UUID,
    data: OverrideInput,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> OverrideRow:
    schedule = get_schedule(session, schedule_id)
    require_manage(session, principal, schedule.ward_id, now=now)
    _checked_override(session, data, now=now)
    row = OverrideRow(
        schedule_id=schedule.id,
        kind=data.kind,
        staff_id=data.staff_id,
        replaces_staff_id=data.replaces_staff_id,
        starts_at=data.starts_at.astimezone(UTC),
        ends_at=data.ends_at.astimezone(UTC),
        reason=data.reason.strip(),
        created_by=principal.audit_name,
        created_at=now,
    )
    session.add(row)
    session.flush()
    shifts = materialize_schedule(session, schedule.id, now=now)
    _audit(
        session,
        principal,
        "override_added",
        record_type="schedule",
        record_id=schedule.id,
        now=now,
        origin=origin,
        details={"override": override_json(row), "shifts_written": shifts.written},
    )
    return row


def remove_override(
    session: Session,
    principal: Principal,
    schedule_id: uuid.UUID,
    override_id: uuid.UUID,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> None:
    schedule = get_schedule(session, schedule_id)
    row = session.get(OverrideRow, override_id)
    if row is None or row.schedule_id != schedule.id:
        raise NotFound("No such override on this schedule.")
    require_manage(session, principal, schedule.ward_id, now=now)
    details = override_json(row)
    session.delete(row)
    session.flush()
    shifts = materialize_schedule(session, schedule.id, now=now)
    _audit(
        session,
        principal,
        "override_removed",
        record_type="schedule",
        record_id=schedule.id,
        now=now,
        origin=origin,
        details={"override": details, "shifts_written": shifts.written},
    )


# --- roster import --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    shifts: int  # (person, shift) rows read from the file
    overrides: int  # overrides written
    replaced: int  # overrides of earlier imports within the window, removed
    window_start: datetime
    window_end: datetime


def _event_name(row: RosterRow) -> str:
    if row.summary and row.uid:
        return f'Event "{row.summary}" (UID {row.uid})'
    if row.summary:
        return f'Event "{row.summary}"'
    return f"Event UID {row.uid}" if row.uid else "An event without SUMMARY or UID"


def _match_people(
    session: Session, schedule: ScheduleRow, rows: Sequence[RosterRow]
) -> tuple[list[tuple[RosterRow, uuid.UUID]], list[str]]:
    staff = session.exec(select(Staff)).all()
    by_id = {s.id: s for s in staff}
    by_email = {s.email.strip().casefold(): s for s in staff if s.email}
    by_name: dict[str, list[Staff]] = {}
    for s in staff:
        by_name.setdefault(s.display_name.strip().casefold(), []).append(s)
    ward = session.get(Ward, schedule.ward_id) if schedule.ward_id else None
    ward_words = {ward.code.casefold(), ward.name.casefold()} if ward else set()
    matched: list[tuple[RosterRow, uuid.UUID]] = []
    problems: list[str] = []
    for row in rows:
        person: Staff | None = None
        if row.person_source == "staff_id":
            person = by_id.get(uuid.UUID(row.person))
            if person is None:
                problems.append(f"{_event_name(row)}: no staff member with the id {row.person}")
                continue
        elif row.person_source == "email":
            person = by_email.get(row.person.strip().casefold())
            if person is None:
                problems.append(
                    f"{_event_name(row)}: nobody on the staff list has the email {row.person}"
                )
                continue
        else:
            found = by_name.get(row.person.strip().casefold(), [])
            if len(found) != 1:
                problems.append(
                    f"{_event_name(row)}: "
                    + (
                        f"nobody on the staff list is called {row.person!r}"
                        if not found
                        else f"{len(found)} staff members are called {row.person!r}; "
                        "use an ATTENDEE with their email"
                    )
                )
                continue
            person = found[0]
        if ward is not None and row.ward and row.ward.strip().casefold() not in ward_words:
            problems.append(
                f"{_event_name(row)}: is for {row.ward!r}, not this schedule's ward "
                f"({ward.code}, {ward.name})"
            )
            continue
        matched.append((row, person.id))
    return matched, problems


def _import_overrides(
    matched: Sequence[tuple[RosterRow, uuid.UUID]],
) -> list[tuple[OverrideKind, uuid.UUID, datetime, datetime]]:
    """The roster as overrides: cut at every shift edge; in each piece the rostered people
    replace whoever the layers had (the first), the others are added; pieces nobody is
    rostered for keep the layers' people. Adjacent pieces with the same people are merged."""
    edges = sorted({t for row, _ in matched for t in (row.start, row.end)})
    pieces: list[tuple[datetime, datetime, tuple[uuid.UUID, ...]]] = []
    for a, b in pairwise(edges):
        people = tuple(
            dict.fromkeys(
                person
                for row, person in sorted(matched, key=lambda m: (m[0].start, str(m[1])))
                if row.start <= a and row.end >= b
            )
        )
        if not people:
            continue
        if pieces and pieces[-1][1] == a and pieces[-1][2] == people:
            pieces[-1] = (pieces[-1][0], b, people)
        else:
            pieces.append((a, b, people))
    result: list[tuple[OverrideKind, uuid.UUID, datetime, datetime]] = []
    for a, b, people in pieces:
        result.append((OverrideKind.REPLACE, people[0], a, b))
        result.extend((OverrideKind.ADD, p, a, b) for p in people[1:])
    return result


def import_roster_file(
    session: Session,
    principal: Principal,
    schedule_id: uuid.UUID,
    data: bytes,
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    origin: Origin | None = None,
) -> ImportResult:
    """Import an iCalendar roster into the schedule as overrides, all or nothing: any event
    that cannot be read or matched to a staff member refuses the whole file (Invalid, one
    problem per event). Overrides of earlier imports lying within the window are replaced."""
    schedule = get_schedule(session, schedule_id)
    require_manage(session, principal, schedule.ward_id, now=now)
    try:
        rows = import_roster(
            data,
            window_start=window_start,
            window_end=window_end,
            default_time_zone=schedule.time_zone,
        )
    except RosterImportError as exc:
        reasons = exc.problems or (str(exc),)
        raise Invalid(str(exc), [Problem(("body",), p) for p in reasons]) from None
    matched, problems = _match_people(session, schedule, rows)
    if problems:
        count = "1 event" if len(problems) == 1 else f"{len(problems)} events"
        lines = "\n".join(f"- {p}" for p in problems[:20])
        raise Invalid(
            f"Nothing was imported: {count} cannot be imported.\n{lines}",
            [Problem(("body",), p) for p in problems],
        )
    previous = session.exec(
        select(OverrideRow).where(
            OverrideRow.schedule_id == schedule.id,
            col(OverrideRow.reason).startswith(IMPORT_REASON),
            col(OverrideRow.starts_at) >= window_start,
            col(OverrideRow.ends_at) <= window_end,
        )
    ).all()
    for old in previous:
        session.delete(old)
    session.flush()
    planned = _import_overrides(matched)
    reason = f"{IMPORT_REASON} by {principal.audit_name} at {now.astimezone(UTC):%Y-%m-%d %H:%M}Z"
    for offset, (kind, person, start, end) in enumerate(planned):
        session.add(
            OverrideRow(
                schedule_id=schedule.id,
                kind=kind.value,
                staff_id=person,
                starts_at=start,
                ends_at=end,
                reason=reason[:MAX_REASON],
                created_by=principal.audit_name,
                # Overrides apply oldest first: keep the planned order within one import.
                created_at=now + timedelta(microseconds=offset),
            )
        )
    session.flush()
    shifts = materialize_schedule(session, schedule.id, now=now)
    result = ImportResult(len(rows), len(planned), len(previous), window_start, window_end)
    _audit(
        session,
        principal,
        "roster_imported",
        record_type="schedule",
        record_id=schedule.id,
        now=now,
        origin=origin,
        details={
            "shifts_read": result.shifts,
            "overrides_written": result.overrides,
            "overrides_replaced": result.replaced,
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "shifts_written": shifts.written,
        },
    )
    return result


# --- coverage requirements ------------------------------------------------------------------


@dataclass(frozen=True)
class RequirementInput:
    ward: str  # a ward code
    role: str
    minimum: int = 1
    skill: str | None = None


def requirement_json(row: CoverageRequirement, ward_code: str) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "ward": ward_code,
        "role": row.role,
        "skill": row.skill,
        "minimum": row.minimum,
    }


def _checked_requirement(session: Session, data: RequirementInput) -> Ward:
    problems: list[Problem] = []
    ward = ward_by_code(session, data.ward)
    if ward is None:
        problems.append(Problem(("ward",), f"no ward with the code {data.ward!r}"))
    roles = [r.value for r in StaffRole]
    if data.role not in roles:
        problems.append(Problem(("role",), f"must be one of {', '.join(roles)}"))
    if isinstance(data.minimum, bool) or not 1 <= data.minimum <= gap_planner.MAX_MINIMUM:
        problems.append(Problem(("minimum",), f"from 1 to {gap_planner.MAX_MINIMUM}"))
    if data.skill is not None and (not data.skill.strip() or len(data.skill.strip()) > 64):
        problems.append(Problem(("skill",), "a skill name of 1 to 64 characters (e.g. ACLS)"))
    if problems or ward is None:
        raise Invalid.of(problems)
    return ward


def _require_coverage(principal: Principal) -> None:
    if not allows(principal, Permission.COVERAGE_MANAGE):
        raise Forbidden(f"Your role may not do this (needs {Permission.COVERAGE_MANAGE.value}).")


def create_requirement(
    session: Session,
    principal: Principal,
    data: RequirementInput,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> CoverageRequirement:
    _require_coverage(principal)
    ward = _checked_requirement(session, data)
    row = CoverageRequirement(
        ward_id=ward.id,
        role=data.role,
        skill=data.skill.strip() if data.skill else None,
        minimum=data.minimum,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        principal,
        "coverage_created",
        record_type="coverage_requirement",
        record_id=row.id,
        now=now,
        origin=origin,
        details={"after": requirement_json(row, ward.code)},
    )
    return row


def update_requirement(
    session: Session,
    principal: Principal,
    requirement_id: uuid.UUID,
    data: RequirementInput,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> CoverageRequirement:
    _require_coverage(principal)
    row = session.get(CoverageRequirement, requirement_id)
    if row is None:
        raise NotFound("No such coverage requirement.")
    ward = _checked_requirement(session, data)
    before = requirement_json(row, ward_label(session, row.ward_id))
    row.ward_id, row.role, row.minimum = ward.id, data.role, data.minimum
    row.skill = data.skill.strip() if data.skill else None
    session.add(row)
    session.flush()
    _audit(
        session,
        principal,
        "coverage_updated",
        record_type="coverage_requirement",
        record_id=row.id,
        now=now,
        origin=origin,
        details={"before": before, "after": requirement_json(row, ward.code)},
    )
    return row


def delete_requirement(
    session: Session,
    principal: Principal,
    requirement_id: uuid.UUID,
    *,
    now: datetime,
    origin: Origin | None = None,
) -> None:
    _require_coverage(principal)
    row = session.get(CoverageRequirement, requirement_id)
    if row is None:
        raise NotFound("No such coverage requirement.")
    before = requirement_json(row, ward_label(session, row.ward_id))
    session.delete(row)
    session.flush()
    _audit(
        session,
        principal,
        "coverage_deleted",
        record_type="coverage_requirement",
        record_id=requirement_id,
        now=now,
        origin=origin,
        details={"before": before},
    )
