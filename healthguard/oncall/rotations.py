"""Who is on call, and when: rotations, layers and overrides of an on-call schedule.

Pure: no I/O, no database, no clock (every instant is passed in). An adapter loads a
``Schedule`` (its layers, their rotations, and the overrides), calls
``spans_between(schedule, start, end)`` or ``on_call_at(schedule, at)`` and shows or uses the
``OnCallSpan`` rows it gets back.

A **schedule** belongs to a ward (``ward_id``; None means hospital-wide, e.g. the rapid
response team) and a role (``"nurse"``, ``"charge_nurse"``, ``"rapid_response"``...) and
lives in one IANA time zone (``"Europe/London"``).

A **rotation** is an ordered list of participants (staff ids) who take turns. The first
participant's first turn starts at the ``anchor``, a *wall-clock* date and time in the
schedule's zone (a naive datetime, e.g. ``datetime(2026, 3, 2, 7, 0)`` for 07:00). The
handoff pattern says how long each turn lasts on the clock on the ward wall:

- ``Handoff.SHIFT``: every ``shift_hours`` hours (8 for three shifts a day, 12 for two);
- ``Handoff.DAILY``: every day at the anchor's time;
- ``Handoff.WEEKLY``: every week at the anchor's weekday and time;
- ``Handoff.CUSTOM``: a repeating cycle of turn lengths, ``custom_hours=(10, 14)`` for a
  07:00-17:00 day and a 17:00-07:00 night.

Nobody is on call from a rotation before its anchor.

**Daylight saving time.** Handoffs happen at the wall-clock time in the schedule's zone, not
after a fixed number of real hours: a 12 h night shift 19:00-07:00 is 11 real hours on the
night the clocks go forward and 13 on the night they go back, and the day shift after it
still starts at 07:00. Two wall-clock times need a rule, applied the same way everywhere
(``local_to_utc``):

- an *ambiguous* time (it happens twice when the clocks go back, e.g. 01:30 in London on
  25 Oct 2026) means its **first** occurrence (``fold=0``, still summer time), as RFC 5545
  says;
- a *nonexistent* time (skipped when the clocks go forward, e.g. 01:30 in London on
  29 Mar 2026) means **the moment the clocks jump** (02:00 BST, 01:00 UTC), the first
  minute the clock shows after it. RFC 5545 would move it an hour later (02:30 BST); this
  rule is chosen because it keeps handoffs in order: a turn never ends before it starts,
  and the turns of a rotation never overlap. A turn that falls entirely inside the skipped
  hour has no length and is left out.

**Layers** stack rotations. ``schedule.layers[0]`` is the base layer; each later layer sits
above the ones before it (the PagerDuty convention). A layer may be restricted to
time-of-day windows on some weekdays (``TimeWindow``, e.g. a weekend layer, or a night
cover layer 19:00-07:00); outside its windows (and before its anchor) it has nobody. Where
a ``LayerMode.REPLACE`` layer (the default) has someone, that person wins over everybody
below; a ``LayerMode.ADD`` layer puts its person on call *alongside* those below (a second
nurse at night).

**Overrides** change the result of the layers for a period (UTC-aware start and end):

- ``OverrideKind.REPLACE``: ``person`` takes over from ``replaces`` wherever ``replaces`` is
  on call (a swap, a sick colleague covered); with ``replaces=None`` the person takes over
  from everybody, and is on call even if nobody was;
- ``OverrideKind.ADD``: ``person`` is on call too (extra cover on a busy night);
- ``OverrideKind.REMOVE``: ``person`` is off call (off sick; nobody fills in, which
  ``healthguard.oncall.gaps`` will report).

Overrides apply in the order given, each to the result of the ones before: the adapter
passes them oldest first, so the most recent has the last word.

The answer, ``spans_between``, is a list of ``OnCallSpan`` (one person, from ``start`` to
``end``, UTC), clipped to the window asked for; a person's adjacent spans are merged (two
back-to-back turns of the same nurse are one span); several people may be on call at once
(an ADD layer or override). ``on_call_at`` answers "who is on call now", in paging order
(the person from the layers first, then anyone added), with each span's real handoff times;
``who_is_on_call`` the same as staff ids.

Work is bounded: a window is at most ``MAX_WINDOW`` (400 days), a turn at least 1 hour.
Every instant given must be timezone-aware (a naive one raises ``ValueError``); every
instant returned is UTC.
"""

