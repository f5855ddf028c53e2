"""Assign an incident to the best person on shift, and say why in its timeline.

``assign_incident(session, incident, now=...)`` loads the roster around the incident's ward
in five queries whatever the number of staff (the people, the shifts they are on now, their
skills, the wards they cover, the open incidents they hold), ranks them with the pure
``healthguard.oncall.assignment.rank_candidates`` and, in the caller's transaction:

- sets ``incident.assignee_staff_id`` and the person's ``last_assigned_at`` (fairness);
- writes an ``assigned`` timeline entry: the reason sentence ("Assigned to Zoe Taylor: on
  shift in ICU, critical care (no expiry), no open incidents, no assignment yet") with the
  top candidates and their scores and how many were excluded in ``data``.

When nobody qualifies the incident stays unassigned and a ``not_assigned`` entry gives the
reason ("no nurse on shift in Cardiology holds a valid ACLS or critical care") and the plan:
the escalation's first step then finds no assignee and goes straight to the charge nurse.

Who is considered: everyone on shift on the ward or hospital-wide, and everyone whose home
ward it is or who covers it (on shift elsewhere, or off: the excluded list says why not
them). An incident without a ward is ranked among the hospital-wide shifts. Availability is
``Staff.availability``, back to available once ``availability_until`` has passed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Session, col

from healthguard.models import Incident, IncidentEvent, Shift, Staff, StaffSkill, StaffWardCover
from healthguard.models.hospital import Ward
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.models.staff import Availability
from healthguard.oncall.assignment import Candidate, IncidentNeed, Ranking, rank_candidates
from healthguard.settings import get_settings

__all__ = ["HOSPITAL", "TOP", "assign_incident", "load_candidates"]

TOP = 3  # candidates kept in the timeline entry
HOSPITAL = "the hospital"  # the "ward" of an incident that is not on one


def _any(ids: list[uuid.UUID]) -> Any:
    """``= ANY(:ids)`` with the ids as one uuid[] parameter (the statement text, and so its
    caches, do not depend on how many there are)."""
    return sa.any_(sa.bindparam("ids", ids, type_=ARRAY(PG_UUID(as_uuid=True))))


def _on_shift(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(col(Shift.starts_at) <= now, col(Shift.ends_at) > now)


def load_candidates(
    session: Session,
    ward_id: uuid.UUID | None,
    now: datetime,
    *,
    exclude_incident: uuid.UUID | None = None,
) -> list[Candidate]:
    """The roster around ``ward_id`` (None: hospital-wide) as the ranking sees it."""
    here: sa.ColumnElement[bool] = col(Shift.ward_id).is_(None)
    if ward_id is not None:
        here = sa.or_(here, col(Shift.ward_id) == ward_id)
    near: sa.ColumnElement[bool] = col(Staff.id).in_(
        sa.select(col(Shift.staff_id)).where(_on_shift(now), here)
    )
    if ward_id is not None:
        covering = sa.select(col(StaffWardCover.staff_id)).where(
            col(StaffWardCover.ward_id) == ward_id
        )
        near = sa.or_(near, col(Staff.home_ward_id) == ward_id, col(Staff.id).in_(covering))
    people = session.execute(
        sa.select(
            col(Staff.id),
            col(Staff.display_name),
            col(Staff.role),
            col(Staff.home_ward_id),
            col(Staff.availability),
            col(Staff.availability_until),
            col(Staff.last_assigned_at),
        ).where(near)
    ).all()
    if not people:
        return []
    ids = _any([p.id for p in people])  # one array parameter, not one per person

    def rank(shift_ward: uuid.UUID | None) -> int:  # this ward, hospital-wide, elsewhere
        if shift_ward is None:
            return 1
        return 0 if shift_ward == ward_id else 2

    shifts: dict[uuid.UUID, tuple[uuid.UUID | None, str | None]] = {}
    for row in session.execute(
        sa.select(col(Shift.staff_id), col(Shift.ward_id), col(Ward.name))
        .outerjoin(Ward, col(Ward.id) == col(Shift.ward_id))
        .where(_on_shift(now), col(Shift.staff_id) == ids)
        .order_by(col(Shift.starts_at))
    ):
        # On two shifts at once (an overlap at handover): the one on this ward counts, else
        # the hospital-wide one, else the first.
        held = shifts.get(row.staff_id)
        if held is None or rank(row.ward_id) < rank(held[0]):
            shifts[row.staff_id] = (row.ward_id, row.name)

    skills: dict[uuid.UUID, dict[str, date | None]] = defaultdict(dict)
    for row in session.execute(
        sa.select(
            col(StaffSkill.staff_id), col(StaffSkill.skill), col(StaffSkill.expires_on)
        ).where(col(StaffSkill.staff_id) == ids)
    ):
        skills[row.staff_id][row.skill] = row.expires_on

    covers: dict[uuid.UUID, set[str]] = defaultdict(set)
    for row in session.execute(
        sa.select(col(StaffWardCover.staff_id), col(StaffWardCover.ward_id)).where(
            col(StaffWardCover.staff_id) == ids
        )
    ):
        covers[row.staff_id].add(str(row.ward_id))

    held_open: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    open_query = (
        sa.select(col(Incident.assignee_staff_id), col(Incident.priority), sa.func.count())
        .where(col(Incident.assignee_staff_id) == ids, col(Incident.status).in_(OPEN_STATUSES))
        .group_by(col(Incident.assignee_staff_id), col(Incident.priority))
    )
    if exclude_incident is not None:
        open_query = open_query.where(col(Incident.id) != exclude_incident)
    for staff_id, priority, count in session.execute(open_query):
        held_open[staff_id][priority] = int(count)

    candidates = []
    for p in people:
        availability = p.availability
        if (
            availability != Availability.AVAILABLE.value
            and p.availability_until is not None
            and p.availability_until <= now
        ):
            availability = Availability.AVAILABLE.value
        shift = shifts.get(p.id)
        candidates.append(
            Candidate(
                staff_id=str(p.id),
                display_name=p.display_name,
                role=p.role,
                skills=skills.get(p.id, {}),
                home_ward_id=str(p.home_ward_id) if p.home_ward_id else None,
                covered_ward_ids=frozenset(covers.get(p.id, ())),
                on_shift=shift is not None,
                shift_ward_id=str(shift[0]) if shift and shift[0] else None,
                shift_ward_name=shift[1] if shift else None,
                availability=availability,
                open_incidents=held_open.get(p.id, {}),
                last_assigned_at=p.last_assigned_at,
            )
        )
    return candidates


def _ranked_json(ranking: Ranking) -> list[dict[str, Any]]:
    return [
        {
            "staff_id": r.staff_id,
            "name": r.display_name,
            "role": str(r.role),
            "score": r.score.total,
            "proximity": r.score.proximity,
            "workload": r.score.workload,
            "fairness": r.score.fairness,
            "skills": r.score.skills,
            "reason": r.reason,
        }
        for r in ranking.ranked
    ]


def assign_incident(session: Session, incident: Incident, *, now: datetime) -> Ranking:
    """Rank, assign the first (or record why nobody), in the caller's transaction."""
    ward = session.get(Ward, incident.ward_id) if incident.ward_id is not None else None
    need = IncidentNeed(
        priority=incident.priority,
        ward_id=str(ward.id) if ward is not None else "",
        ward_name=ward.name if ward is not None else HOSPITAL,
    )
    candidates = load_candidates(
        session, ward.id if ward is not None else None, now, exclude_incident=incident.id
    )
    # Certificates count through their expiry date in the hospital's zone (as in the gaps).
    ranking = rank_candidates(need, candidates, now, top=TOP, time_zone=get_settings().timezone)
    data: dict[str, Any] = {
        "candidates": _ranked_json(ranking),
        "qualified": ranking.qualified,
        "excluded": len(ranking.left_out),
    }
    first = ranking.first
    if first is not None:
        staff_id = uuid.UUID(first.staff_id)
        incident.assignee_staff_id = staff_id
        session.add(incident)
        session.execute(
            sa.update(Staff).where(col(Staff.id) == staff_id).values(last_assigned_at=now)
        )
        data["assignee_staff_id"] = first.staff_id
        data["assignee"] = first.display_name
        kind, message = "assigned", f"Assigned to {first.display_name}: {first.reason}"
    else:
        fallback = ranking.fallback
        assert fallback is not None
        data["assignee_staff_id"] = None
        data["fallback"] = fallback.reason
        data["plan"] = fallback.plan
        kind, message = "not_assigned", f"Not assigned: {fallback.reason}; {fallback.plan}"
    session.add(
        IncidentEvent(
            incident_id=incident.id, at=now, kind=kind, actor="system", message=message, data=data
        )
    )
    session.flush()
    return ranking
