"""Response metrics computed from incident timelines: MTTA, time to bedside, MTTR, escalations,
notifications and the false-alarm share, per incident and grouped by priority, ward, shift and
person, with percentiles. Pure: no I/O, no clock, no database.

Input: one :class:`IncidentFacts` per incident. A service builds them in two queries::

    -- 1. the incidents opened in [from, to)
    SELECT i.id, i.number, i.priority, w.code, i.opened_at, <assignee>, <lead>
      FROM incidents i LEFT JOIN wards w ON w.id = i.ward_id
     WHERE i.opened_at >= :from AND i.opened_at < :to;
    -- 2. their timelines, in order
    SELECT incident_id, at, kind, actor, data FROM incident_events
     WHERE incident_id = ANY(:ids) ORDER BY incident_id, at, id;

then ``with_timelines(heads, rows)`` attaches each incident's events (``str(incident_id)``
matches ``IncidentFacts.id``).

What the timeline ``kind`` strings mean here (the kinds written by
``healthguard.incidents.lifecycle``, ``service.open_incident`` and ``workers/triage.py``):

- ``acknowledged``: an acknowledgement (``start`` from triggered writes one too, implicit, at
  the same time). ``started``: a responder is at the bedside (in progress).
- ``escalated``: one escalation (to the next policy step or to a named person/team). A
  priority change (``priority_changed``, triage's ``upgraded``) is not an escalation.
- ``resolved`` (``data["reason"]``, ``false_alarm`` counts as a false alarm), ``closed``,
  ``reopened`` (back to triggered).
- ``notification.*`` (sent, delivered, failed, read, ...; written by the notification
  pipeline): the notifications of the incident. Events carrying ``data["notification_id"]``
  count once per distinct id, whatever their status updates; events without an id count
  once each when their kind is ``notification.sent``.
- Everything else (``opened``, ``evidence``, ``upgraded``, ``note``, ``reassigned``,
  ``responder_joined`` / ``responder_left``, ``lead_set``, ``priority_changed``) carries no
  metric.

Decisions:

- Durations are seconds (float), from ``IncidentFacts.opened_at``; a negative span (clock
  skew between writers) counts as 0.
- Time to acknowledge: the FIRST ``acknowledged`` or ``started``, whichever is earlier; who
  acknowledged is its actor. Time to bedside: the FIRST ``started``. A reopened incident
  keeps them (the first response is what the patient got).
- Time to resolve: a reopened incident uses its LAST resolution (the one that ended its last
  open period), so the span includes the reopened time; an incident that is open now
  (never resolved, or reopened and not resolved again) has none and counts as ``open``. The
  resolution reason (false alarm or not) is that last resolution's too. A ``resolved``
  event while already resolved is ignored.
- Priority is the incident's priority now (``IncidentFacts.priority``), not at opening.
  ``person`` is who acknowledged first (None: never acknowledged); ``ward`` None: no ward.
- Every timestamp is normalised to UTC, inputs and outputs: Python subtracts and compares
  two aware datetimes sharing a ``ZoneInfo`` by wall clock, which is wrong across DST.
- Percentiles are NEAREST-RANK: the value at rank ``ceil(p/100 * n)`` of the sorted values
  (1-based), so every percentile is an observed value, p50 <= p90 <= p95 <= p99 <= max.
  Empty samples give None for every statistic, never 0.
- ``shift`` is computed from ``opened_at`` in the time zone passed in, with shift starts in
  local wall-clock time (default day 07:00, evening 15:00, night 23:00). A shift starts at
  the first instant the local clock reaches its start time: on a DST change the night shift
  is 7 h or 9 h long (Europe/London, last Sunday of March / October); a start time inside a
  DST gap begins at the transition; inside a repeated hour, at its first occurrence.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from healthguard.incidents.lifecycle import IncidentState, ResolutionReason
from healthguard.incidents.priority import PRIORITIES

__all__ = [
    "DEFAULT_SHIFTS",
    "DIMENSIONS",
    "PERCENTILES",
    "Dimension",
    "DurationStats",
    "GroupMetrics",
    "HourBucket",
    "IncidentFacts",
    "IncidentMetrics",
    "Sample",
    "Shift",
    "ShiftSpan",
    "TimelineItem",
    "duration_stats",
    "hourly_histogram",
    "incident_metrics",
    "opened_between",
    "percentile",
    "prometheus_samples",
    "shift_at",
    "summarize",
    "with_timelines",
]

KIND_ACKNOWLEDGED = "acknowledged"
KIND_STARTED = "started"
KIND_ESCALATED = "escalated"
KIND_RESOLVED = "resolved"
KIND_CLOSED = "closed"
KIND_REOPENED = "reopened"
NOTIFICATION_PREFIX = "notification."
NOTIFICATION_SENT = "notification.sent"

PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
HOUR = timedelta(hours=1)
MAX_HISTOGRAM_BUCKETS = 24 * 366

Dimension = Literal["priority", "ward", "shift", "person"]
DIMENSIONS: tuple[Dimension, ...] = ("priority", "ward", "shift", "person")


# --- input --------------------------------------------------------------------------------


class TimelineItem(NamedTuple):
    """One timeline entry as metrics see it: a plain ``(at, kind, actor, data)`` tuple works."""

    at: datetime
    kind: str
    actor: str
    data: Mapping[str, Any]


TimelineRow = tuple[datetime, str, str, Mapping[str, Any] | None]


@dataclass(frozen=True)
class IncidentFacts:
    """An incident with its timeline. ``timeline``: ``(at, kind, actor, data)`` tuples, in
    the order written (sorted here by ``at``, stably, so entries written at the same instant
    keep their order). Timestamps must be timezone-aware; they are kept in UTC."""

    id: str
    number: int | None
    priority: str
    ward_code: str | None
    opened_at: datetime
    assignee: str | None = None
    lead: str | None = None
    timeline: Sequence[TimelineRow] = ()
    items: tuple[TimelineItem, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "opened_at", _utc(self.opened_at, "opened_at"))
        items: list[TimelineItem] = []
        for row in self.timeline:
            at, kind, actor, data = row
            at = _utc(at, "timeline at")
            items.append(TimelineItem(at, kind, actor, data if data is not None else {}))
        items.sort(key=lambda item: item.at)
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "timeline", self.items)


def with_timelines(
    heads: Iterable[IncidentFacts],
    events: Iterable[tuple[object, datetime, str, str, Mapping[str, Any] | None]],
) -> list[IncidentFacts]:
    """``heads`` (incidents without their timelines) with their events attached:
    ``events`` are ``(incident_id, at, kind, actor, data)`` rows in timeline order, matched
    on ``str(incident_id) == head.id``; events of other incidents are ignored."""
    by_incident: dict[str, list[TimelineRow]] = defaultdict(list)
    for incident_id, at, kind, actor, data in events:
        by_incident[str(incident_id)].append((at, kind, actor, data))
    return [replace(head, timeline=(*head.items, *by_incident.get(head.id, ()))) for head in heads]


def opened_between(
    facts: Iterable[IncidentFacts], start: datetime | None, end: datetime | None
) -> list[IncidentFacts]:
    """The incidents opened in ``[start, end)`` (None: unbounded on that side)."""
    start = _utc(start, "start") if start is not None else None
    end = _utc(end, "end") if end is not None else None
    return [
        f
        for f in facts
        if (start is None or f.opened_at >= start) and (end is None or f.opened_at < end)
    ]


# --- per incident -------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentMetrics:
    """One incident's response. Durations in seconds; None when it did not happen (yet)."""

    incident_id: str
    number: int | None
    priority: str
    ward_code: str | None
    opened_at: datetime
    assignee: str | None
    lead: str | None
    status: IncidentState  # after the last entry of the timeline
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    time_to_acknowledge: float | None
    started_at: datetime | None
    started_by: str | None
    time_to_bedside: float | None
    resolved_at: datetime | None  # the last resolution; None while open
    resolution_reason: str | None
    time_to_resolve: float | None
    escalations: int
    notifications: int
    reopened: int

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def open(self) -> bool:
        return self.status not in (IncidentState.RESOLVED, IncidentState.CLOSED)

    @property
    def resolved(self) -> bool:
        return not self.open

    @property
    def false_alarm(self) -> bool:
        return self.resolved and self.resolution_reason == ResolutionReason.FALSE_ALARM.value


