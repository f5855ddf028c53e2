"""The digest of throttled messages (healthguard.notify.digest.plan_digest): one line per
incident, the most urgent first, skipped incidents counted, texts that fit an SMS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from healthguard.notify.digest import SHORT_LIMIT, HeldMessage, plan_digest

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def held(
    n: int,
    priority: str = "P3",
    *,
    incident: int | None = None,
    bed: str | None = None,
    minutes: int = 0,
    stop: str | None = None,
) -> HeldMessage:
    return HeldMessage(
        notification_id=uuid.UUID(int=1000 + n),
        incident_id=uuid.UUID(int=incident if incident is not None else n),
        priority=priority,
        held_at=T0 + timedelta(minutes=minutes),
        ward="Ward 7",
        bed=bed if bed is not None else str(10 + n),
        trigger="NEWS2 5: RR 22",
        number=40 + (incident if incident is not None else n),
        stop=stop,
    )


def test_three_held_alarms_make_one_digest_most_urgent_first() -> None:
    plan = plan_digest(
        [held(1, "P3", minutes=0), held(2, "P4", minutes=1), held(3, "P2", minutes=2)]
    )
    assert plan.title == "3 more alarms while you were throttled"
    assert [m.priority for m in plan.included] == ["P2", "P3", "P4"]
    assert plan.priority == "P2"
    assert plan.body.splitlines() == [
        "3 more alarms while you were throttled:",
        "- P2 bed 13, Ward 7: NEWS2 5: RR 22 (#43)",
        "- P3 bed 11, Ward 7: NEWS2 5: RR 22 (#41)",
        "- P4 bed 12, Ward 7: NEWS2 5: RR 22 (#42)",
    ]
    assert plan.skipped == () and not plan.empty
    assert len(plan.covered) == 3
    assert plan.spoken_text.startswith("3 more alarms while you were throttled. Priority 2, bed 13")


def test_acknowledged_and_resolved_incidents_are_skipped_and_counted() -> None:
    plan = plan_digest(
        [
            held(1),
            held(2, stop="the incident was acknowledged"),
            held(3, stop="the incident was resolved"),
        ]
    )
    assert plan.title == "1 more alarm while you were throttled"
    assert [m.incident_id for m in plan.included] == [uuid.UUID(int=1)]
    assert {m.notification_id for m in plan.skipped} == {uuid.UUID(int=1002), uuid.UUID(int=1003)}
    assert plan.body.splitlines()[-1] == "2 skipped: already acknowledged or resolved"
    assert "2 skipped" in plan.short_text


def test_everything_skipped_sends_nothing() -> None:
    plan = plan_digest([held(1, stop="the person answered")])
    assert plan.empty
    assert plan.covered == ()
    assert len(plan.skipped) == 1
    assert plan_digest([]).empty


def test_several_messages_about_one_incident_are_one_line() -> None:
    plan = plan_digest([held(1, "P3", incident=7), held(2, "P3", incident=7, minutes=5)])
    assert len(plan.included) == 1
    assert len(plan.covered) == 2  # both rows are answered for by the digest
    assert plan.title == "1 more alarm while you were throttled"


def test_the_short_text_fits_and_says_how_many_more() -> None:
    plan = plan_digest([held(n, minutes=n) for n in range(1, 9)])
    assert len(plan.short_text) <= SHORT_LIMIT
    assert plan.short_text.startswith("8 more alarms while you were throttled: P3 bed 11")
    assert plan.short_text.rstrip().split("; and ")[-1].endswith("more")


def test_order_does_not_depend_on_input_order() -> None:
    messages = [held(n, ("P2", "P3", "P4")[n % 3], minutes=n) for n in range(6)]
    assert plan_digest(messages) == plan_digest(list(reversed(messages)))
