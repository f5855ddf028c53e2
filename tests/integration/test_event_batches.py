"""Group commits of inbound events on a real Postgres: the repeated triggers of a batch are
recorded in one statement, every other event keeps its order within its key and gets a
transaction of its own, an active silence sends every trigger down the general path, and a
batch that opens and resolves incidents no longer deadlocks with a change that holds an
incident's row and waits for the audit chain's lock."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from healthguard.api.integrations import _enqueue_batch, _EventRequest
from healthguard.db import get_engine, session_scope
from healthguard.integrations import pagerduty
from healthguard.integrations import service as svc
from healthguard.models import Incident
from healthguard.models.integrations import InboundEventLog, Integration, Silence
from healthguard.runtime.embedded import wait_until
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit

pytestmark = pytest.mark.integration


@pytest.fixture
def integration(seeded: dict[str, int]) -> Iterator[tuple[Integration, str]]:
    with session_scope() as session:
        made, key = svc.create_integration(
            session,
            name=f"batch gateway {uuid.uuid4().hex[:8]}",
            kind="pagerduty",
            created_by="test",
            now=datetime.now(UTC),
            origin=Origin(),
            default_ward_code="ICU",
            rate_limit_per_minute=svc.MAX_RATE_LIMIT_PER_MINUTE,
        )
        session.expunge(made)
    yield made, key


def trigger(key: str, dedup: str) -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": f"Alert {dedup}", "source": "gw", "severity": "warning"},
    }


def verb(key: str, action: str, dedup: str) -> dict[str, Any]:
    return {"routing_key": key, "event_action": action, "dedup_key": dedup}


def open_incidents(integration: Integration, dedup: str) -> list[Incident]:
    with session_scope() as session:
        return list(
            session.exec(
                select(Incident)
                .where(Incident.dedup_key == svc.incident_dedup_key(integration.id, dedup))
                .order_by(col(Incident.opened_at))
            ).all()
        )


def logged(integration: Integration) -> list[tuple[str, str, str]]:
    with session_scope() as session:
        rows = session.exec(
            select(InboundEventLog)
            .where(InboundEventLog.integration_id == integration.id)
            .order_by(col(InboundEventLog.id))
        ).all()
        return [(r.dedup_key, r.action, r.outcome) for r in rows]


class Statements:
    """Counts the SQL statements sent to Postgres while in use."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> Statements:
        sa.event.listen(get_engine(), "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(get_engine(), "before_cursor_execute", self._seen)

    def _seen(self, *args: object) -> None:
        self.count += 1


def test_repeats_are_one_statement_and_the_others_keep_their_order(
    integration: tuple[Integration, str],
) -> None:
    made, key = integration
    now = datetime.now(UTC)
    with session_scope() as session:  # open incidents for "a" and "b"
        for dedup in ("a", "b"):
            svc.accept_event(session, made, pagerduty.parse_enqueue(trigger(key, dedup)), now=now)
    bodies = [
        trigger(key, "b"),  # 0: a repeat
        trigger(key, "a"),  # 1: a repeat (before the resolve of "a")
        verb(key, "resolve", "a"),  # 2
        trigger(key, "c"),  # 3: opens "c"
        trigger(key, "a"),  # 4: after the resolve: opens a second incident for "a"
        trigger(key, "a"),  # 5: then a repeat of that one
        trigger(key, "b"),  # 6: a repeat
    ]
    events = [(made, pagerduty.parse_enqueue(b), now + timedelta(seconds=1)) for b in bodies]
    with session_scope() as session, Statements() as statements:
        repeats, rest = svc.accept_repeats(session, events)
        assert statements.count == 1  # every repeat of the batch in one statement
    assert sorted(repeats) == [0, 1, 6]
    assert all(o.outcome == "updated" for o in repeats.values())
    # By key ("a" < "c"), the order of arrival kept within a key; the triggers tried as
    # repeats that found no open incident ("c") are among them.
    assert rest == [2, 4, 5, 3]
    for n in rest:
        with session_scope() as session:
            integration_row, event, at = events[n]
            outcome = svc.accept_event(session, integration_row, event, now=at)
        assert outcome.outcome == {2: "resolved", 4: "opened", 5: "updated", 3: "opened"}[n]
    first_a, second_a = open_incidents(made, "a")
    assert first_a.status == "resolved" and second_a.status == "triggered"
    assert [i.status for i in open_incidents(made, "b")] == ["triggered"]
    assert [i.status for i in open_incidents(made, "c")] == ["triggered"]
    assert sorted(logged(made)) == sorted(
        [("a", "trigger", "opened"), ("b", "trigger", "opened")]
        + [("b", "trigger", "updated")] * 2
        + [("a", "trigger", "updated"), ("a", "resolve", "resolved")]
        + [("a", "trigger", "opened"), ("a", "trigger", "updated"), ("c", "trigger", "opened")]
    )


def test_an_active_silence_sends_every_trigger_down_the_general_path(
    integration: tuple[Integration, str],
) -> None:
    made, key = integration
    now = datetime.now(UTC)
    with session_scope() as session:
        svc.accept_event(session, made, pagerduty.parse_enqueue(trigger(key, "s")), now=now)
        session.add(
            Silence(
                integration_id=made.id,
                starts_at=now,
                ends_at=now + timedelta(hours=1),
                reason="gateway maintenance",
                created_by="admin",
            )
        )
    try:
        events = [(made, pagerduty.parse_enqueue(trigger(key, "s")), now + timedelta(seconds=1))]
        with session_scope() as session:
            repeats, rest = svc.accept_repeats(session, events)
            assert (repeats, rest) == ({}, [0])
            outcome = svc.accept_event(session, *events[0][:2], now=events[0][2])
        assert outcome.outcome == "suppressed"  # recorded, naming the silence
    finally:
        with session_scope() as session:
            session.execute(sa.delete(Silence).where(col(Silence.integration_id) == made.id))


def test_a_batch_does_not_deadlock_with_a_change_waiting_for_the_audit_lock(
    integration: tuple[Integration, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A change elsewhere holds incident X's row and then records its audit row; a batch
    opens an incident (an audit row) and resolves X. In one transaction the batch would hold
    the audit chain's lock while waiting for X's row: a deadlock, one of the two failing.
    Each change of a batch now commits on its own."""
    made, key = integration
    now = datetime.now(UTC)
    with session_scope() as session:
        svc.accept_event(session, made, pagerduty.parse_enqueue(trigger(key, "x")), now=now)
    [incident_x] = open_incidents(made, "x")
    holding, errors = threading.Event(), []

    def change_elsewhere() -> None:
        try:
            with session_scope() as session:
                session.execute(
                    sa.text("UPDATE incidents SET updated_at = now() WHERE id = :id"),
                    {"id": incident_x.id},
                )
                holding.set()
                assert wait_until(_someone_waits_for_a_row, 30, interval=0.05)
                record_audit(
                    session,
                    actor="test",
                    action="incident.updated",
                    record_type="incident",
                    record_id=str(incident_x.id),
                    now=datetime.now(UTC),
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    other = threading.Thread(target=change_elsewhere)
    other.start()
    assert holding.wait(30)
    items = [
        _EventRequest(body, key, request=None, origin=Origin(), now=datetime.now(UTC))  # type: ignore[arg-type]
        for body in (trigger(key, "w-new"), verb(key, "resolve", "x"))  # "...:w-new" < "...:x"
    ]
    with caplog.at_level(logging.WARNING, logger="healthguard.api.integrations"):
        answers = _enqueue_batch(items)
    other.join(60)
    assert not errors, errors  # the change elsewhere was not a deadlock's victim...
    assert "failed" not in caplog.text  # ...nor was the batch (then retried event by event)
    assert [a if isinstance(a, BaseException) else a[0].status_code for a in answers] == [
        202,
        202,
    ]
    assert [i.status for i in open_incidents(made, "x")] == ["resolved"]
    assert [i.status for i in open_incidents(made, "w-new")] == ["triggered"]


def _someone_waits_for_a_row() -> bool:
    with session_scope() as session:
        return bool(
            session.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                )
            ).scalar_one()
        )
