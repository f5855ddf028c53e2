"""Who an escalation target is right now: the people behind "the charge nurse of ICU".

The adapter between the pure escalation plan (``healthguard.oncall.escalation.Target``) and
the roster in Postgres. ``resolve(session, incident, target, now=...)`` answers the people to
notify, each with the reason a nurse reads ("on shift as charge nurse of ICU"), or nobody
with why ("nobody is on shift as charge nurse of ICU now"), which the escalation turns into
its next step or the fallback chain.

"On shift now" means a ``Shift`` row with ``starts_at <= now < ends_at``. The role someone
works in is the shift's role when the shift names one, else their staff role (a nurse rostered
as the charge nurse of a night counts as the charge nurse). Staff whose availability is
``off`` are skipped (unless it was only until a time that has passed); busy or on a break
still get the page: an escalation is exactly when someone has to be interrupted.

| kind | who |
| --- | --- |
| assignee | the incident's assignee (the primary nurse) |
| ward_role | on shift on the incident's ward in that role |
| team | on a hospital-wide shift (no ward) in that role; when the roster gives no shift that
  role, the staff of that role on shift anywhere |
| person | that staff member, by staff id or account username (on shift or not: a policy
  that names a person means them) |
| schedule | on shift now through the schedule of that name (shifts derived from it) |
| round_robin | one of that role on shift (on the ward or hospital-wide first), the least
  recently assigned; their ``last_assigned_at`` moves so the next page goes to the next one |
| everyone | everyone on shift on the ward (``ref`` empty), or everyone of a role there |

A handful of queries per target, never one per person.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from healthguard.models import Incident, Schedule, Shift, Staff, User, Ward
from healthguard.models.staff import Availability
from healthguard.oncall.escalation import Target, TargetKind

__all__ = ["Resolution", "Responder", "resolve", "resolve_all", "role_words", "ward_name_of"]

_ROLE_WORDS = {
    "nurse": "nurse",
    "charge_nurse": "charge nurse",
    "resident": "resident",
    "attending": "attending",
    "rapid_response": "rapid-response team member",
    "operator": "hospital operator",
}


def role_words(role: str) -> str:
    return _ROLE_WORDS.get(role, role.replace("_", " "))


@dataclass(frozen=True)
class Responder:
    """A person to notify, and why them."""

    staff_id: uuid.UUID
    name: str
    reason: str  # "on shift as charge nurse of ICU"


@dataclass(frozen=True)
class Resolution:
    """The people a target stands for now; ``why_nobody`` says why when there are none."""

    target: Target
    people: tuple[Responder, ...] = ()
    why_nobody: str = ""


def ward_name_of(session: Session, incident: Incident) -> str | None:
    if incident.ward_id is None:
        return None
    ward = session.get(Ward, incident.ward_id)
    return ward.name if ward is not None else None


def _on_shift(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(col(Shift.starts_at) <= now, col(Shift.ends_at) > now)


def _reachable(now: datetime) -> sa.ColumnElement[bool]:
    """Availability is not ``off`` (or was off only until a time that has passed)."""
    return sa.or_(
        col(Staff.availability) != Availability.OFF.value,
        sa.and_(col(Staff.availability_until).is_not(None), col(Staff.availability_until) <= now),
    )


def _working_role() -> sa.ColumnElement[str]:
    return sa.func.coalesce(col(Shift.role), col(Staff.role))


def _rows(session: Session, query: sa.Select[Any]) -> list[Any]:
    return list(session.execute(query).all())


def _people(rows: Sequence[Any], reason: str) -> tuple[Responder, ...]:
    seen: dict[uuid.UUID, Responder] = {}
    for row in rows:
        if row.id not in seen:
            seen[row.id] = Responder(row.id, row.display_name, reason)
    return tuple(sorted(seen.values(), key=lambda r: (r.name.casefold(), str(r.staff_id))))


def _staff_on_shift(now: datetime, *conditions: sa.ColumnElement[bool]) -> Any:
    query: Any = (
        sa.select(col(Staff.id), col(Staff.display_name), col(Staff.last_assigned_at))
        .join(Shift, col(Shift.staff_id) == col(Staff.id))
        .where(_on_shift(now), _reachable(now), *conditions)
    )
    return query


def resolve(
    session: Session,
    incident: Incident,
    target: Target,
    *,
    now: datetime,
    ward_name: str | None = None,
) -> Resolution:
    """The people ``target`` stands for at ``now`` for ``incident``."""
    ward = ward_name or ward_name_of(session, incident) or "the ward"
    kind = target.kind
    if kind is TargetKind.ASSIGNEE:
        return _assignee(session, incident, target, now)
    if kind is TargetKind.PERSON:
        return _person(session, target, now)
    if kind is TargetKind.SCHEDULE:
        return _schedule(session, target, now)
    if kind is TargetKind.TEAM:
        return _team(session, target, now)
    if incident.ward_id is None and kind is not TargetKind.ROUND_ROBIN:
        return Resolution(target, why_nobody="the incident is not on a ward")
    if kind is TargetKind.WARD_ROLE:
        rows = _rows(
            session,
            _staff_on_shift(
                now, col(Shift.ward_id) == incident.ward_id, _working_role() == target.ref
            ),
        )
        words = role_words(target.ref)
        if not rows:
            return Resolution(target, why_nobody=f"nobody is on shift as {words} of {ward} now")
        return Resolution(target, _people(rows, f"on shift as {words} of {ward}"))
    if kind is TargetKind.ROUND_ROBIN:
        return _round_robin(session, incident, target, now)
    # everyone on shift on the ward, or everyone of a role there
    conditions = [col(Shift.ward_id) == incident.ward_id]
    if target.ref:
        conditions.append(_working_role() == target.ref)
    rows = _rows(session, _staff_on_shift(now, *conditions))
    what = f"as {role_words(target.ref)} " if target.ref else ""
    if not rows:
        return Resolution(target, why_nobody=f"nobody is on shift {what}in {ward} now")
    return Resolution(target, _people(rows, f"on shift {what}in {ward}"))


def resolve_all(
    session: Session, incident: Incident, targets: Sequence[Target], *, now: datetime
) -> list[Resolution]:
    ward = ward_name_of(session, incident)
    return [resolve(session, incident, t, now=now, ward_name=ward) for t in targets]


def _assignee(session: Session, incident: Incident, target: Target, now: datetime) -> Resolution:
    if incident.assignee_staff_id is None:
        return Resolution(target, why_nobody="nobody is assigned to the incident")
    row = session.execute(
        sa.select(col(Staff.id), col(Staff.display_name)).where(
            col(Staff.id) == incident.assignee_staff_id, _reachable(now)
        )
    ).first()
    if row is None:
        return Resolution(target, why_nobody="the assigned nurse is off")
    return Resolution(target, _people([row], "assigned to this incident (primary nurse)"))


def _person(session: Session, target: Target, now: datetime) -> Resolution:
    try:
        staff_id: uuid.UUID | None = uuid.UUID(target.ref)
    except ValueError:  # the username of a staff member's account also names them
        staff_id = session.execute(
            sa.select(col(User.staff_id)).where(col(User.username) == target.ref)
        ).scalar_one_or_none()
    if staff_id is None:
        return Resolution(
            target, why_nobody=f"{target.label or target.ref or 'nobody'} is not a staff member"
        )
    row = session.execute(
        sa.select(col(Staff.id), col(Staff.display_name), col(Staff.availability)).where(
            col(Staff.id) == staff_id
        )
    ).first()
    if row is None:
        return Resolution(target, why_nobody=f"no staff member {target.label or target.ref}")
    reachable = session.execute(
        sa.select(col(Staff.id)).where(col(Staff.id) == staff_id, _reachable(now))
    ).first()
    if reachable is None:
        return Resolution(target, why_nobody=f"{row.display_name} is off")
    return Resolution(target, _people([row], "named directly"))


def _schedule(session: Session, target: Target, now: datetime) -> Resolution:
    schedule = session.execute(
        sa.select(col(Schedule.id), col(Schedule.name)).where(col(Schedule.name) == target.ref)
    ).first()
    if schedule is None:
        return Resolution(target, why_nobody=f"there is no schedule named {target.ref!r}")
    rows = _rows(session, _staff_on_shift(now, col(Shift.schedule_id) == schedule.id))
    if not rows:
        return Resolution(
            target, why_nobody=f"nobody is on call in the {schedule.name} schedule now"
        )
    return Resolution(target, _people(rows, f"on call now in the {schedule.name} schedule"))


def _team(session: Session, target: Target, now: datetime) -> Resolution:
    words = role_words(target.ref)
    rows = _rows(
        session, _staff_on_shift(now, col(Shift.ward_id).is_(None), col(Shift.role) == target.ref)
    )
    if not rows:  # rosters that do not name the shift's role: the staff role decides
        rows = _rows(session, _staff_on_shift(now, col(Staff.role) == target.ref))
    if not rows:
        return Resolution(target, why_nobody=f"no {words} is on shift now")
    return Resolution(target, _people(rows, f"on shift as {words} (hospital-wide)"))


def _round_robin(session: Session, incident: Incident, target: Target, now: datetime) -> Resolution:
    near = sa.or_(col(Shift.ward_id).is_(None), col(Shift.ward_id) == incident.ward_id)
    far = sa.case((near, 0), else_=1).label("far")
    query = (
        _staff_on_shift(now, _working_role() == target.ref)
        .add_columns(far)
        .order_by(
            far,
            col(Staff.last_assigned_at).asc().nulls_first(),
            col(Staff.display_name),
            col(Staff.id),
        )
        .limit(1)
    )
    row = session.execute(query).first()
    words = role_words(target.ref)
    if row is None:
        return Resolution(target, why_nobody=f"no {words} is on shift now")
    session.execute(sa.update(Staff).where(col(Staff.id) == row.id).values(last_assigned_at=now))
    when = row.last_assigned_at
    turn = "never paged in turn before" if when is None else "the longest without a page"
    return Resolution(target, _people([row], f"next {words} in turn ({turn})"))
