"""Administering escalation policies: list them, and replace one's definition after
``validate_policy`` (every problem named by its field), audited with before and after."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from healthguard.models import EscalationPolicy, Ward
from healthguard.oncall.default_policies import InvalidPolicy, PolicyError, validate_policy
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit


@dataclass(frozen=True)
class PolicyInfo:
    id: str
    name: str
    priority: str  # "" for any priority
    ward: str  # the ward's code, "" for every ward
    repeat_count: int
    definition: dict[str, Any]
    updated_at: datetime


def list_policies(session: Session) -> list[PolicyInfo]:
    """Every stored policy, by priority, hospital-wide before a ward's own."""
    codes = {w.id: w.code for w in session.exec(select(Ward)).all()}
    rows = session.exec(
        select(EscalationPolicy).order_by(
            col(EscalationPolicy.priority),
            col(EscalationPolicy.ward_id).is_not(None),
            col(EscalationPolicy.name),
        )
    ).all()
    return [
        PolicyInfo(
            id=str(row.id),
            name=row.name,
            priority=row.priority or "",
            ward=codes.get(row.ward_id, "") if row.ward_id else "",
            repeat_count=row.repeat_count,
            definition=dict(row.definition),
            updated_at=row.updated_at,
        )
        for row in rows
    ]


def save_policy(
    session: Session,
    policy_id: uuid.UUID | str,
    definition: Any,
    *,
    actor: str,
    now: datetime,
    origin: Origin,
) -> EscalationPolicy:
    """Replace the definition of a stored policy. Raises ``InvalidPolicy`` (every field
    error) for a bad definition or an unknown policy; incidents already escalating keep the
    run they started with."""
    try:
        key = policy_id if isinstance(policy_id, uuid.UUID) else uuid.UUID(str(policy_id))
    except ValueError:
        raise InvalidPolicy([PolicyError("policy", "no such escalation policy")]) from None
    row = session.get(EscalationPolicy, key, with_for_update=True)
    if row is None:
        raise InvalidPolicy([PolicyError("policy", "no such escalation policy")])
    errors = validate_policy(definition)
    if errors:
        raise InvalidPolicy(errors)
    before = dict(row.definition)
    row.definition = dict(definition)
    row.repeat_count = int(definition.get("repeat_count", 0))
    if definition.get("priority"):
        row.priority = str(definition["priority"])
    row.updated_at = now
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="policy.updated",
        record_type="escalation_policy",
        record_id=str(row.id),
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"name": row.name, "before": before, "after": row.definition},
        now=now,
    )
    return row
