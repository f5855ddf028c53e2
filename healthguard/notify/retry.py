"""What to do after a delivery attempt failed: retry later, fall back to another channel, or
give up (in-app only, the escalation goes on).

Pure: no I/O, no clock, no global randomness (``rand`` returns a float in [0, 1); pass
``random.Random().random`` in production, a constant in tests). The channel adapter
classifies its failure as ``TRANSIENT`` (timeout, 5xx, busy line, rate limited by the
provider) or ``PERMANENT`` (push subscription gone (404/410), invalid or unallocated number,
address rejected) and calls ``next_step``; the worker schedules what the decision says and
writes ``decision.reason`` to the timeline.

Retries: exponential backoff ``base * factor ** (attempt - 1)`` capped, with +-20 % jitter so
that many failed sends do not retry in lockstep; a maximum number of attempts per channel
(the first send counts as attempt 1). Higher priorities retry sooner and give up on a channel
sooner, because the fallback channel reaches the person faster than a struggling provider::

    P0   3 attempts, retries after  2 s,  6 s        (cap 20 s)
    P1   3 attempts, retries after  3 s,  9 s        (cap 30 s)
    P2   3 attempts, retries after  5 s, 15 s        (cap 60 s)
    P3   4 attempts, retries after  5 s, 15 s, 45 s  (cap 120 s)
    P4   4 attempts, retries after  5 s, 15 s, 45 s  (cap 120 s)

Fallback, at once, when the attempts are used up or the problem is permanent (a permanent
problem is never retried): the next channel in ``FALLBACK_ORDER``, from the least to the most
intrusive::

    email -> push -> sms -> voice -> pager

that is among the person's planned channels (``available``, normally ``plan.channels``: their
rule, filtered by their contact methods) and has not failed already. Only later channels are
candidates, so a fallback never goes back to a quieter channel; a failed in-app delivery falls
back to the first candidate. Nothing left: ``GIVE_UP``, with the reason; the in-app
notification stays and the escalation policy moves on to the next person.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from healthguard.incidents.priority import validate_priority
from healthguard.models.notifications import Channel
from healthguard.notify.rules import CHANNEL_LABELS

__all__ = [
    "FALLBACK_ORDER",
    "RETRY_POLICIES",
    "DeliveryFailure",
    "FailureKind",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "backoff_delay",
    "fallback_channel",
    "next_step",
    "nominal_schedule",
]

FALLBACK_ORDER: tuple[Channel, ...] = (
    Channel.EMAIL,
    Channel.PUSH,
    Channel.SMS,
    Channel.VOICE,
    Channel.PAGER,
)

_INSTEAD: dict[Channel, str] = {
    Channel.EMAIL: "emailing instead",
    Channel.PUSH: "sending a push notification instead",
    Channel.SMS: "texting instead",
    Channel.VOICE: "calling instead",
    Channel.PAGER: "paging instead",
    Channel.IN_APP: "showing it in the app instead",
}


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff ``base_seconds * factor ** (attempt - 1)``, at most ``cap_seconds``, jittered
    by +-``jitter`` (a fraction); ``max_attempts`` on one channel, the first send included."""

    base_seconds: float
    factor: float
    cap_seconds: float
    max_attempts: int
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("base_seconds must be positive and at most cap_seconds")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


RETRY_POLICIES: Mapping[str, RetryPolicy] = MappingProxyType(
    {
        "P0": RetryPolicy(2, 3, 20, 3),
        "P1": RetryPolicy(3, 3, 30, 3),
        "P2": RetryPolicy(5, 3, 60, 3),
        "P3": RetryPolicy(5, 3, 120, 4),
        "P4": RetryPolicy(5, 3, 120, 4),
    }
)


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # try again later: timeout, 5xx, busy, provider rate limit
    PERMANENT = "permanent"  # the address is wrong or gone: never retry


@dataclass(frozen=True)
class DeliveryFailure:
    kind: FailureKind
    detail: str  # short, for the timeline: "provider timeout", "push subscription gone"