def incident_metrics(facts: IncidentFacts) -> IncidentMetrics:
    """Replay ``facts.timeline`` (see the module docstring for what each kind means)."""
    status = IncidentState.TRIGGERED
    acknowledged: TimelineItem | None = None
    started: TimelineItem | None = None
    resolved_at: datetime | None = None
    reason: str | None = None
    escalations = reopened = 0
    notification_ids: set[str] = set()
    anonymous_notifications = 0
    for item in facts.items:
        kind = item.kind
        if kind in (KIND_ACKNOWLEDGED, KIND_STARTED):
            if acknowledged is None:
                acknowledged = item
            if kind == KIND_STARTED and started is None:
                started = item
            if status in (IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED):
                started_now = kind == KIND_STARTED
                status = IncidentState.IN_PROGRESS if started_now else IncidentState.ACKNOWLEDGED
        elif kind == KIND_ESCALATED:
            escalations += 1
        elif kind == KIND_RESOLVED:
            if status not in (IncidentState.RESOLVED, IncidentState.CLOSED):
                status = IncidentState.RESOLVED
                resolved_at = item.at
                raw = item.data.get("reason")
                reason = str(raw) if raw is not None else None
        elif kind == KIND_CLOSED:
            status = IncidentState.CLOSED
        elif kind == KIND_REOPENED:
            if status in (IncidentState.RESOLVED, IncidentState.CLOSED):
                reopened += 1
            status = IncidentState.TRIGGERED
            resolved_at = None
            reason = None
        elif kind.startswith(NOTIFICATION_PREFIX):
            notification_id = item.data.get("notification_id")
            if notification_id is not None:
                notification_ids.add(str(notification_id))
            elif kind == NOTIFICATION_SENT:
                anonymous_notifications += 1
    is_open = status not in (IncidentState.RESOLVED, IncidentState.CLOSED)
    if is_open:
        resolved_at, reason = None, None
    return IncidentMetrics(
        incident_id=facts.id,
        number=facts.number,
        priority=facts.priority,
        ward_code=facts.ward_code,
        opened_at=facts.opened_at,
        assignee=facts.assignee,
        lead=facts.lead,
        status=status,
        acknowledged_at=acknowledged.at if acknowledged else None,
        acknowledged_by=acknowledged.actor if acknowledged else None,
        time_to_acknowledge=_since(facts.opened_at, acknowledged.at if acknowledged else None),
        started_at=started.at if started else None,
        started_by=started.actor if started else None,
        time_to_bedside=_since(facts.opened_at, started.at if started else None),
        resolved_at=resolved_at,
        resolution_reason=reason,
        time_to_resolve=_since(facts.opened_at, resolved_at),
        escalations=escalations,
        notifications=len(notification_ids) + anonymous_notifications,
        reopened=reopened,
    )


