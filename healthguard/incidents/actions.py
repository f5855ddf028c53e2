"""Acknowledging an incident for an actor the caller has already checked (permission and
scope), on the one path of every incident action (healthguard/incidents/workflow.py).

Kept for callers that act under a name rather than as a signed-in principal; people go
through ``workflow.perform`` / ``perform_as`` (``access.acknowledge_as`` for the Acknowledge
button and the API route)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from healthguard.incidents.errors import IncidentNotFound, IncidentStateError
from healthguard.incidents.lifecycle import Acknowledge, Refusal
from healthguard.incidents.workflow import apply_command, lock_incident
from healthguard.models import Incident
from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission

__all__ = ["IncidentNotFound", "IncidentStateError", "acknowledge_incident"]


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

    The row is locked for the transaction and written with ``WHERE version = :seen``, so two
    people acknowledging at once give one acknowledgement and one IncidentStateError (code
    "illegal_transition": "Incident #12 is already acknowledged by ana.lopez at ...")."""
    incident = lock_incident(session, incident_id)
    if incident is None:
        raise IncidentNotFound()
    result = apply_command(
        session,
        incident,
        Acknowledge(),
        actor=actor,
        permissions={Permission.INCIDENTS_ACKNOWLEDGE},
        now=now,
        origin=Origin(ip=ip, user_agent=user_agent),
    )
    if isinstance(result, Refusal):
        raise IncidentStateError(result.code.value, result.message)
    return result
