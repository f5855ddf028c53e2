"""Retries and fallback (healthguard.notify.retry): the backoff schedule per priority, jitter
from an injected random source, the fallback order, and permanent address problems."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from healthguard.models.notifications import Channel
from healthguard.notify.retry import (
    FALLBACK_ORDER,
    RETRY_POLICIES,
    DeliveryFailure,
    FailureKind,
    RetryAction,
    RetryPolicy,
    backoff_delay,
    fallback_channel,
    next_step,
    nominal_schedule,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 2, 3, 3, 0, tzinfo=UTC)
C = Channel
ALL = frozenset(Channel)
TIMEOUT = DeliveryFailure(FailureKind.TRANSIENT, "provider timeout")
GONE = DeliveryFailure(FailureKind.PERMANENT, "push subscription gone")


def middle() -> float:
    return 0.5  # no jitter: the nominal delay


def test_fallback_order() -> None:
    assert FALLBACK_ORDER == (C.EMAIL, C.PUSH, C.SMS, C.VOICE, C.PAGER)


@pytest.mark.parametrize(
    ("priority", "waits"),
    [
        ("P0", (2, 6)),
        ("P1", (3, 9)),
        ("P2", (5, 15)),
        ("P3", (5, 15, 45)),
        ("P4", (5, 15, 45)),
    ],
)
def test_nominal_schedules(priority: str, waits: tuple[float, ...]) -> None:
    assert nominal_schedule(RETRY_POLICIES[priority]) == waits


def test_p0_retries_faster_than_p3() -> None:
    p0, p3 = RETRY_POLICIES["P0"], RETRY_POLICIES["P3"]
    assert backoff_delay(p0, 1, middle) < backoff_delay(p3, 1, middle)
    assert sum(nominal_schedule(p0)) < sum(nominal_schedule(p3))


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(base_seconds=5, factor=3, cap_seconds=30, max_attempts=6)
    assert nominal_schedule(policy) == (5, 15, 30, 30, 30)
    assert backoff_delay(policy, 5, lambda: 0.999) == 30  # jitter never goes past the cap


def test_jitter_bounds() -> None:
    policy = RETRY_POLICIES["P3"]
    assert backoff_delay(policy, 2, lambda: 0.0) == pytest.approx(15 * 0.8)
    assert backoff_delay(policy, 2, middle) == pytest.approx(15)
    assert backoff_delay(policy, 2, lambda: 0.99) == pytest.approx(15 * (1 + 0.2 * 0.98))


def test_jitter_from_a_seeded_random_source_is_reproducible_and_spread() -> None:
    policy = RETRY_POLICIES["P2"]
    first = [backoff_delay(policy, 1, random.Random(7).random) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng = random.Random(42)
    delays = [backoff_delay(policy, 1, rng.random) for _ in range(500)]
    assert all(4.0 <= d <= 6.0 for d in delays)
    assert len(set(delays)) > 100  # not in lockstep


def test_rand_must_be_a_fraction() -> None:
    with pytest.raises(ValueError):
        backoff_delay(RETRY_POLICIES["P2"], 1, lambda: 1.0)
    with pytest.raises(ValueError):
        backoff_delay(RETRY_POLICIES["P2"], 0, middle)


def test_a_transient_failure_is_retried_on_the_same_channel() -> None:
    decision = next_step(
        channel=C.SMS,
        attempt=1,
        failure=TIMEOUT,
        priority="P2",
        now=NOW,
        rand=middle,
        available=ALL,
    )
    assert decision.action is RetryAction.RETRY
    assert decision.channel is C.SMS
    assert decision.attempt == 2
    assert decision.at == NOW + timedelta(seconds=5)
    assert decision.reason == "SMS attempt 1 of 3 failed (provider timeout): retrying in 5 s"


def test_retry_schedule_then_fallback() -> None:
    """Follow one SMS through its P3 attempts: 5 s, 15 s, 45 s, then a call."""
    now, attempt, waits = NOW, 1, []
    while True:
        decision = next_step(
            channel=C.SMS,
            attempt=attempt,
            failure=TIMEOUT,
            priority="P3",
            now=now,
            rand=middle,
            available=ALL,
        )
        if decision.action is not RetryAction.RETRY:
            break
        assert decision.at is not None
        waits.append((decision.at - now).total_seconds())
        now, attempt = decision.at, decision.attempt
    assert waits == [5, 15, 45]
    assert attempt == 4
    assert decision.action is RetryAction.FALL_BACK
    assert decision.channel is C.VOICE
    assert decision.at == now  # at once
    assert decision.attempt == 1
    assert decision.reason == "SMS failed 4 times (provider timeout): calling instead"


def test_the_p0_reason_for_the_timeline() -> None:
    decision = next_step(
        channel=C.SMS,
        attempt=3,
        failure=TIMEOUT,
        priority="P0",
        now=NOW,
        rand=middle,
        available=ALL,
    )
    assert decision.reason == "SMS failed 3 times (provider timeout): calling instead"


def test_fallback_walks_the_whole_chain_then_gives_up() -> None:
    channel: Channel | None = C.EMAIL
    tried: list[Channel] = []
    seen = []
    while channel is not None:
        seen.append(channel)
        decision = next_step(
            channel=channel,
            attempt=3,
            failure=TIMEOUT,
            priority="P1",
            now=NOW,
            rand=middle,
            available=ALL,
            tried=tried,
        )
        tried.append(channel)
        channel = decision.channel
    assert seen == [C.EMAIL, C.PUSH, C.SMS, C.VOICE, C.PAGER]
    assert decision.action is RetryAction.GIVE_UP
    assert decision.at is None and decision.attempt == 0
    assert decision.reason == (
        "Pager failed 3 times (provider timeout): no other channel left for this person; "
        "in-app only, the escalation moves on"
    )


def test_fallback_skips_channels_the_person_does_not_have() -> None:
    decision = next_step(
        channel=C.PUSH,
        attempt=3,
        failure=TIMEOUT,
        priority="P1",
        now=NOW,
        rand=middle,
        available={C.IN_APP, C.PUSH, C.PAGER},
    )
    assert decision.action is RetryAction.FALL_BACK
    assert decision.channel is C.PAGER
    assert decision.reason.endswith("paging instead")


def test_fallback_never_goes_back_to_a_quieter_channel() -> None:
    assert fallback_channel(C.VOICE, {C.PUSH, C.SMS, C.VOICE}) is None
    assert fallback_channel(C.SMS, {C.PUSH, C.SMS, C.PAGER}) is C.PAGER
    assert fallback_channel(C.SMS, {C.VOICE, C.PAGER}, tried={C.VOICE}) is C.PAGER


def test_a_failed_in_app_delivery_falls_back_to_the_first_candidate() -> None:
    assert fallback_channel(C.IN_APP, {C.IN_APP, C.SMS, C.VOICE}) is C.SMS


def test_a_permanent_problem_is_not_retried() -> None:
    decision = next_step(
        channel=C.PUSH,
        attempt=1,
        failure=GONE,
        priority="P3",
        now=NOW,
        rand=middle,
        available=ALL,
    )
    assert decision.action is RetryAction.FALL_BACK
    assert decision.channel is C.SMS
    assert decision.at == NOW
    assert decision.reason == ("Push failed permanently (push subscription gone): texting instead")


def test_a_permanent_problem_with_nothing_left_gives_up() -> None:
    decision = next_step(
        channel=C.SMS,
        attempt=1,
        failure=DeliveryFailure(FailureKind.PERMANENT, "invalid number"),
        priority="P0",
        now=NOW,
        rand=middle,
        available={C.IN_APP, C.SMS, C.VOICE},
        tried={C.VOICE},
    )
    assert decision.action is RetryAction.GIVE_UP
    assert decision.channel is None
    assert decision.reason.startswith("SMS failed permanently (invalid number)")


@pytest.mark.parametrize("priority", ["P0", "P1", "P2", "P3", "P4"])
def test_the_number_of_attempts_per_priority(priority: str) -> None:
    policy = RETRY_POLICIES[priority]
    for attempt in range(1, policy.max_attempts):
        decision = next_step(
            channel=C.VOICE,
            attempt=attempt,
            failure=TIMEOUT,
            priority=priority,
            now=NOW,
            rand=middle,
            available=ALL,
        )
        assert decision.action is RetryAction.RETRY
    last = next_step(
        channel=C.VOICE,
        attempt=policy.max_attempts,
        failure=TIMEOUT,
        priority=priority,
        now=NOW,
        rand=middle,
        available=ALL,
    )
    assert last.action is RetryAction.FALL_BACK and last.channel is C.PAGER


def test_once_and_twice() -> None:
    policy = {"P2": RetryPolicy(1, 2, 4, 1)}
    decision = next_step(
        channel=C.SMS,
        attempt=1,
        failure=TIMEOUT,
        priority="P2",
        now=NOW,
        rand=middle,
        available=ALL,
        policies=policy,
    )
    assert decision.reason == "SMS failed once (provider timeout): calling instead"


def test_invalid_input() -> None:
    with pytest.raises(ValueError):
        next_step(
            channel=C.SMS,
            attempt=0,
            failure=TIMEOUT,
            priority="P2",
            now=NOW,
            rand=middle,
            available=ALL,
        )
    with pytest.raises(ValueError):
        next_step(
            channel=C.SMS,
            attempt=1,
            failure=TIMEOUT,
            priority="P2",
            now=datetime(2026, 1, 1),
            rand=middle,
            available=ALL,
        )
    with pytest.raises(ValueError):
        RetryPolicy(base_seconds=10, factor=2, cap_seconds=5, max_attempts=3)
    with pytest.raises(ValueError):
        RetryPolicy(base_seconds=1, factor=2, cap_seconds=5, max_attempts=0)
