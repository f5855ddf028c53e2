"""Per-person, per-channel send throttles, so a flapping source cannot send 100 SMS.

Pure: no I/O, no clock. The adapter keeps, per person and channel, the times of the recent
sends (a Redis sorted set trimmed to the longest window), passes them to
``check(channel, priority, previous_sends, now)`` and, when allowed, sends and records ``now``.

A sliding window: a send at ``t`` counts while ``now - t < window``. Default limits, per
person and channel, counting every send on that channel whatever its priority (so a storm of
P0 texts also holds back the P3 ones)::

    sms      5 per 10 min          voice    3 per 10 min        pager   10 per 10 min
    push    30 per 10 min          email   20 per hour          in-app  unlimited

**P0 and P1 are never throttled**: they are high-urgency alarms (IEC 60601-1-8 "high"), a
person must be reached however many were sent before; a flapping P0/P1 source is handled
upstream, where repeated alerts update one open incident instead of opening new ones.

When a P2-P4 send is refused the decision says what to do instead, with a reason for the
timeline. Nothing accepted is lost: the in-app notification is never throttled, and every
refused message is ``DIGEST``: held (status ``throttled``, with a timeline entry) and sent in
one digest of everything held for that person and channel at ``retry_at``, when the window
has room again (``healthguard.notify.digest`` plans it, ``healthguard.notify.digests`` sends
it). ``IN_APP`` (do not send on this channel at all) is kept for callers that want it; the
default limits never answer it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from healthguard.incidents.priority import validate_priority
from healthguard.models.notifications import Channel
from healthguard.notify.rules import CHANNEL_LABELS

__all__ = [
    "DEFAULT_LIMITS",
    "NEVER_THROTTLED",
    "ThrottleDecision",
    "ThrottleFallback",
    "ThrottleLimit",
    "check",
    "longest_window",
]

NEVER_THROTTLED: frozenset[str] = frozenset({"P0", "P1"})


@dataclass(frozen=True)
class ThrottleLimit:
    """At most ``max_sends`` in any sliding ``window``."""

    max_sends: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.max_sends < 1:
            raise ValueError("max_sends must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError("window must be positive")

    def describe(self) -> str:
        seconds = int(self.window.total_seconds())
        if seconds % 3600 == 0:
            span = "hour" if seconds == 3600 else f"{seconds // 3600} h"
        elif seconds % 60 == 0:
            span = f"{seconds // 60} min"
        else:
            span = f"{seconds} s"
        return f"{self.max_sends} per {span}"


DEFAULT_LIMITS: Mapping[Channel, ThrottleLimit | None] = MappingProxyType(
    {
        Channel.IN_APP: None,
        Channel.PUSH: ThrottleLimit(30, timedelta(minutes=10)),
        Channel.SMS: ThrottleLimit(5, timedelta(minutes=10)),
        Channel.VOICE: ThrottleLimit(3, timedelta(minutes=10)),
        Channel.PAGER: ThrottleLimit(10, timedelta(minutes=10)),
        Channel.EMAIL: ThrottleLimit(20, timedelta(hours=1)),
    }
)


def longest_window(limits: Mapping[Channel, ThrottleLimit | None] = DEFAULT_LIMITS) -> timedelta:
    """How long the adapter must keep send times (older ones never matter)."""
    return max((lim.window for lim in limits.values() if lim is not None), default=timedelta(0))


class ThrottleFallback(StrEnum):
    NONE = "none"  # allowed: send now
    DIGEST = "digest"  # hold; send one digest of everything held at retry_at
    IN_APP = "in_app"  # do not send on this channel; the in-app notification carries it


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    retry_at: datetime | None  # when this channel has room again (None: allowed now)
    reason: str  # for the timeline
    instead: ThrottleFallback = ThrottleFallback.NONE
    sends_in_window: int = 0
    limit: ThrottleLimit | None = None


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _clock(at: datetime) -> str:
    return f"{at:%H:%M:%S} {at.tzname() or ''}".strip()


def check(
    channel: Channel | str,
    priority: str,
    previous_sends: Iterable[datetime],
    now: datetime,
    *,
    limits: Mapping[Channel, ThrottleLimit | None] = DEFAULT_LIMITS,
) -> ThrottleDecision:
    """May one more message go to this person on ``channel`` now?

    ``previous_sends``: the times of the earlier sends to this person on this channel (any
    priority, any order; older than the window is ignored). A channel missing from
    ``limits`` is not throttled.
    """
    channel = Channel(channel)
    priority = validate_priority(priority)
    _require_aware("now", now)
    label = CHANNEL_LABELS[channel]
    limit = limits.get(channel)
    if limit is None:
        return ThrottleDecision(True, None, f"{label} is not throttled")
    sends = sorted(previous_sends)
    for at in sends:
        _require_aware("previous_sends", at)
    start = now - limit.window
    in_window = [t for t in sends if t > start]
    count = len(in_window)
    if priority in NEVER_THROTTLED:
        return ThrottleDecision(
            True,
            None,
            f"{priority} is never throttled ({count} {label} in the window, "
            f"limit {limit.describe()} for P2-P4)",
            sends_in_window=count,
            limit=limit,
        )
    if count < limit.max_sends:
        return ThrottleDecision(
            True,
            None,
            f"{label} {count + 1} of {limit.describe()}",
            sends_in_window=count,
            limit=limit,
        )
    # Room again once the oldest (count - max_sends + 1) sends in the window have left it.
    retry_at = in_window[count - limit.max_sends] + limit.window
    wait = max(0, int((retry_at - now).total_seconds() + 0.999))
    head = (
        f"{label} throttled for {priority}: {count} sent to this person in the window "
        f"(limit {limit.describe()})"
    )
    instead = ThrottleFallback.DIGEST
    tail = f"held for a digest at {_clock(retry_at)} (in {wait} s); in-app now"
    return ThrottleDecision(
        False,
        retry_at,
        f"{head}: {tail}",
        instead=instead,
        sends_in_window=count,
        limit=limit,
    )