class RetryAction(StrEnum):
    RETRY = "retry"  # the same channel again at ``at``
    FALL_BACK = "fall_back"  # ``channel`` (another one) now
    GIVE_UP = "give_up"  # nothing left: in-app only, the escalation moves on


@dataclass(frozen=True)
class RetryDecision:
    action: RetryAction
    channel: Channel | None  # RETRY: the same one; FALL_BACK: the next; GIVE_UP: None
    at: datetime | None  # when to send; None for GIVE_UP
    attempt: int  # the attempt number of that send on that channel (0 for GIVE_UP)
    reason: str  # for the timeline
    delay_seconds: float = 0.0


def nominal_schedule(policy: RetryPolicy) -> tuple[float, ...]:
    """The waits before attempts 2..max_attempts, without jitter (for docs and the UI)."""
    return tuple(
        min(policy.cap_seconds, policy.base_seconds * policy.factor ** (n - 1))
        for n in range(1, policy.max_attempts)
    )


def backoff_delay(policy: RetryPolicy, attempt: int, rand: Callable[[], float]) -> float:
    """Seconds to wait after attempt number ``attempt`` (1-based) failed: the nominal wait
    times (1 + jitter * (2 r - 1)), r = rand() in [0, 1), never more than the cap."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    r = rand()
    if not 0 <= r < 1:
        raise ValueError("rand() must return a float in [0, 1)")
    nominal = min(policy.cap_seconds, policy.base_seconds * policy.factor ** (attempt - 1))
    jittered = nominal * (1 + policy.jitter * (2 * r - 1))
    return round(min(policy.cap_seconds, jittered), 3)


def fallback_channel(
    failed: Channel, available: Collection[Channel], tried: Collection[Channel] = ()
) -> Channel | None:
    """The next channel after ``failed`` in ``FALLBACK_ORDER`` that is ``available`` and not
    in ``tried``; None when there is none."""
    start = FALLBACK_ORDER.index(failed) + 1 if failed in FALLBACK_ORDER else 0
    for candidate in FALLBACK_ORDER[start:]:
        if candidate in available and candidate not in tried and candidate is not failed:
            return candidate
    return None


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def next_step(
    *,
    channel: Channel | str,
    attempt: int,
    failure: DeliveryFailure,
    priority: str,
    now: datetime,
    rand: Callable[[], float],
    available: Collection[Channel],
    tried: Collection[Channel] = (),
    policies: Mapping[str, RetryPolicy] = RETRY_POLICIES,
) -> RetryDecision:
    """Decide after attempt number ``attempt`` on ``channel`` failed with ``failure``.

    ``available``: the person's planned channels (``plan.channels``); ``tried``: channels
    already given up on for this notification (they are not fallback candidates).
    """
    channel = Channel(channel)
    priority = validate_priority(priority)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    policy = policies[priority]
    label = CHANNEL_LABELS[channel]
    detail = failure.detail.strip() or failure.kind.value

    if failure.kind is FailureKind.TRANSIENT and attempt < policy.max_attempts:
        delay = backoff_delay(policy, attempt, rand)
        return RetryDecision(
            RetryAction.RETRY,
            channel,
            now + timedelta(seconds=delay),
            attempt + 1,
            f"{label} attempt {attempt} of {policy.max_attempts} failed ({detail}): "
            f"retrying in {delay:.0f} s",
            delay_seconds=delay,
        )

    if failure.kind is FailureKind.PERMANENT:
        what = f"{label} failed permanently ({detail})"
    else:
        what = f"{label} failed {_times(attempt)} ({detail})"
    nxt = fallback_channel(channel, available, (*tried, channel))
    if nxt is None:
        return RetryDecision(
            RetryAction.GIVE_UP,
            None,
            None,
            0,
            f"{what}: no other channel left for this person; in-app only, the escalation moves on",
        )
    return RetryDecision(RetryAction.FALL_BACK, nxt, now, 1, f"{what}: {_INSTEAD[nxt]}")