from __future__ import annotations

import math
import uuid
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_WINDOW = timedelta(days=400)  # longest window spans_between will compute
MIN_TURN = timedelta(hours=1)  # shortest turn of a rotation
MAX_TURN = timedelta(days=366)  # longest turn of a rotation
MAX_LAYERS = 20
MAX_PARTICIPANTS = 500
ON_CALL_AT_REACH = timedelta(days=31)  # on_call_at looks this far either side for handoffs

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
EVERY_DAY: frozenset[int] = frozenset(range(7))
WEEKDAYS: frozenset[int] = frozenset(range(5))
WEEKEND: frozenset[int] = frozenset({SATURDAY, SUNDAY})

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# How a role reads in a sentence: (one, several). Other roles: underscores become spaces.
ROLE_WORDS: dict[str, tuple[str, str]] = {
    "nurse": ("nurse", "nurses"),
    "charge_nurse": ("charge nurse", "charge nurses"),
    "resident": ("resident", "residents"),
    "attending": ("attending physician", "attending physicians"),
    "rapid_response": ("rapid response team member", "rapid response team members"),
    "operator": ("operator", "operators"),
}


class Handoff(StrEnum):
    """When one participant hands over to the next (on the wall clock of the schedule)."""

    SHIFT = "shift"  # every `shift_hours` hours: 8 -> 3x8h a day, 12 -> 2x12h
    DAILY = "daily"  # every day at the anchor's time
    WEEKLY = "weekly"  # every week at the anchor's weekday and time
    CUSTOM = "custom"  # a repeating cycle of turn lengths, `custom_hours`


class LayerMode(StrEnum):
    REPLACE = "replace"  # where this layer has someone, they win over the layers below
    ADD = "add"  # this layer's person is on call alongside those of the layers below


class OverrideKind(StrEnum):
    REPLACE = "replace"  # `person` takes over from `replaces` (None: from everybody)
    ADD = "add"  # `person` is on call too
    REMOVE = "remove"  # `person` is off call; nobody fills in


# --- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """Participants taking turns, the first one's first turn starting at ``anchor``, a naive
    wall-clock datetime in the schedule's time zone."""

    participants: tuple[uuid.UUID, ...]
    anchor: datetime
    handoff: Handoff = Handoff.SHIFT
    shift_hours: float | None = None  # Handoff.SHIFT only
    custom_hours: tuple[float, ...] = ()  # Handoff.CUSTOM only

    def __post_init__(self) -> None:
        object.__setattr__(self, "participants", tuple(self.participants))
        object.__setattr__(self, "custom_hours", tuple(self.custom_hours))
        object.__setattr__(self, "handoff", Handoff(self.handoff))
        if not self.participants:
            raise ValueError("participants: a rotation needs at least one person")
        if len(self.participants) > MAX_PARTICIPANTS:
            raise ValueError(f"participants: at most {MAX_PARTICIPANTS} people in a rotation")
        if not all(isinstance(p, uuid.UUID) for p in self.participants):
            raise ValueError("participants: staff ids (uuid.UUID)")
        if not isinstance(self.anchor, datetime) or self.anchor.tzinfo is not None:
            raise ValueError(
                "anchor: a wall-clock start in the schedule's time zone, without tzinfo "
                "(e.g. datetime(2026, 3, 2, 7, 0) for 07:00)"
            )
        if self.handoff is Handoff.SHIFT:
            if self.shift_hours is None or self.custom_hours:
                raise ValueError("shift_hours: a shift rotation needs the shift length (e.g. 12)")
        elif self.handoff is Handoff.CUSTOM:
            if not self.custom_hours or self.shift_hours is not None:
                raise ValueError("custom_hours: a custom rotation needs its turn lengths")
        elif self.shift_hours is not None or self.custom_hours:
            raise ValueError(
                f"shift_hours, custom_hours: not for a {self.handoff.value} rotation "
                "(its turns are a day or a week)"
            )
        for length in self.turn_lengths:
            if not MIN_TURN <= length <= MAX_TURN:
                raise ValueError(
                    f"turn length {length}: must be between {MIN_TURN} and {MAX_TURN.days} days"
                )

    @property
    def turn_lengths(self) -> tuple[timedelta, ...]:
        """The wall-clock length of each turn of one cycle (a cycle repeats forever)."""
        if self.handoff is Handoff.DAILY:
            return (timedelta(days=1),)
        if self.handoff is Handoff.WEEKLY:
            return (timedelta(days=7),)
        hours = (self.shift_hours,) if self.handoff is Handoff.SHIFT else self.custom_hours
        return tuple(_hours(h) for h in hours if h is not None)


