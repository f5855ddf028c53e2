"""Send throttles (healthguard.notify.throttle): sliding windows per channel, P0/P1 never
throttled, what to do instead, and when the channel has room again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthguard.models.notifications import Channel
from healthguard.notify.throttle import (
    DEFAULT_LIMITS,
    NEVER_THROTTLED,
    ThrottleFallback,
    ThrottleLimit,
    check,
    longest_window,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 2, 3, 3, 0, tzinfo=UTC)
C = Channel


def seconds_ago(*seconds: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


def burst(channel: Channel, priority: str, count: int, every: timedelta) -> list[bool]:
    """Try ``count`` sends ``every`` apart, recording the allowed ones as the adapter would."""
    sent: list[datetime] = []
    allowed: list[bool] = []
    for i in range(count):
        now = NOW + i * every
        decision = check(channel, priority, sent, now)
        allowed.append(decision.allowed)
        if decision.allowed:
            sent.append(now)
    return allowed


def test_default_limits() -> None:
    assert DEFAULT_LIMITS[C.SMS] == ThrottleLimit(5, timedelta(minutes=10))
    assert DEFAULT_LIMITS[C.VOICE] == ThrottleLimit(3, timedelta(minutes=10))
    assert DEFAULT_LIMITS[C.EMAIL] == ThrottleLimit(20, timedelta(hours=1))
    assert DEFAULT_LIMITS[C.PUSH] == ThrottleLimit(30, timedelta(minutes=10))
    assert DEFAULT_LIMITS[C.PAGER] == ThrottleLimit(10, timedelta(minutes=10))
    assert DEFAULT_LIMITS[C.IN_APP] is None
    assert {"P0", "P1"} == NEVER_THROTTLED
    assert longest_window() == timedelta(hours=1)


@pytest.mark.parametrize("priority", ["P0", "P1"])
@pytest.mark.parametrize("channel", [C.SMS, C.VOICE, C.PUSH, C.EMAIL, C.PAGER])
def test_a_burst_of_100_high_priority_sends_is_all_allowed(channel: Channel, priority: str) -> None:
    assert burst(channel, priority, 100, timedelta(seconds=1)) == [True] * 100


def test_p0_reason_says_never_throttled() -> None:
    decision = check(C.SMS, "P0", seconds_ago(*range(1, 50)), NOW)
    assert decision.allowed and decision.retry_at is None
    assert "never throttled" in decision.reason
    assert decision.sends_in_window == 49


@pytest.mark.parametrize(
    ("channel", "limit"), [(C.SMS, 5), (C.VOICE, 3), (C.PUSH, 30), (C.PAGER, 10), (C.EMAIL, 20)]
)
@pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
def test_a_burst_of_100_lower_priority_sends_stops_at_the_limit(
    channel: Channel, limit: int, priority: str
) -> None:
    allowed = burst(channel, priority, 100, timedelta(seconds=1))
    assert allowed == [True] * limit + [False] * (100 - limit)


def test_in_app_is_never_throttled() -> None:
    decision = check(C.IN_APP, "P4", seconds_ago(*range(1000)), NOW)
    assert decision.allowed
    assert decision.reason == "In-app is not throttled"


def test_the_window_slides() -> None:
    # One P3 SMS a minute for an hour: 5 go out, then 5 wait, then the first ones leave.
    allowed = burst(C.SMS, "P3", 60, timedelta(minutes=1))
    expected = [minute % 10 < 5 for minute in range(60)]
    assert allowed == expected
    assert sum(allowed) == 30


def test_retry_at_is_when_the_window_has_room_again() -> None:
    sends = seconds_ago(300, 240, 180, 120, 60)  # 5 SMS in the last 5 minutes
    refused = check(C.SMS, "P3", sends, NOW)
    assert not refused.allowed
    assert refused.retry_at == NOW + timedelta(seconds=300)  # the oldest leaves at 10 min
    assert check(C.SMS, "P3", sends, refused.retry_at).allowed
    assert not check(C.SMS, "P3", sends, refused.retry_at - timedelta(seconds=1)).allowed


def test_retry_at_with_more_sends_than_the_limit() -> None:
    # 6 in the window (P0 sends count too): two must leave before a P3 may go.
    sends = seconds_ago(500, 400, 300, 200, 100, 50)
    decision = check(C.SMS, "P3", sends, NOW)
    assert decision.retry_at == NOW + timedelta(seconds=200)
    assert decision.sends_in_window == 6
    assert check(C.SMS, "P3", sends, decision.retry_at).allowed


def test_sends_older_than_the_window_are_ignored_and_order_does_not_matter() -> None:
    sends = seconds_ago(601, 900, 5, 3600, 700, 10)
    decision = check(C.SMS, "P3", sends, NOW)
    assert decision.allowed
    assert decision.sends_in_window == 2
    # A send exactly one window ago has left it.
    assert check(C.VOICE, "P3", seconds_ago(600, 600, 600), NOW).allowed
    assert not check(C.VOICE, "P3", seconds_ago(599, 599, 599), NOW).allowed


def test_high_priority_sends_count_toward_the_lower_priority_budget() -> None:
    sends: list[datetime] = []
    for i in range(5):
        at = NOW + timedelta(seconds=i)
        assert check(C.SMS, "P0", sends, at).allowed
        sends.append(at)
    assert not check(C.SMS, "P3", sends, NOW + timedelta(seconds=10)).allowed
    assert check(C.SMS, "P1", sends, NOW + timedelta(seconds=10)).allowed


def test_p2_is_held_for_a_digest() -> None:
    decision = check(C.SMS, "P2", seconds_ago(10, 20, 30, 40, 50), NOW)
    assert not decision.allowed
    assert decision.instead is ThrottleFallback.DIGEST
    assert decision.retry_at == NOW + timedelta(seconds=550)
    assert "SMS throttled for P2" in decision.reason
    assert "limit 5 per 10 min" in decision.reason
    assert "digest at 03:09:10 UTC" in decision.reason


@pytest.mark.parametrize("priority", ["P3", "P4"])
def test_p3_and_p4_are_held_for_a_digest_too(priority: str) -> None:
    # Nothing accepted is lost: a throttled P3/P4 is held and sent in the digest.
    decision = check(C.VOICE, priority, seconds_ago(10, 20, 30), NOW)
    assert not decision.allowed
    assert decision.instead is ThrottleFallback.DIGEST
    assert decision.reason.startswith(f"Voice call throttled for {priority}")
    assert "held for a digest at 03:09:30 UTC (in 570 s); in-app now" in decision.reason
    assert "limit 3 per 10 min" in decision.reason


def test_email_is_always_digested() -> None:
    decision = check(C.EMAIL, "P4", seconds_ago(*range(1, 21)), NOW)
    assert not decision.allowed
    assert decision.instead is ThrottleFallback.DIGEST
    assert "limit 20 per hour" in decision.reason


def test_allowed_decisions_have_no_fallback() -> None:
    decision = check("sms", "P3", [], NOW)
    assert decision.allowed
    assert decision.instead is ThrottleFallback.NONE
    assert decision.retry_at is None
    assert decision.reason == "SMS 1 of 5 per 10 min"


def test_custom_limits() -> None:
    limits = {C.SMS: ThrottleLimit(1, timedelta(seconds=30))}
    assert not check(C.SMS, "P2", seconds_ago(29), NOW, limits=limits).allowed
    assert check(C.SMS, "P2", seconds_ago(30), NOW, limits=limits).allowed
    # A channel without a limit is not throttled.
    assert check(C.VOICE, "P4", seconds_ago(*range(100)), NOW, limits=limits).allowed


def test_invalid_input() -> None:
    with pytest.raises(ValueError):
        check(C.SMS, "P3", [], datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        check(C.SMS, "P3", [datetime(2026, 1, 1)], NOW)
    with pytest.raises(ValueError):
        check(C.SMS, "P9", [], NOW)
    with pytest.raises(ValueError):
        ThrottleLimit(0, timedelta(minutes=1))
    with pytest.raises(ValueError):
        ThrottleLimit(1, timedelta(0))