# --- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ``ceil(p/100 * n)`` (at least 1) of the
    sorted values; ``p`` in [0, 100] (0 gives the minimum). None for no values."""
    if not 0 <= p <= 100:
        raise ValueError(f"p must be within [0, 100], got {p!r}")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(Fraction(str(p)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class DurationStats:
    """Statistics of durations in seconds; ``n`` values; every statistic None when n == 0."""

    n: int
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    min: float | None
    max: float | None

    @property
    def total(self) -> float:
        return self.mean * self.n if self.mean is not None else 0.0


def duration_stats(values: Iterable[float]) -> DurationStats:
    ordered = sorted(values)
    if not ordered:
        return DurationStats(0, None, None, None, None, None, None, None)
    p50, p90, p95, p99 = (percentile(ordered, p) for p in PERCENTILES)
    return DurationStats(
        n=len(ordered),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        mean=statistics.fmean(ordered),
        min=ordered[0],
        max=ordered[-1],
    )


# --- shifts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shift:
    """A shift starting at ``start`` local wall-clock time, until the next shift's start."""

    name: str
    start: time


DEFAULT_SHIFTS: tuple[Shift, ...] = (
    Shift("day", time(7, 0)),
    Shift("evening", time(15, 0)),
    Shift("night", time(23, 0)),
)


