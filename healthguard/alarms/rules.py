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

from healthguard.clinical.rules import DEFAULT_RULES, Rule
from healthguard.models import AlarmRule

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
