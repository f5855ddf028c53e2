"""Alarm rules as data: stored in Postgres (the truth), cached in Redis, invalidated on
every change. The shipped defaults are inserted once and then belong to the hospital."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import cast

import redis
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from healthguard.clinical.rules import DEFAULT_RULES, Rule, validate_rule
from healthguard.models import AlarmRule
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit

log = logging.getLogger(__name__)

CACHE_KEY = "healthguard:alarm-rules"
CACHE_SECONDS = 300


def ensure_default_rules(session: Session, *, now: datetime) -> int:
    """Insert the shipped rules that are not there yet (by key). Returns how many."""
    rows = [
        {
            "key": rule.key,
            "name": rule.name,
            "kind": rule.kind,
            "priority": rule.priority,
            "params": dict(rule.params),
            "enabled": rule.enabled,
            "updated_at": now,
            "updated_by": "system",
        }
        for rule in DEFAULT_RULES
    ]
    if not rows:
        return 0
    for row in rows:
        row["id"] = uuid.uuid4()
    result = session.execute(
        insert(AlarmRule)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(AlarmRule.key))
    )
    return len(result.all())


def rule_of(row: AlarmRule) -> Rule:
    return Rule(
        key=row.key,
        name=row.name,
        kind=row.kind,
        priority=row.priority,
        params=dict(row.params),
        enabled=row.enabled,
    )


def load_rules(session: Session) -> list[Rule]:
    rows = session.exec(select(AlarmRule).order_by(col(AlarmRule.key))).all()
    return [rule_of(r) for r in rows]


def cached_rules(client: redis.Redis, session: Session, *, now: datetime) -> list[Rule]:
    """The enabled rules, from Redis when cached, else from Postgres (and cache them)."""
    try:
        raw = cast(bytes | None, client.get(CACHE_KEY))
    except redis.RedisError:
        raw = None
    if raw:
        try:
            return [Rule(**item) for item in json.loads(raw) if item.get("enabled", True)]
        except (TypeError, ValueError):
            log.warning("alarm rule cache unreadable; reloading from Postgres")
    rules = load_rules(session)
    if not rules:
        ensure_default_rules(session, now=now)
        rules = load_rules(session)
    with contextlib.suppress(redis.RedisError):  # the cache is an optimisation
        client.set(CACHE_KEY, json.dumps([asdict(r) for r in rules]), ex=CACHE_SECONDS)
    return [r for r in rules if r.enabled]


def invalidate_rules(client: redis.Redis) -> None:
    """Call after a rule changes (after commit): every worker reloads on its next batch."""
    try:
        client.delete(CACHE_KEY)
    except redis.RedisError:
        log.warning("could not invalidate the alarm rule cache; it expires by itself")


class InvalidRule(ValueError):
    """A rule that may not be stored; ``errors`` are (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))


def save_rule(
    session: Session, rule: Rule, *, actor: str, now: datetime, origin: Origin
) -> AlarmRule:
    """Create or change a rule (``PUT /alarm-rules/{key}`` and the admin page): validated
    (``InvalidRule`` naming each field), audited with before and after. The caller calls
    ``invalidate_rules`` after the commit."""
    key = rule.key
    if not key.replace("_", "").replace("-", "").isalnum() or len(key) > 64:
        raise InvalidRule([("key", "letters, digits, '_' and '-' only, at most 64")])
    problems = validate_rule(rule)
    if problems:
        raise InvalidRule([(p.field, p.message) for p in problems])
    row = session.exec(select(AlarmRule).where(AlarmRule.key == key)).first()
    before = rule_of(row).__dict__ if row else None
    if row is None:
        row = AlarmRule(key=key, name=rule.name, kind=rule.kind, priority=rule.priority)
    row.name, row.kind, row.priority = rule.name, rule.kind, rule.priority
    row.params, row.enabled = dict(rule.params), rule.enabled
    row.updated_at, row.updated_by = now, actor
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="rule.updated" if before else "rule.created",
        record_type="alarm_rule",
        record_id=key,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"before": before, "after": rule_of(row).__dict__},
        now=now,
    )
    return row
