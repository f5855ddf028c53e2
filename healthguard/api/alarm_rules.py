"""Alarm rules: read by anyone signed in, changed by admins (validated, audited, cache
invalidated so every worker uses the change on its next batch)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from healthguard.alarms.rules import (
    InvalidRule,
    ensure_default_rules,
    invalidate_rules,
    save_rule,
)
from healthguard.api.security import current_principal, request_origin, secured
from healthguard.clinical.rules import Rule
from healthguard.db import session_scope
from healthguard.models import AlarmRule
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
    rule = Rule(
        key=key,
        name=body.name,
        kind=body.kind,
        priority=body.priority,
        params=body.params,
        enabled=body.enabled,
    )
    now, origin = datetime.now(UTC), request_origin(request)
    try:
        with session_scope() as session:
            out = _out(save_rule(session, rule, actor=principal.audit_name, now=now, origin=origin))
    except InvalidRule as exc:
        raise HTTPException(422, str(exc)) from None
    invalidate_rules(redis_connection())
    return out