@dataclass(frozen=True)
class TimeWindow:
    """A daily wall-clock window, starting on ``weekdays`` (0 = Monday) at ``start`` and
    ending at ``end``; an ``end`` at or before ``start`` is on the next day (``end ==
    start``: 24 hours). A weekend layer: ``TimeWindow(time(0), time(0), WEEKEND)``."""

    start: time
    end: time
    weekdays: frozenset[int] = EVERY_DAY

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start, end: wall-clock times without tzinfo")
        if not self.weekdays or not self.weekdays <= EVERY_DAY:
            raise ValueError("weekdays: one or more of 0 (Monday) to 6 (Sunday)")


@dataclass(frozen=True)
class Layer:
    name: str
    rotation: Rotation
    windows: tuple[TimeWindow, ...] = ()  # empty: the layer is active all the time
    mode: LayerMode = LayerMode.REPLACE

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "mode", LayerMode(self.mode))


@dataclass(frozen=True)
class Override:
    """A change to the layers' result from ``start`` to ``end`` (timezone-aware)."""

    kind: OverrideKind
    person: uuid.UUID  # who comes on call (replace, add) or goes off (remove)
    start: datetime
    end: datetime
    replaces: uuid.UUID | None = None  # REPLACE only: who is taken off (None: everybody)
    reason: str | None = None  # e.g. "swap approved by ...", "off sick"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OverrideKind(self.kind))
        require_aware(self.start, "override start")
        require_aware(self.end, "override end")
        if self.end <= self.start:
            raise ValueError("override end: must be after its start")
        if self.replaces is not None and self.kind is not OverrideKind.REPLACE:
            raise ValueError("replaces: only for a replace override")


@dataclass(frozen=True)
class Schedule:
    """The on-call schedule of one role on one ward (``ward_id`` None: hospital-wide)."""

    id: uuid.UUID
    role: str
    ward_id: uuid.UUID | None
    time_zone: str  # IANA, e.g. "Europe/London"
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()
    ward_name: str | None = None  # e.g. "ICU", for labels and messages

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        if not isinstance(self.role, str) or not self.role.strip():
            raise ValueError('role: e.g. "nurse", "charge_nurse", "rapid_response"')
        zone_from_name(self.time_zone)
        if len(self.layers) > MAX_LAYERS:
            raise ValueError(f"layers: at most {MAX_LAYERS}")

    @property
    def zone(self) -> ZoneInfo:
        return zone_from_name(self.time_zone)

    @property
    def label(self) -> str:
        """What this schedule is, in words: "ICU charge nurse", "Hospital-wide operator"."""
        role = role_words(self.role)
        if self.ward_name:
            return f"{self.ward_name} {role}"
        if self.ward_id is None:
            return f"Hospital-wide {role}"
        return role[:1].upper() + role[1:]


# --- the answer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OnCallSpan:
    """One person on call without a break, ``start`` to ``end`` (UTC, end excluded)."""

    staff_id: uuid.UUID
    start: datetime
    end: datetime
    schedule_id: uuid.UUID
    ward_id: uuid.UUID | None
    role: str

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Turn:
    """One turn of a rotation: ``index`` 0 is the first participant's first turn."""

    index: int
    person: uuid.UUID
    start: datetime  # UTC
    end: datetime  # UTC


