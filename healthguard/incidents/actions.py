"""What people do to an incident. One function per action, called by the API, the UI and
(later) webhooks alike, so each writes the same timeline entry and audit record. Callers
check permission and scope first, commit, then publish the change."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, select

from healthguard.models import Incident, IncidentEvent
from healthguard.models.incidents import IncidentStatus
from healthguard.security.audit import record_audit


class IncidentStateError(Exception):
    """The action does not apply to the incident as it is now (`code` for machines)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def acknowledge_incident(
    session: Session,
    incident_id: uuid.UUID,
    *,
    actor: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Incident:
    """Triggered -> acknowledged, with a timeline entry and an audit record.

    The row is locked for the transaction, so two people acknowledging at once give one
    acknowledgement and one IncidentStateError("already_acknowledged")."""
    incident = session.exec(
        select(Incident).where(Incident.id == incident_id).with_for_update()
    ).first()
    if incident is None:
        raise IncidentStateError("not_found", "No such incident.")
    if incident.status == IncidentStatus.ACKNOWLEDGED.value:
        raise IncidentStateError(
            "already_acknowledged",
            f"Incident #{incident.number} was already acknowledged at "
            f"{incident.acknowledged_at.isoformat() if incident.acknowledged_at else '?'}.",
        )
    if incident.status == IncidentStatus.RESOLVED.value:
        raise IncidentStateError(
            "already_resolved", f"Incident #{incident.number} is already resolved."
        )
    incident.status = IncidentStatus.ACKNOWLEDGED.value
    incident.acknowledged_at = now
    incident.updated_at = now
    incident.version += 1
    session.add(incident)
    session.add(
        IncidentEvent(
            incident_id=incident.id,
            at=now,
            kind="acknowledged",
            actor=actor,
            message=f"Acknowledged by {actor}",
            data={},
        )
    )
    record_audit(
        session,
        actor=actor,
        action="incident.acknowledged",
        record_type="incident",
        record_id=str(incident.id),
        ip=ip,
        user_agent=user_agent,
        details={"number": incident.number, "version": incident.version},
        now=now,
    )
    session.flush()
    return incident
