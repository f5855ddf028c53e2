"""Who may see an incident, and acknowledging as a signed-in person: the one path the API
and the UI share (visibility check, action, commit, then the live update)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from healthguard.db import session_scope
from healthguard.incidents.actions import IncidentStateError, acknowledge_incident
from healthguard.models import Incident, Ward
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.security.permissions import Principal
from healthguard.security.scope import ward_scope


def visible_incident(
    session: Session, principal: Principal, incident_id: uuid.UUID, *, now: datetime
) -> Incident | None:
    """The incident if it exists and the person may see it: in their wards, or assigned to
    them. None otherwise, answered exactly like an incident that does not exist."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    assigned = (
        principal.staff_id is not None
        and incident.assignee_staff_id is not None
        and str(incident.assignee_staff_id) == principal.staff_id
    )
    if assigned or ward_scope(session, principal, now=now).covers(incident.ward_id):
        return incident
    return None


@dataclass(frozen=True)
class Acknowledged:
    incident_id: uuid.UUID
    number: int
    ward_code: str | None


def acknowledge_as(
    principal: Principal,
    incident_id: uuid.UUID,
    *,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Acknowledged:
    """Acknowledge for `principal` (IncidentStateError "not_found" when it may not see it,
    "already_acknowledged" / "already_resolved" when it no longer applies); commits, then
    tells every screen."""
    with session_scope() as session:
        if visible_incident(session, principal, incident_id, now=now) is None:
            raise IncidentStateError("not_found", "No such incident.")
        incident = acknowledge_incident(
            session, incident_id, actor=principal.audit_name, now=now, ip=ip, user_agent=user_agent
        )
        ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
        done = Acknowledged(incident.id, int(incident.number or 0), ward.code if ward else None)
    from workers.queues import redis_connection

    publish_change(
        redis_connection(),
        ChangeEvent(
            kind="incident.acknowledged", entity_id=str(incident_id), ward_code=done.ward_code
        ),
    )
    return done
