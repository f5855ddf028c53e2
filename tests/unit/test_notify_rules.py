"""Per-person notification rules (healthguard.notify.rules): urgency, default steps, contact
filtering, the unreachable flag, quiet hours across midnight and DST, the P0/P1 bypass and
the stop rule. Every clock is a fixed aware datetime."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from healthguard.models.notifications import Channel
from healthguard.notify.rules import (
    DEFAULT_RULE_SET,
    ContactMethods,
    DeliveryPlan,
    PlannedDelivery,
    QuietHours,
    RuleSet,
    Step,
    StopReason,
    Urgency,
    cancel_after_answer,
    plan_deliveries,
    urgency_for,
)

pytestmark = pytest.mark.unit

BERLIN = "Europe/Berlin"
NOON = datetime(2026, 1, 14, 11, 0, tzinfo=UTC)  # 12:00 in Berlin (CET)
NIGHT = datetime(2026, 1, 14, 2, 0, tzinfo=UTC)  # 03:00 in Berlin
EVERYTHING = ContactMethods(
    phone="+4915112345678",
    email="ana@example.org",
    pager_id="PG-117",
    push_subscriptions=("https://push.example/abc",),
)
NIGHTS = RuleSet(quiet_hours=QuietHours(time(22, 0), time(7, 0)))

C = Channel


def schedule(plan: DeliveryPlan, now: datetime) -> list[tuple[Channel, int]]:
    return [(d.channel, int((d.due_at - now).total_seconds())) for d in plan.deliveries]


# --- urgency ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "urgency"),
    [
        ("P0", Urgency.HIGH),
        ("P1", Urgency.HIGH),
        ("P2", Urgency.MEDIUM),
        ("P3", Urgency.LOW),
        ("P4", Urgency.LOW),
        (" p1 ", Urgency.HIGH),
    ],
)
def test_urgency_mapping(priority: str, urgency: Urgency) -> None:
    assert urgency_for(priority) is urgency


@pytest.mark.parametrize("bad", ["P5", "", "high"])
def test_unknown_priority_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="priority"):
        urgency_for(bad)
    with pytest.raises(ValueError, match="priority"):
        plan_deliveries(DEFAULT_RULE_SET, EVERYTHING, bad, NOON, BERLIN)


# --- default rules and contact methods ----------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("P0", [(C.IN_APP, 0), (C.PUSH, 0), (C.PAGER, 0), (C.SMS, 30), (C.VOICE, 60)]),
        ("P1", [(C.IN_APP, 0), (C.PUSH, 0), (C.PAGER, 0), (C.SMS, 30), (C.VOICE, 60)]),
        ("P2", [(C.IN_APP, 0), (C.PUSH, 0), (C.SMS, 120), (C.PAGER, 120)]),
        ("P3", [(C.IN_APP, 0), (C.PUSH, 0)]),
        ("P4", [(C.IN_APP, 0), (C.PUSH, 0)]),
    ],
)
def test_default_rules_with_every_contact_method(
    priority: str, expected: list[tuple[Channel, int]]
) -> None:
    plan = plan_deliveries(DEFAULT_RULE_SET, EVERYTHING, priority, NOON, BERLIN)
    assert schedule(plan, NOON) == expected
    assert plan.priority == priority
    assert not plan.unreachable and plan.unreachable_reason is None
    assert plan.skipped == ()
    assert all(priority in d.reason for d in plan.deliveries if d.channel is not C.IN_APP)


def test_due_times_count_from_now_and_keep_its_zone() -> None:
    now = datetime(2026, 1, 14, 12, 0, 7, tzinfo=ZoneInfo(BERLIN))
    plan = plan_deliveries(DEFAULT_RULE_SET, EVERYTHING, "P1", now, BERLIN)
    voice = [d for d in plan.deliveries if d.channel is C.VOICE]
    assert voice[0].due_at == now + timedelta(seconds=60)
    assert voice[0].due_at.tzinfo is now.tzinfo


def test_missing_phone_skips_sms_and_voice_with_a_reason() -> None:
    contacts = ContactMethods(pager_id="PG-1", push_subscriptions=("sub",))
    plan = plan_deliveries(DEFAULT_RULE_SET, contacts, "P0", NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0), (C.PUSH, 0), (C.PAGER, 0)]
    assert [(s.channel, s.reason) for s in plan.skipped] == [
        (C.SMS, "SMS skipped: no phone number"),
        (C.VOICE, "Voice call skipped: no phone number"),
    ]
    assert not plan.unreachable


def test_blank_values_count_as_missing() -> None:
    contacts = ContactMethods(phone="  ", email="", pager_id=None, push_subscriptions=("",))
    assert contacts.channels() == {C.IN_APP}
    assert not contacts.has_any
    plan = plan_deliveries(DEFAULT_RULE_SET, contacts, "P1", NOON, BERLIN)
    assert plan.unreachable


def test_contact_channels() -> None:
    assert EVERYTHING.channels() == frozenset(Channel)
    assert ContactMethods(phone="+1").channels() == {C.IN_APP, C.SMS, C.VOICE}
    assert ContactMethods(email="a@b.c").channels() == {C.IN_APP, C.EMAIL}


@pytest.mark.parametrize("priority", ["P0", "P1", "P2", "P3", "P4"])
def test_no_contact_method_at_all_is_in_app_only_and_unreachable(priority: str) -> None:
    plan = plan_deliveries(DEFAULT_RULE_SET, ContactMethods(), priority, NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0)]
    assert plan.unreachable is True
    assert plan.unreachable_reason is not None
    assert "no contact method" in plan.unreachable_reason
    assert "escalation" in plan.unreachable_reason
    assert plan.skipped  # every external step is accounted for


def test_contacts_that_the_rule_does_not_use_are_unreachable_too() -> None:
    # Only an email address, and the high-urgency rule never emails.
    plan = plan_deliveries(DEFAULT_RULE_SET, ContactMethods(email="a@b.c"), "P0", NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0)]
    assert plan.unreachable
    assert plan.unreachable_reason is not None
    assert "none of the channels of the high urgency rule" in plan.unreachable_reason
    assert "SMS" in plan.unreachable_reason


def test_one_usable_channel_is_enough_to_be_reachable() -> None:
    plan = plan_deliveries(DEFAULT_RULE_SET, ContactMethods(phone="+1"), "P3", NOON, BERLIN)
    # P3 uses push only outside the app: a phone does not help, so unreachable.
    assert plan.unreachable
    plan = plan_deliveries(DEFAULT_RULE_SET, ContactMethods(phone="+1"), "P2", NOON, BERLIN)
    assert not plan.unreachable
    assert schedule(plan, NOON) == [(C.IN_APP, 0), (C.SMS, 120)]


def test_an_in_app_only_rule_is_not_unreachable_when_contacts_exist() -> None:
    rules = RuleSet(low=(Step(C.IN_APP, 0),))
    plan = plan_deliveries(rules, EVERYTHING, "P4", NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0)]
    assert not plan.unreachable


def test_in_app_is_added_when_the_rule_forgot_it() -> None:
    rules = RuleSet(high=(Step(C.SMS, 10),))
    plan = plan_deliveries(rules, EVERYTHING, "P1", NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0), (C.SMS, 10)]
    assert plan.deliveries[0].reason.startswith("in-app")


def test_custom_rule_steps_are_sorted_and_repeated_channels_allowed() -> None:
    rules = RuleSet(
        medium=[Step(C.VOICE, 300), Step(C.EMAIL, 0), Step(C.VOICE, 90), Step(C.IN_APP, 0)]  # type: ignore[arg-type]
    )
    plan = plan_deliveries(rules, EVERYTHING, "P2", NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0), (C.EMAIL, 0), (C.VOICE, 90), (C.VOICE, 300)]
    assert plan.channels == (C.IN_APP, C.EMAIL, C.VOICE)


@pytest.mark.parametrize("delay", [-1, 3601])
def test_step_delay_bounds(delay: int) -> None:
    with pytest.raises(ValueError, match="delay_seconds"):
        Step(C.SMS, delay)


def test_step_accepts_the_stored_channel_string() -> None:
    assert Step("sms", 5).channel is C.SMS  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Step("fax", 5)  # type: ignore[arg-type]


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_deliveries(DEFAULT_RULE_SET, EVERYTHING, "P1", datetime(2026, 1, 1), BERLIN)


# --- quiet hours --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (time(21, 59, 59), False),
        (time(22, 0), True),
        (time(23, 30), True),
        (time(0, 0), True),
        (time(3, 0), True),
        (time(6, 59, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_across_midnight(local: time, inside: bool) -> None:
    assert QuietHours(time(22, 0), time(7, 0)).contains(local) is inside


@pytest.mark.parametrize(
    ("local", "inside"),
    [(time(12, 59), False), (time(13, 0), True), (time(13, 59), True), (time(14, 0), False)],
)
def test_quiet_hours_within_a_day(local: time, inside: bool) -> None:
    assert QuietHours(time(13, 0), time(14, 0)).contains(local) is inside


def test_quiet_hours_must_be_a_real_local_window() -> None:
    with pytest.raises(ValueError):
        QuietHours(time(7, 0), time(7, 0))
    with pytest.raises(ValueError):
        QuietHours(time(22, 0, tzinfo=UTC), time(7, 0))


@pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
def test_quiet_hours_leave_in_app_only(priority: str) -> None:
    plan = plan_deliveries(NIGHTS, EVERYTHING, priority, NIGHT, BERLIN)
    assert schedule(plan, NIGHT) == [(C.IN_APP, 0)]
    assert plan.quiet_hours_applied
    assert not plan.quiet_hours_bypassed
    assert not plan.unreachable  # a choice of the person, not a missing contact
    assert plan.skipped
    for skipped in plan.skipped:
        assert "quiet hours 22:00-07:00 (Europe/Berlin)" in skipped.reason


@pytest.mark.parametrize("priority", ["P0", "P1"])
def test_p0_and_p1_bypass_quiet_hours(priority: str) -> None:
    plan = plan_deliveries(NIGHTS, EVERYTHING, priority, NIGHT, BERLIN)
    assert schedule(plan, NIGHT) == [
        (C.IN_APP, 0),
        (C.PUSH, 0),
        (C.PAGER, 0),
        (C.SMS, 30),
        (C.VOICE, 60),
    ]
    assert plan.quiet_hours_bypassed
    assert not plan.quiet_hours_applied
    assert plan.skipped == ()
    assert all("quiet hours bypassed" in d.reason for d in plan.deliveries[1:])


def test_quiet_hours_do_nothing_in_the_day() -> None:
    plan = plan_deliveries(NIGHTS, EVERYTHING, "P2", NOON, BERLIN)
    assert schedule(plan, NOON) == [(C.IN_APP, 0), (C.PUSH, 0), (C.SMS, 120), (C.PAGER, 120)]
    assert not plan.quiet_hours_applied and not plan.quiet_hours_bypassed


def test_quiet_hours_are_judged_in_the_persons_zone() -> None:
    # 02:00 UTC is 03:00 in Berlin (quiet) but 21:00 the day before in New York (not quiet).
    berlin = plan_deliveries(NIGHTS, EVERYTHING, "P3", NIGHT, BERLIN)
    new_york = plan_deliveries(NIGHTS, EVERYTHING, "P3", NIGHT, ZoneInfo("America/New_York"))
    assert schedule(berlin, NIGHT) == [(C.IN_APP, 0)]
    assert schedule(new_york, NIGHT) == [(C.IN_APP, 0), (C.PUSH, 0)]


def test_each_step_is_judged_at_its_own_due_time() -> None:
    # 06:59 in Berlin: push (now) is inside the quiet hours, the SMS at +120 s is not.
    now = datetime(2026, 1, 14, 5, 59, tzinfo=UTC)
    plan = plan_deliveries(NIGHTS, EVERYTHING, "P2", now, BERLIN)
    assert schedule(plan, now) == [(C.IN_APP, 0), (C.SMS, 120), (C.PAGER, 120)]
    assert [s.channel for s in plan.skipped] == [C.PUSH]


@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        # Spring forward in Berlin on 2026-03-29 (02:00 CET -> 03:00 CEST).
        (datetime(2026, 3, 28, 5, 30, tzinfo=UTC), True),  # 06:30 CET
        (datetime(2026, 3, 29, 5, 30, tzinfo=UTC), False),  # 07:30 CEST
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), True),  # 03:30 CEST, just after the jump
        (datetime(2026, 3, 29, 20, 30, tzinfo=UTC), True),  # 22:30 CEST
        (datetime(2026, 3, 28, 20, 30, tzinfo=UTC), False),  # 21:30 CET
        # Fall back on 2026-10-25 (03:00 CEST -> 02:00 CET).
        (datetime(2026, 10, 24, 5, 30, tzinfo=UTC), False),  # 07:30 CEST
        (datetime(2026, 10, 25, 5, 30, tzinfo=UTC), True),  # 06:30 CET
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), True),  # 02:30 CEST, first time round
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), True),  # 02:30 CET, second time round
        (datetime(2026, 10, 25, 20, 30, tzinfo=UTC), False),  # 21:30 CET
    ],
)
def test_quiet_hours_follow_the_local_clock_across_dst(now: datetime, quiet: bool) -> None:
    plan = plan_deliveries(NIGHTS, EVERYTHING, "P3", now, BERLIN)
    assert plan.quiet_hours_applied is quiet
    assert (C.PUSH in plan.channels) is not quiet


def test_the_same_utc_hour_differs_around_the_change() -> None:
    before = datetime(2026, 10, 24, 20, 30, tzinfo=UTC)  # 22:30 CEST: quiet
    after = datetime(2026, 10, 25, 20, 30, tzinfo=UTC)  # 21:30 CET: not quiet
    assert plan_deliveries(NIGHTS, EVERYTHING, "P4", before, BERLIN).quiet_hours_applied
    assert not plan_deliveries(NIGHTS, EVERYTHING, "P4", after, BERLIN).quiet_hours_applied


def test_a_fixed_offset_tzinfo_is_accepted() -> None:
    plus_two = timezone(timedelta(hours=2))
    now = datetime(2026, 1, 14, 4, 30, tzinfo=UTC)  # 06:30 at +02:00
    plan = plan_deliveries(NIGHTS, EVERYTHING, "P3", now, plus_two)
    assert plan.quiet_hours_applied


def test_quiet_hours_and_missing_contacts_together() -> None:
    plan = plan_deliveries(NIGHTS, ContactMethods(), "P2", NIGHT, BERLIN)
    assert plan.unreachable  # missing contacts win: the escalation must not wait
    assert schedule(plan, NIGHT) == [(C.IN_APP, 0)]


# --- the stop rule ------------------------------------------------------------------------


def high_plan() -> DeliveryPlan:
    return plan_deliveries(DEFAULT_RULE_SET, EVERYTHING, "P1", NOON, BERLIN)


def test_acknowledgement_cancels_the_later_deliveries() -> None:
    result = cancel_after_answer(high_plan(), acknowledged_at=NOON + timedelta(seconds=45))
    assert [d.channel for d in result.kept] == [C.IN_APP, C.PUSH, C.PAGER, C.SMS]
    assert [d.channel for d in result.cancelled] == [C.VOICE]
    assert result.stop_reason is StopReason.ACKNOWLEDGED
    assert result.reason == (
        "the incident was acknowledged: 1 later notification cancelled (Voice call)"
    )


def test_a_delivery_due_exactly_at_the_answer_is_cancelled() -> None:
    result = cancel_after_answer(high_plan(), answered_at=NOON + timedelta(seconds=30))
    assert [d.channel for d in result.cancelled] == [C.SMS, C.VOICE]
    assert result.stop_reason is StopReason.ANSWERED
    assert result.reason is not None and "2 later notifications cancelled" in result.reason


def test_the_earliest_stop_wins() -> None:
    result = cancel_after_answer(
        high_plan().deliveries,
        answered_at=NOON + timedelta(seconds=50),
        acknowledged_at=NOON + timedelta(seconds=10),
        resolved_at=NOON + timedelta(seconds=70),
    )
    assert result.stopped_at == NOON + timedelta(seconds=10)
    assert result.stop_reason is StopReason.ACKNOWLEDGED
    assert [d.channel for d in result.cancelled] == [C.SMS, C.VOICE]


def test_resolution_stops_too() -> None:
    result = cancel_after_answer(high_plan(), resolved_at=NOON)
    assert result.kept == ()
    assert len(result.cancelled) == 5


def test_no_answer_cancels_nothing() -> None:
    plan = high_plan()
    result = cancel_after_answer(plan)
    assert result.kept == plan.deliveries
    assert result.cancelled == ()
    assert result.reason is None


def test_an_answer_after_the_last_delivery_cancels_nothing() -> None:
    deliveries = [PlannedDelivery(C.SMS, NOON, "x")]
    result = cancel_after_answer(deliveries, answered_at=NOON + timedelta(minutes=5))
    assert result.cancelled == ()
    assert result.reason is None


def test_stop_times_must_be_aware() -> None:
    with pytest.raises(ValueError):
        cancel_after_answer(high_plan(), answered_at=datetime(2026, 1, 14, 11, 0))