# --- time helpers ---------------------------------------------------------------------------


def zone_from_name(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; a ValueError naming it if unknown."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError('time_zone: an IANA time zone name, e.g. "Europe/London"')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'time_zone: unknown IANA time zone {name!r} (e.g. "Europe/London")'
        ) from None


def local_to_utc(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of the naive wall-clock time ``wall`` in ``zone``: an ambiguous time
    is its first occurrence; a nonexistent time is the moment the clocks jump forward past
    it. Non-decreasing in ``wall``."""
    if wall.tzinfo is not None:
        raise ValueError("wall: a wall-clock time without tzinfo")
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if utc_to_local(first, zone) == wall:
        return first
    # Skipped by the clocks. fold=0 reads it with the offset before the jump (an instant after
    # the jump), fold=1 with the offset after it (an instant before): the jump is between.
    low = math.floor(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = math.ceil(first.timestamp())
    while low < high:  # the first whole second whose wall clock reads `wall` or later
        middle = (low + high) // 2
        if utc_to_local(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, UTC)


def utc_to_local(at: datetime, zone: tzinfo) -> datetime:
    """The naive wall-clock time in ``zone`` at the aware instant ``at``."""
    return at.astimezone(zone).replace(tzinfo=None)


def role_words(role: str, count: int = 1) -> str:
    """A role in a sentence: "charge nurse", or "charge nurses" when ``count`` != 1."""
    one, several = ROLE_WORDS.get(role, (role.replace("_", " "), role.replace("_", " ") + "s"))
    return one if count == 1 else several


def describe_period(start: datetime, end: datetime, zone: tzinfo) -> str:
    """A period as a charge nurse reads it, in ``zone``'s wall-clock time: "on 3 Dec
    02:00-07:00", "on 3 Dec 22:00-24:00", "from 2 Dec 23:00 to 3 Dec 07:00", "all day on
    3 Dec", "all day from 3 Dec to 5 Dec"; the year is added when it changes, and the zone
    abbreviation when the clocks change within the period ("from 24 Oct 19:00 BST to 25 Oct
    07:00 GMT"), so a time that happens twice is never ambiguous."""
    s, e = start.astimezone(zone), end.astimezone(zone)
    midnight = time(0)
    if s.time() == midnight and e.time() == midnight and e.date() > s.date():
        last = e.date() - timedelta(days=1)
        if last == s.date():
            return f"all day on {_day(s.date())}"
        years = s.year != last.year
        return f"all day from {_day(s.date(), years)} to {_day(last, years)}"
    clocks_change = s.utcoffset() != e.utcoffset()
    since, until = _clock(s, clocks_change), _clock(e, clocks_change)
    if s.date() == e.date():
        return f"on {_day(s.date())} {since}-{until}"
    if e.time() == midnight and e.date() == s.date() + timedelta(days=1) and not clocks_change:
        return f"on {_day(s.date())} {since}-24:00"
    years = s.year != e.year
    return f"from {_day(s.date(), years)} {since} to {_day(e.date(), years)} {until}"


def _day(day: date, with_year: bool = False) -> str:
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def _clock(at: datetime, with_zone: bool) -> str:
    return f"{at:%H:%M} {at.tzname()}" if with_zone else f"{at:%H:%M}"


# --- the computation ------------------------------------------------------------------------


def turns_between(rotation: Rotation, zone: tzinfo, start: datetime, end: datetime) -> list[Turn]:
    """The turns of ``rotation`` (in ``zone``) that overlap ``start``-``end``, unclipped,
    in order; turns of no length (inside a skipped hour) are left out."""
    check_window(start, end)
    lengths = rotation.turn_lengths
    prefix = [timedelta(0)]
    for length in lengths:
        prefix.append(prefix[-1] + length)
    cycle = prefix[-1]
    per_cycle = len(lengths)

    def wall_start(index: int) -> datetime:
        cycles, position = divmod(index, per_cycle)
        return rotation.anchor + cycles * cycle + prefix[position]

    # Start a little before the window's wall-clock start (offsets differ by hours, not days).
    from_wall = utc_to_local(start, zone) - timedelta(days=2)
    index = 0
    if from_wall > rotation.anchor:
        cycles, rest = divmod(from_wall - rotation.anchor, cycle)
        index = cycles * per_cycle + bisect_right(prefix, rest) - 1
    turns: list[Turn] = []
    turn_start = local_to_utc(wall_start(index), zone)
    while turn_start < end:
        turn_end = local_to_utc(wall_start(index + 1), zone)
        if turn_end > start and turn_end > turn_start:
            person = rotation.participants[index % len(rotation.participants)]
            turns.append(Turn(index, person, turn_start, turn_end))
        index += 1
        turn_start = turn_end
    return turns


def spans_between(schedule: Schedule, start: datetime, end: datetime) -> list[OnCallSpan]:
    """Who is on call from ``start`` to ``end`` (aware; at most ``MAX_WINDOW``): one span per
    person and stretch, clipped to the window, sorted by start (then staff id)."""
    spans = _merge(schedule, _segments(schedule, start, end))
    return sorted(spans, key=lambda s: (s.start, s.end, str(s.staff_id)))


def on_call_at(schedule: Schedule, at: datetime) -> list[OnCallSpan]:
    """The people on call at ``at``, in paging order (the layers' person first, then anyone
    added), each with their span's real handoff times (looked for up to
    ``ON_CALL_AT_REACH`` either side; a longer span is cut there). Empty: nobody."""
    require_aware(at, "at")
    segments = _segments(schedule, at - ON_CALL_AT_REACH, at + ON_CALL_AT_REACH)
    people = next(people for a, b, people in segments if a <= at < b)
    spans = _merge(schedule, segments)
    return [next(s for s in spans if s.staff_id == p and s.start <= at < s.end) for p in people]


def who_is_on_call(schedule: Schedule, at: datetime) -> list[uuid.UUID]:
    """The staff ids on call at ``at``, in paging order."""
    return [span.staff_id for span in on_call_at(schedule, at)]


_Piece = tuple[datetime, datetime, uuid.UUID]
_Segment = tuple[datetime, datetime, tuple[uuid.UUID, ...]]


def _segments(schedule: Schedule, start: datetime, end: datetime) -> list[_Segment]:
    """The window cut at every handoff, window edge and override edge, each piece with the
    people on call (in paging order). The pieces tile the window."""
    check_window(start, end)
    zone = schedule.zone
    pieces = [_layer_pieces(layer, zone, start, end) for layer in schedule.layers]
    overrides = [o for o in schedule.overrides if o.start < end and o.end > start]
    cuts = {start, end}
    for layer_pieces in pieces:
        for piece_start, piece_end, _ in layer_pieces:
            cuts.update((piece_start, piece_end))
    for override in overrides:
        cuts.update((max(override.start, start), min(override.end, end)))
    edges = sorted(cuts)
    starting: dict[int, list[int]] = {}
    ending: dict[int, list[int]] = {}
    for number, override in enumerate(overrides):
        starting.setdefault(bisect_right(edges, max(override.start, start)) - 1, []).append(number)
        ending.setdefault(bisect_right(edges, min(override.end, end)) - 1, []).append(number)
    active: set[int] = set()
    position = [0] * len(pieces)
    segments: list[_Segment] = []
    for i, (a, b) in enumerate(pairwise(edges)):
        active.difference_update(ending.get(i, ()))
        active.update(starting.get(i, ()))
        people: list[uuid.UUID] = []
        for number, layer_pieces in enumerate(pieces):
            p = position[number]
            while p < len(layer_pieces) and layer_pieces[p][1] <= a:
                p += 1
            position[number] = p
            if p < len(layer_pieces) and layer_pieces[p][0] <= a:
                person = layer_pieces[p][2]
                if schedule.layers[number].mode is LayerMode.REPLACE:
                    people = [person]
                elif person not in people:
                    people.append(person)
        for number in sorted(active):
            people = _apply(overrides[number], people)
        segments.append((a, b, tuple(people)))
    return segments


def _apply(override: Override, people: list[uuid.UUID]) -> list[uuid.UUID]:
    person = override.person
    if override.kind is OverrideKind.ADD:
        return people if person in people else [*people, person]
    if override.kind is OverrideKind.REMOVE:
        return [p for p in people if p != person]
    if override.replaces is None:
        return [person]
    if override.replaces not in people:
        return people
    swapped = [person if p == override.replaces else p for p in people]
    return list(dict.fromkeys(swapped))  # the newcomer may already have been on call


def _layer_pieces(layer: Layer, zone: tzinfo, start: datetime, end: datetime) -> list[_Piece]:
    """The layer's turns within its windows, clipped to the window, in order."""
    turns = [
        (max(t.start, start), min(t.end, end), t.person)
        for t in turns_between(layer.rotation, zone, start, end)
    ]
    if not layer.windows:
        return turns
    allowed = _window_intervals(layer.windows, zone, start, end)
    pieces: list[_Piece] = []
    w = 0
    for turn_start, turn_end, person in turns:
        while w < len(allowed) and allowed[w][1] <= turn_start:
            w += 1
        k = w
        while k < len(allowed) and allowed[k][0] < turn_end:
            piece_start, piece_end = max(turn_start, allowed[k][0]), min(turn_end, allowed[k][1])
            if piece_end > piece_start:
                pieces.append((piece_start, piece_end, person))
            k += 1
    return pieces


def _window_intervals(
    windows: Sequence[TimeWindow], zone: tzinfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The UTC intervals of ``windows`` that overlap the window, clipped and merged."""
    first = utc_to_local(start, zone).date() - timedelta(days=2)
    last = utc_to_local(end, zone).date() + timedelta(days=1)
    intervals: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        for window in windows:
            if day.weekday() not in window.weekdays:
                continue
            end_day = day + timedelta(days=1) if window.end <= window.start else day
            a = local_to_utc(datetime.combine(day, window.start), zone)
            b = local_to_utc(datetime.combine(end_day, window.end), zone)
            if b > a and a < end and b > start:
                intervals.append((max(a, start), min(b, end)))
        day += timedelta(days=1)
    return _union(intervals)


def _union(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _merge(schedule: Schedule, segments: Sequence[_Segment]) -> list[OnCallSpan]:
    """One span per person and unbroken stretch."""
    spans: list[OnCallSpan] = []
    open_spans: dict[uuid.UUID, tuple[datetime, datetime]] = {}
    for a, b, people in segments:
        for person in people:
            current = open_spans.get(person)
            if current is not None and current[1] == a:
                open_spans[person] = (current[0], b)
                continue
            if current is not None:
                spans.append(_span(schedule, person, *current))
            open_spans[person] = (a, b)
    spans.extend(_span(schedule, person, a, b) for person, (a, b) in open_spans.items())
    return spans


def _span(schedule: Schedule, person: uuid.UUID, start: datetime, end: datetime) -> OnCallSpan:
    return OnCallSpan(
        staff_id=person,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        schedule_id=schedule.id,
        ward_id=schedule.ward_id,
        role=schedule.role,
    )


def _hours(hours: float) -> timedelta:
    minutes = hours * 60
    if isinstance(hours, bool) or not math.isfinite(minutes) or minutes != round(minutes):
        raise ValueError(f"hours: a whole number of minutes, got {hours!r}")
    return timedelta(minutes=round(minutes))


def require_aware(at: datetime, name: str) -> None:
    """A ValueError naming ``name`` unless ``at`` is a timezone-aware datetime."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name}: must be a timezone-aware datetime, got {at!r}")


def check_window(start: datetime, end: datetime) -> None:
    """A ValueError unless start and end are aware, in order, at most MAX_WINDOW apart."""
    require_aware(start, "start")
    require_aware(end, "end")
    if end <= start:
        raise ValueError("end: must be after start")
    if end - start > MAX_WINDOW:
        raise ValueError(
            f"window: at most {MAX_WINDOW.days} days at a time, got {(end - start).days} days"
        )
