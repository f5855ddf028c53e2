"""RQ jobs. Each re-reads what it needs from Postgres and publishes only after commit."""

from __future__ import annotations

from datetime import UTC, datetime

from healthguard.db import session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import Ward
from healthguard.realtime import ChangeEvent, publish_change
from workers.queues import redis_connection


def open_incident_job(
    title: str,
    priority: str,
    ward_code: str | None = None,
    bed_label: str | None = None,
    summary: str = "",
    source: str = "worker",
    dedup_key: str | None = None,
) -> str:
    """Open an incident, commit, then tell every screen. Returns the incident id."""
    with session_scope() as session:
        incident = open_incident(
            session,
            title=title,
            priority=priority,
            now=datetime.now(UTC),
            summary=summary,
            ward_code=ward_code,
            bed_label=bed_label,
            source=source,
            dedup_key=dedup_key,
        )
        incident_id = str(incident.id)
        ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
        ward_code = ward.code if ward else None
    # The session has committed here: screens that reload now see the whole incident.
    publish_change(
        redis_connection(),
        ChangeEvent(kind="incident.opened", entity_id=incident_id, ward_code=ward_code),
    )
    return incident_id
