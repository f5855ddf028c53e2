"""Load incidents and their timelines for the response metrics (the adapter in front of the
pure `incidents.metrics`): two queries, limited to the wards a person may see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from healthguard.incidents.metrics import IncidentFacts, with_timelines
from healthguard.models import Incident, IncidentEvent, Ward
from healthguard.security.permissions import WardScope

MAX_INCIDENTS = 50_000  # one query's worth; a longer range must be narrowed


class TooManyIncidents(Exception):
    """More than MAX_INCIDENTS incidents in the range (narrow it)."""


def incident_facts(
    session: Session, scope: WardScope, *, opened_from: datetime, opened_to: datetime
) -> list[IncidentFacts]:
    """The incidents opened in [opened_from, opened_to) in `scope`'s wards (every ward, with
    incidents of no ward, when the scope is the whole hospital), each with its timeline."""
    incidents: Any = Incident.__table__  # type: ignore[attr-defined]
    wards: Any = Ward.__table__  # type: ignore[attr-defined]
    events: Any = IncidentEvent.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(
            incidents.c.id,
            incidents.c.number,
            incidents.c.priority,
            wards.c.code,
            incidents.c.opened_at,
        )
        .select_from(incidents.outerjoin(wards, wards.c.id == incidents.c.ward_id))
        .where(incidents.c.opened_at >= opened_from, incidents.c.opened_at < opened_to)
        .order_by(incidents.c.opened_at)
        .limit(MAX_INCIDENTS + 1)
    )
    if not scope.all_wards:
        ward_ids = [uuid.UUID(w) for w in scope.ward_ids]
        query = query.where(incidents.c.ward_id == sa.any_(sa.literal(ward_ids, ARRAY(sa.Uuid()))))
    heads = session.execute(query).all()
    if len(heads) > MAX_INCIDENTS:
        raise TooManyIncidents(f"more than {MAX_INCIDENTS} incidents in the range")
    facts = [
        IncidentFacts(id=str(i), number=n, priority=p, ward_code=w, opened_at=at)
        for i, n, p, w, at in heads
    ]
    if not facts:
        return []
    ids = [row[0] for row in heads]
    rows = session.execute(
        sa.select(events.c.incident_id, events.c.at, events.c.kind, events.c.actor, events.c.data)
        .where(events.c.incident_id == sa.any_(sa.literal(ids, ARRAY(sa.Uuid()))))
        .order_by(events.c.incident_id, events.c.at, events.c.id)
    ).all()
    return with_timelines(facts, [tuple(r) for r in rows])
