"""Alarm rules: read by anyone signed in, changed by admins (validated, audited, cache
invalidated so every worker uses the change on its next batch)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from healthguard.alarms.rules import ensure_default_rules, invalidate_rules, rule_of
from healthguard.api.security import current_principal, request_origin, secured
from healthguard.clinical.rules import Rule, validate_rule
from healthguard.db import session_scope
from healthguard.models import AlarmRule
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal
from workers.queues import redis_connection

router = APIRouter(prefix="/alarm-rules", tags=["alarm rules"])


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32)
    priority: str = Field(pattern="^P[0-4]$")
    params: dict[str, Any]
    enabled: bool = True


class RuleOut(RuleIn):
    key: str
    updated_at: datetime
    updated_by: str


def _out(row: AlarmRule) -> RuleOut:
    return RuleOut(
        key=row.key,
        name=row.name,
        kind=row.kind,
        priority=row.priority,
        params=dict(row.params),
        enabled=row.enabled,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


@router.get(
    "",
    response_model=list[RuleOut],
    summary="The alarm rules in force",
    **secured(Permission.SELF_READ),
)
def list_rules() -> list[RuleOut]:
    with session_scope() as session:
        ensure_default_rules(session, now=datetime.now(UTC))
        rows = session.exec(select(AlarmRule).order_by(col(AlarmRule.key))).all()
        return [_out(r) for r in rows]


@router.put(
    "/{key}",
    response_model=RuleOut,
    summary="Create or change an alarm rule (validated; audited)",
    responses={422: {"description": "The rule's parameters are not valid; each is named"}},
    **secured(Permission.RULES_MANAGE),
)
def put_rule(
    key: str, body: RuleIn, request: Request, principal: Principal = Depends(current_principal)
) -> RuleOut:
    if not key.replace("_", "").replace("-", "").isalnum() or len(key) > 64:
        raise HTTPException(422, "key: letters, digits, '_' and '-' only, at most 64")
    rule = Rule(
        key=key,
        name=body.name,
        kind=body.kind,
        priority=body.priority,
        params=body.params,
        enabled=body.enabled,
    )
    problems = validate_rule(rule)
    if problems:
        raise HTTPException(422, "; ".join(f"{p.field}: {p.message}" for p in problems))
    now, origin = datetime.now(UTC), request_origin(request)
    with session_scope() as session:
        row = session.exec(select(AlarmRule).where(AlarmRule.key == key)).first()
        before = rule_of(row).__dict__ if row else None
        if row is None:
            row = AlarmRule(key=key, name=body.name, kind=body.kind, priority=body.priority)
        row.name, row.kind, row.priority = body.name, body.kind, body.priority
        row.params, row.enabled = body.params, body.enabled
        row.updated_at, row.updated_by = now, principal.audit_name
        session.add(row)
        session.flush()
        record_audit(
            session,
            actor=principal.audit_name,
            action="rule.updated" if before else "rule.created",
            record_type="alarm_rule",
            record_id=key,
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"before": before, "after": rule_of(row).__dict__},
            now=now,
        )
        out = _out(row)
    invalidate_rules(redis_connection())
    return out
