"""Who may see an incident, and acknowledging as a signed-in person (the API's acknowledge
route and the dashboard's Acknowledge button share it; both go through
healthguard/incidents/workflow.py like every other action)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from healthguard.incidents.errors import IncidentStateError
from healthguard.models import Incident
from healthguard.security.permissions import Principal
from healthguard.security.scope import ward_scope


def can_see(session: Session, principal: Principal, incident: Incident, *, now: datetime) -> bool:
    """True when the incident is on a ward in the person's scope or assigned to them."""
    assigned = (
        principal.staff_id is not None
        and incident.assignee_staff_id is not None
        and str(incident.assignee_staff_id) == principal.staff_id
    )
    return assigned or ward_scope(session, principal, now=now).covers(incident.ward_id)


def visible_incident(
    session: Session, principal: Principal, incident_id: uuid.UUID, *, now: datetime
) -> Incident | None:
    """The incident if it exists and the person may see it: in their wards, or assigned to
    them. None otherwise, answered exactly like an incident that does not exist."""
    incident = session.get(Incident, incident_id)
    if incident is None or not can_see(session, principal, incident, now=now):
        return None
    return incident


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
    """Acknowledge for `principal` through the workflow (IncidentStateError "not_found" when
    it may not see it; otherwise the lifecycle's refusal code and message, e.g.
    "illegal_transition" / "Incident #12 is already acknowledged by ana.lopez at ...");
    commits, then tells every screen."""
    from healthguard.incidents.lifecycle import Acknowledge, Refusal
    from healthguard.incidents.workflow import perform_as
    from healthguard.security.accounts import Origin

    result = perform_as(
        principal,
        incident_id,
        Acknowledge(),
        now=now,
        origin=Origin(ip=ip, user_agent=user_agent),
    )
    if isinstance(result, Refusal):
        raise IncidentStateError(result.code.value, result.message)
    return Acknowledged(result.incident.id, int(result.incident.number or 0), result.ward_code)
