"""Per-person notification rules: which channels, after how long, for which urgency.

Pure: no I/O, no database, no clock (``now`` is passed in, timezone-aware). The notify
service loads the person's ``RuleSet`` and ``ContactMethods``, calls
``plan_deliveries(rule_set, contacts, priority, now, tz)`` and schedules one job per
``PlannedDelivery`` (each job re-checks the incident and does nothing once it was answered).

Urgency (the IEC 60601-1-8 alarm level of ``healthguard.incidents.priority``)::

    high   = P0, P1    default: in-app + push + pager at 0 s, SMS at 30 s, voice call at 60 s
    medium = P2        default: in-app + push at 0 s, SMS + pager at 120 s
    low    = P3, P4    default: in-app + push at 0 s (nothing that rings)

A rule is a list of ``Step(channel, delay_seconds)``; the delay counts from the moment the
person is notified (``now``), not from the incident's start. Rules:

- **In-app is always there.** Every plan starts with an in-app notification at ``now``, even
  when the rule forgot it: it needs no contact method and is the one channel quiet hours leave.
- **Contact methods filter.** SMS and voice need a phone number, email an address, pager a
  pager id, push at least one push subscription. A step on a channel the person lacks is
  skipped, with the reason, in ``plan.skipped``.
- **Unreachable.** A person with no contact method at all, or with none of the channels the
  rule uses outside the app, gets in-app only and the plan says ``unreachable=True`` with a
  reason: the escalation should not wait for them and move on to the next step.
- **Quiet hours** (``QuietHours(start, end)``, a local wall-clock window in the person's IANA
  zone; ``22:00-07:00`` crosses midnight): a step whose due time falls inside the window is
  skipped (in-app only), judged step by step in local time, so DST changes move the window
  with the clocks. **P0 and P1 bypass quiet hours** (``plan.quiet_hours_bypassed``): a
  cardiac arrest wakes you up. Steps are not deferred to the end of the window: the
  in-app notification and the escalation policy carry a P2-P4 incident meanwhile.
- **Stop.** Once the person answers, or the incident is acknowledged or resolved, the
  deliveries due from that moment on are cancelled: ``cancel_after_answer`` filters a plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from healthguard.incidents.priority import validate_priority
from healthguard.models.notifications import Channel

__all__ = [
    "CHANNEL_LABELS",
    "DEFAULT_HIGH",
    "DEFAULT_LOW",
    "DEFAULT_MEDIUM",
    "DEFAULT_RULE_SET",
    "MAX_STEP_DELAY_SECONDS",
    "URGENCY_BY_PRIORITY",
    "Cancellation",
    "ContactMethods",
    "DeliveryPlan",
    "PlannedDelivery",
    "QuietHours",
    "RuleSet",
    "SkippedStep",
    "Step",
    "StopReason",
    "Urgency",
    "cancel_after_answer",
    "plan_deliveries",
    "urgency_for",
]

MAX_STEP_DELAY_SECONDS = 3600  # a rule step later than an hour belongs to the escalation policy


class Urgency(StrEnum):
    HIGH = "high"  # P0, P1
    MEDIUM = "medium"  # P2
    LOW = "low"  # P3, P4


URGENCY_BY_PRIORITY: dict[str, Urgency] = {
    "P0": Urgency.HIGH,
    "P1": Urgency.HIGH,
    "P2": Urgency.MEDIUM,
    "P3": Urgency.LOW,
    "P4": Urgency.LOW,
}

# How a channel is named in a reason on the timeline.
CHANNEL_LABELS: dict[Channel, str] = {
    Channel.IN_APP: "In-app",
    Channel.PUSH: "Push",
    Channel.SMS: "SMS",
    Channel.VOICE: "Voice call",
    Channel.EMAIL: "Email",
    Channel.PAGER: "Pager",
}

_NEEDS: dict[Channel, str] = {
    Channel.PUSH: "no push subscription (the app is not installed or notifications are off)",
    Channel.SMS: "no phone number",
    Channel.VOICE: "no phone number",
    Channel.EMAIL: "no email address",
    Channel.PAGER: "no pager id",
}


def urgency_for(priority: str) -> Urgency:
    """high for P0/P1, medium for P2, low for P3/P4; ValueError for anything else."""
    return URGENCY_BY_PRIORITY[validate_priority(priority)]


@dataclass(frozen=True)
class Step:
    """Notify on ``channel`` ``delay_seconds`` after the person is first notified."""

    channel: Channel
    delay_seconds: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel", Channel(self.channel))
        if isinstance(self.delay_seconds, bool) or not isinstance(self.delay_seconds, int):
            raise ValueError("delay_seconds must be a whole number of seconds")
        if not 0 <= self.delay_seconds <= MAX_STEP_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be 0 to {MAX_STEP_DELAY_SECONDS}")


DEFAULT_HIGH: tuple[Step, ...] = (
    Step(Channel.IN_APP, 0),
    Step(Channel.PUSH, 0),
    Step(Channel.PAGER, 0),
    Step(Channel.SMS, 30),
    Step(Channel.VOICE, 60),
)
DEFAULT_MEDIUM: tuple[Step, ...] = (
    Step(Channel.IN_APP, 0),
    Step(Channel.PUSH, 0),
    Step(Channel.SMS, 120),
    Step(Channel.PAGER, 120),
)
DEFAULT_LOW: tuple[Step, ...] = (Step(Channel.IN_APP, 0), Step(Channel.PUSH, 0))


@dataclass(frozen=True)
class QuietHours:
    """A local wall-clock window, ``start`` included, ``end`` excluded; crosses midnight when
    ``start`` is later than ``end`` (22:00-07:00)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times: give naive times")
        if self.start == self.end:
            raise ValueError("quiet hours: start and end must differ")

    def contains(self, local: time) -> bool:
        t = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class RuleSet:
    """One person's rules: steps per urgency and optional quiet hours."""

    high: tuple[Step, ...] = DEFAULT_HIGH
    medium: tuple[Step, ...] = DEFAULT_MEDIUM
    low: tuple[Step, ...] = DEFAULT_LOW
    quiet_hours: QuietHours | None = None

    def __post_init__(self) -> None:
        for name in ("high", "medium", "low"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def steps_for(self, urgency: Urgency) -> tuple[Step, ...]:
        return {Urgency.HIGH: self.high, Urgency.MEDIUM: self.medium, Urgency.LOW: self.low}[
            urgency
        ]


DEFAULT_RULE_SET = RuleSet()


def _present(value: str | None) -> bool:
    return value is not None and value.strip() != ""


@dataclass(frozen=True)
class ContactMethods:
    """Where a person can be reached outside the app. Blank values count as missing."""

    phone: str | None = None  # SMS and voice
    email: str | None = None
    pager_id: str | None = None
    push_subscriptions: tuple[str, ...] = ()  # endpoints or subscription ids

    def __post_init__(self) -> None:
        object.__setattr__(self, "push_subscriptions", tuple(self.push_subscriptions))

    def channels(self) -> frozenset[Channel]:
        """The channels this person can be reached on; in-app always."""
        found = {Channel.IN_APP}
        if _present(self.phone):
            found |= {Channel.SMS, Channel.VOICE}
        if _present(self.email):
            found.add(Channel.EMAIL)
        if _present(self.pager_id):
            found.add(Channel.PAGER)
        if any(_present(s) for s in self.push_subscriptions):
            found.add(Channel.PUSH)
        return frozenset(found)

    @property
    def has_any(self) -> bool:
        return self.channels() != {Channel.IN_APP}


@dataclass(frozen=True)
class PlannedDelivery:
    channel: Channel
    due_at: datetime
    reason: str  # for the timeline


@dataclass(frozen=True)
class SkippedStep:
    channel: Channel
    due_at: datetime
    reason: str  # for the timeline


@dataclass(frozen=True)
class DeliveryPlan:
    """What to send to one person, in due order. ``unreachable``: nothing outside the app
    can reach them (``unreachable_reason`` says why); the escalation should move on."""

    priority: str
    urgency: Urgency
    deliveries: tuple[PlannedDelivery, ...]
    skipped: tuple[SkippedStep, ...] = ()
    unreachable: bool = False
    unreachable_reason: str | None = None
    quiet_hours_applied: bool = False  # at least one step was skipped for quiet hours
    quiet_hours_bypassed: bool = False  # a P0/P1 step fell inside the quiet hours and was kept

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The planned channels, each once, in due order (the fallback candidates)."""
        return tuple(dict.fromkeys(d.channel for d in self.deliveries))


def _zone(tz: tzinfo | str) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def plan_deliveries(
    rule_set: RuleSet,
    contacts: ContactMethods,
    priority: str,
    now: datetime,
    tz: tzinfo | str,
) -> DeliveryPlan:
    """Plan the deliveries of one notification to one person (see the module docstring).

    ``tz``: the person's IANA zone (a name such as "Europe/Berlin" or a ``tzinfo``), used for
    quiet hours only; ``due_at`` keeps the zone of ``now``.
    """
    _require_aware("now", now)
    priority = validate_priority(priority)
    urgency = URGENCY_BY_PRIORITY[priority]
    zone = _zone(tz)
    bypass = urgency is Urgency.HIGH
    quiet = rule_set.quiet_hours
    available = contacts.channels()
    steps = sorted(rule_set.steps_for(urgency), key=lambda s: s.delay_seconds)

    deliveries: list[PlannedDelivery] = []
    skipped: list[SkippedStep] = []
    applied = bypassed = False
    seen: set[tuple[Channel, datetime]] = set()
    for step in steps:
        due = now + timedelta(seconds=step.delay_seconds)
        if (step.channel, due) in seen:
            continue
        seen.add((step.channel, due))
        label = CHANNEL_LABELS[step.channel]
        rule_text = f"{urgency.value} urgency rule ({priority}): {label} at +{step.delay_seconds} s"
        if step.channel not in available:
            skipped.append(
                SkippedStep(step.channel, due, f"{label} skipped: {_NEEDS[step.channel]}")
            )
            continue
        in_quiet = (
            step.channel is not Channel.IN_APP
            and quiet is not None
            and quiet.contains(due.astimezone(zone).time())
        )
        if in_quiet and not bypass and quiet is not None:
            applied = True
            skipped.append(
                SkippedStep(
                    step.channel,
                    due,
                    f"{label} skipped: quiet hours {quiet.describe()} ({_zone_name(zone)}), "
                    f"in-app only for {priority}",
                )
            )
            continue
        if in_quiet:
            bypassed = True
            rule_text += f" (quiet hours bypassed: {priority})"
        deliveries.append(PlannedDelivery(step.channel, due, rule_text))

    if not any(d.channel is Channel.IN_APP and d.due_at == now for d in deliveries):
        deliveries.insert(0, PlannedDelivery(Channel.IN_APP, now, "in-app: always, at once"))

    unreachable_reason: str | None = None
    external = [s.channel for s in steps if s.channel is not Channel.IN_APP]
    if not contacts.has_any:
        unreachable_reason = (
            "no contact method on file (phone, email, pager, push): in-app only, "
            "the escalation should move on"
        )
    elif external and not any(c in available for c in external):
        wanted = ", ".join(CHANNEL_LABELS[c] for c in dict.fromkeys(external))
        unreachable_reason = (
            f"none of the channels of the {urgency.value} urgency rule ({wanted}) is on file: "
            "in-app only, the escalation should move on"
        )

    order = {c: i for i, c in enumerate(Channel)}
    deliveries.sort(key=lambda d: (d.due_at, order[d.channel]))
    return DeliveryPlan(
        priority=priority,
        urgency=urgency,
        deliveries=tuple(deliveries),
        skipped=tuple(skipped),
        unreachable=unreachable_reason is not None,
        unreachable_reason=unreachable_reason,
        quiet_hours_applied=applied,
        quiet_hours_bypassed=bypassed,
    )


class StopReason(StrEnum):
    ANSWERED = "answered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Cancellation:
    """``kept``: due before the stop (sent, or being sent); ``cancelled``: due at or after it."""

    kept: tuple[PlannedDelivery, ...]
    cancelled: tuple[PlannedDelivery, ...]
    stopped_at: datetime | None = None
    stop_reason: StopReason | None = None
    reason: str | None = None  # for the timeline; None when nothing was cancelled


def cancel_after_answer(
    deliveries: DeliveryPlan | Sequence[PlannedDelivery] | Iterable[PlannedDelivery],
    *,
    answered_at: datetime | None = None,
    acknowledged_at: datetime | None = None,
    resolved_at: datetime | None = None,
) -> Cancellation:
    """The stop rule: cancel every delivery due at or after the earliest of the person's
    answer, the incident's acknowledgement or its resolution. Nothing given: nothing stops."""
    items = tuple(deliveries.deliveries if isinstance(deliveries, DeliveryPlan) else deliveries)
    stops: list[tuple[datetime, StopReason]] = []
    for when, why in (
        (answered_at, StopReason.ANSWERED),
        (acknowledged_at, StopReason.ACKNOWLEDGED),
        (resolved_at, StopReason.RESOLVED),
    ):
        if when is not None:
            _require_aware(f"{why.value}_at", when)
            stops.append((when, why))
    if not stops:
        return Cancellation(kept=items, cancelled=())
    stopped_at, why = min(stops, key=lambda s: s[0])
    kept = tuple(d for d in items if d.due_at < stopped_at)
    cancelled = tuple(d for d in items if d.due_at >= stopped_at)
    reason = None
    if cancelled:
        names = ", ".join(dict.fromkeys(CHANNEL_LABELS[d.channel] for d in cancelled))
        what = {
            StopReason.ANSWERED: "the person answered",
            StopReason.ACKNOWLEDGED: "the incident was acknowledged",
            StopReason.RESOLVED: "the incident was resolved",
        }[why]
        count = len(cancelled)
        reason = f"{what}: {count} later notification{'s' if count > 1 else ''} cancelled ({names})"
    return Cancellation(
        kept=kept, cancelled=cancelled, stopped_at=stopped_at, stop_reason=why, reason=reason
    )