@dataclass(frozen=True)
class ShiftSpan:
    """One worked shift: ``name``, the local date it started on, ``[starts_at, ends_at)`` in
    UTC (aware datetimes sharing a ``ZoneInfo`` subtract and compare by wall clock, and
    inter-zone comparisons of repeated-hour times are never equal: UTC avoids both traps;
    ``.astimezone(zone)`` to show them)."""

    name: str
    local_date: date
    starts_at: datetime
    ends_at: datetime

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600


def shift_at(at: datetime, zone: tzinfo, shifts: Sequence[Shift] = DEFAULT_SHIFTS) -> ShiftSpan:
    """The shift worked at ``at`` in ``zone`` (a ``ZoneInfo``; DST-correct, see the module
    docstring)."""
    _aware(at, "at")
    ordered = _checked_shifts(shifts)
    local_day = at.astimezone(zone).date()
    boundaries = [
        (_first_instant(day, shift.start, zone), shift.name, day)
        for day in (local_day - timedelta(days=offset) for offset in (2, 1, 0, -1, -2))
        for shift in ordered
    ]
    boundaries.sort(key=lambda b: b[0])
    at_utc = at.astimezone(UTC)
    index = max(i for i, b in enumerate(boundaries) if b[0] <= at_utc)
    starts_at, name, day = boundaries[index]
    ends_at = boundaries[index + 1][0]
    return ShiftSpan(name, day, starts_at, ends_at)


def _checked_shifts(shifts: Sequence[Shift]) -> list[Shift]:
    if not shifts:
        raise ValueError("shifts: give at least one shift")
    if len({s.name for s in shifts}) != len(shifts):
        raise ValueError("shifts: names must be distinct")
    if len({s.start for s in shifts}) != len(shifts):
        raise ValueError("shifts: start times must be distinct")
    if any(s.start.tzinfo is not None for s in shifts):
        raise ValueError("shifts: start times are local wall-clock times, without tzinfo")
    return sorted(shifts, key=lambda s: s.start)


def _first_instant(day: date, wall: time, zone: tzinfo) -> datetime:
    """The first instant (UTC) at which the clock in ``zone`` reads ``day`` ``wall`` or later:
    the first occurrence of a repeated time, the transition for a time in a DST gap."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return min(first, second) if _reads(second, zone) == naive else first
    # In a gap: the clock jumps over ``wall``; the transition lies between the two readings.
    # Find it to the second (time zone transitions are on whole seconds).
    low, high = (
        math.floor(min(first, second).timestamp()),
        math.ceil(max(first, second).timestamp()),
    )
    while high - low > 1:  # invariant: reads(low) < naive <= reads(high)
        middle = (low + high) // 2
        if _reads(datetime.fromtimestamp(middle, UTC), zone) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _reads(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


# --- groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupMetrics:
    """The metrics of one group. ``key``: ``(dimension, value)`` pairs in ``group_by`` order
    (``ward`` None: no ward; ``person`` None: never acknowledged).

    ``unacknowledged``: never acknowledged (excluded from time to acknowledge), whether open or
    resolved since; ``open``: not resolved now; ``false_alarm_share``: resolved as false alarm
    / resolved (None when none is resolved); ``*_per_incident``: None for no incidents."""

    key: tuple[tuple[str, str | None], ...]
    count: int
    acknowledged: int
    unacknowledged: int
    open: int
    resolved: int
    false_alarms: int
    false_alarm_share: float | None
    time_to_acknowledge: DurationStats
    time_to_bedside: DurationStats
    time_to_resolve: DurationStats
    escalations: int
    escalations_per_incident: float | None
    notifications: int
    notifications_per_incident: float | None
    reopened: int

    @property
    def labels(self) -> dict[str, str | None]:
        return dict(self.key)


def summarize(
    facts: Iterable[IncidentFacts],
    group_by: Sequence[Dimension] = (),
    *,
    zone: tzinfo | None = None,
    shifts: Sequence[Shift] = DEFAULT_SHIFTS,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
) -> list[GroupMetrics]:
    """Metrics of the incidents opened in ``[opened_from, opened_to)``, grouped by the
    ``group_by`` dimensions combined (``("priority", "shift")``: one group per priority and
    shift seen). No dimension: exactly one group, the whole (count 0 if nothing matched).
    ``zone`` is required to group by shift. Groups are ordered by priority (P0 first), shift
    (in ``shifts`` order), then ward and person alphabetically (None last)."""
    dimensions = tuple(group_by)
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown or len(set(dimensions)) != len(dimensions):
        raise ValueError(
            f"group_by: distinct dimensions among {', '.join(DIMENSIONS)}, got {dimensions!r}"
        )
    if "shift" in dimensions and zone is None:
        raise ValueError("zone: a time zone (ZoneInfo) is needed to group by shift")
    ordered_shifts = _checked_shifts(shifts)
    shift_order = {s.name: i for i, s in enumerate(shifts)}
    selected = [incident_metrics(f) for f in opened_between(facts, opened_from, opened_to)]

    def value(m: IncidentMetrics, dimension: Dimension) -> str | None:
        if dimension == "priority":
            return m.priority
        if dimension == "ward":
            return m.ward_code
        if dimension == "person":
            return m.acknowledged_by
        assert zone is not None
        return shift_at(m.opened_at, zone, ordered_shifts).name

    groups: dict[tuple[str | None, ...], list[IncidentMetrics]] = defaultdict(list)
    for m in selected:
        groups[tuple(value(m, d) for d in dimensions)].append(m)
    if not dimensions:
        groups.setdefault((), [])

    sorters: dict[str, Callable[[str | None], tuple[int, int, str]]] = {
        "priority": lambda v: _rank(v, {p: i for i, p in enumerate(PRIORITIES)}),
        "shift": lambda v: _rank(v, shift_order),
        "ward": lambda v: _rank(v, {}),
        "person": lambda v: _rank(v, {}),
    }

    def order(values: tuple[str | None, ...]) -> tuple[tuple[int, int, str], ...]:
        return tuple(sorters[d](v) for d, v in zip(dimensions, values, strict=True))

    return [
        _group(tuple(zip(dimensions, values, strict=True)), groups[values])
        for values in sorted(groups, key=order)
    ]


def _rank(value: str | None, known: Mapping[str, int]) -> tuple[int, int, str]:
    if value is None:
        return (2, 0, "")
    if value in known:
        return (0, known[value], value)
    return (1, 0, value)


def _group(key: tuple[tuple[str, str | None], ...], members: list[IncidentMetrics]) -> GroupMetrics:
    count = len(members)
    resolved = sum(m.resolved for m in members)
    false_alarms = sum(m.false_alarm for m in members)
    escalations = sum(m.escalations for m in members)
    notifications = sum(m.notifications for m in members)
    acknowledged = sum(m.acknowledged for m in members)
    return GroupMetrics(
        key=key,
        count=count,
        acknowledged=acknowledged,
        unacknowledged=count - acknowledged,
        open=count - resolved,
        resolved=resolved,
        false_alarms=false_alarms,
        false_alarm_share=false_alarms / resolved if resolved else None,
        time_to_acknowledge=duration_stats(
            m.time_to_acknowledge for m in members if m.time_to_acknowledge is not None
        ),
        time_to_bedside=duration_stats(
            m.time_to_bedside for m in members if m.time_to_bedside is not None
        ),
        time_to_resolve=duration_stats(
            m.time_to_resolve for m in members if m.time_to_resolve is not None
        ),
        escalations=escalations,
        escalations_per_incident=escalations / count if count else None,
        notifications=notifications,
        notifications_per_incident=notifications / count if count else None,
        reopened=sum(m.reopened for m in members),
    )


# --- hourly histogram ---------------------------------------------------------------------


@dataclass(frozen=True)
class HourBucket:
    """Incidents opened in ``[start, end)`` (one hour, UTC), by priority (every priority
    present, 0 when none); ``local_start``: ``start`` in the histogram's zone, for labels."""

    start: datetime
    end: datetime
    local_start: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def hourly_histogram(
    facts: Iterable[IncidentFacts],
    start: datetime,
    end: datetime,
    *,
    zone: tzinfo = UTC,
    priorities: Sequence[str] = PRIORITIES,
) -> list[HourBucket]:
    """Incidents opened in ``[start, end)`` per hour and priority ("alerts per hour by
    priority, 24 h"). Buckets are one real hour each, from ``start`` rounded down to the hour
    of ``zone`` (bucket times are shown in ``zone``), to ``end``: a local day across a DST
    change has 23 or 25 buckets. Only incidents at or after ``start`` count, so pass
    hour-aligned bounds for full buckets. A priority not in ``priorities`` gets its own key."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    local = start.astimezone(zone)
    first = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    if first > start:  # a zone whose offset is not whole hours, rounding in a repeated hour
        first -= HOUR
    n = math.ceil((end - first) / HOUR)
    if n > MAX_HISTOGRAM_BUCKETS:
        raise ValueError(f"at most {MAX_HISTOGRAM_BUCKETS} hourly buckets, got {n}")
    counts: list[dict[str, int]] = [dict.fromkeys(priorities, 0) for _ in range(n)]
    for f in opened_between(facts, start, end):
        bucket = counts[int((f.opened_at - first) // HOUR)]
        bucket[f.priority] = bucket.get(f.priority, 0) + 1
    return [
        HourBucket(first + i * HOUR, first + (i + 1) * HOUR, (first + i * HOUR).astimezone(zone), c)
        for i, c in enumerate(counts)
    ]


# --- Prometheus ---------------------------------------------------------------------------


class Sample(NamedTuple):
    """One Prometheus sample: ``name{labels} value``."""

    name: str
    labels: dict[str, str]
    value: float


_DURATIONS = ("time_to_acknowledge", "time_to_bedside", "time_to_resolve")


def prometheus_samples(
    groups: Iterable[GroupMetrics], namespace: str = "healthguard"
) -> list[Sample]:
    """The groups as gauges and summaries (data only; an exporter formats them):
    ``{ns}_incidents``, ``_open``, ``_unacknowledged``, ``_resolved``, ``_false_alarm_ratio``,
    ``_escalations``, ``_notifications`` and, per duration, a summary
    ``{ns}_incident_<duration>_seconds{quantile="0.5"...}`` with ``_sum`` and ``_count``.
    Labels are the group key (None as "", which Prometheus treats as absent); statistics
    that are None are left out."""
    samples: list[Sample] = []
    prefix = f"{namespace}_incidents"
    for g in groups:
        labels = {name: value if value is not None else "" for name, value in g.key}
        rows: list[tuple[str, float | None, dict[str, str]]] = [
            (prefix, g.count, {}),
            (f"{prefix}_open", g.open, {}),
            (f"{prefix}_unacknowledged", g.unacknowledged, {}),
            (f"{prefix}_resolved", g.resolved, {}),
            (f"{prefix}_false_alarm_ratio", g.false_alarm_share, {}),
            (f"{prefix}_escalations", g.escalations, {}),
            (f"{prefix}_notifications", g.notifications, {}),
        ]
        for duration in _DURATIONS:
            stats: DurationStats = getattr(g, duration)
            name = f"{namespace}_incident_{duration}_seconds"
            rows.extend(
                (name, getattr(stats, f"p{p}"), {"quantile": str(p / 100)}) for p in PERCENTILES
            )
            rows.append((f"{name}_sum", stats.total, {}))
            rows.append((f"{name}_count", stats.n, {}))
        samples.extend(
            Sample(name, {**labels, **extra}, float(value))
            for name, value, extra in rows
            if value is not None
        )
    return samples


# --- helpers ------------------------------------------------------------------------------


def _aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _utc(at: datetime, name: str) -> datetime:
    """``at`` in UTC: aware datetimes sharing a tzinfo subtract by wall clock, not elapsed
    time, so everything is compared and subtracted in UTC."""
    _aware(at, name)
    return at.astimezone(UTC)


def _since(opened_at: datetime, at: datetime | None) -> float | None:
    if at is None:
        return None
    return max((at - opened_at).total_seconds(), 0.0)
