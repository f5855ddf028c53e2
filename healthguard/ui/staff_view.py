"""What the staff screens show, as plain data: the 7-day roster grid, coverage gaps placed on
it, and the words of the staff status panel (availability, open load, skills, next shift
change).

Pure: no Reflex, no database, no clock (``now`` and the zone are passed in). The states in
``healthguard.ui.states.staff`` load the rota (``rotations.spans_between`` over the ward's
schedules, shifts entered by hand, ``roster.gap_report``) and call these functions.

Days are the hospital's local days: a day starts at local midnight (``local_to_utc``), so
the day the clocks change is 23 or 25 hours long and every shift sits under the local date
it starts on. A shift is shown in local wall-clock time; when the clocks change during it,
each end carries its zone abbreviation ("19:00 BST-07:00 GMT"), so no time is ambiguous.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from healthguard.oncall.rotations import OnCallSpan, local_to_utc, role_words

ROSTER_DAYS = 7
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

#: Availability in words and the icon shown beside them (never colour alone).
AVAILABILITY_WORDS: dict[str, str] = {
    "available": "Available",
    "busy": "Busy with a patient",
    "on_break": "On a break",
    "off": "Off duty",
}
PRIORITIES = ("P0", "P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class GapLike:
    """A coverage gap as the grid needs it (``gaps.Gap`` has the same fields)."""

    start: datetime
    end: datetime
    message: str


@dataclass(frozen=True)
class RosterCell:
    """One line in a day of the roster: a shift (who, when) or a coverage gap."""

    when: str  # "07:00-19:00", "19:00-07:00 next day"
    who: str  # "Zoe Taylor" (a gap: "Coverage gap")
    role: str  # "nurse"
    is_gap: bool = False
    message: str = ""  # a gap's sentence from gaps.py
    starts_at: str = ""  # ISO 8601 UTC, for sorting and tests


@dataclass(frozen=True)
class RosterDay:
    label: str  # "Thu 26 Nov"
    iso_date: str  # "2026-11-26"
    cells: tuple[RosterCell, ...] = field(default_factory=tuple)
    gap_count: int = 0


def day_label(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight of ``day``, as UTC instants."""
    return (
        local_to_utc(datetime.combine(day, time(0)), zone),
        local_to_utc(datetime.combine(day + timedelta(days=1), time(0)), zone),
    )


def roster_window(
    first_day: date, zone: tzinfo, days: int = ROSTER_DAYS
) -> tuple[datetime, datetime]:
    """The UTC window of ``days`` local days from ``first_day``."""
    return day_bounds(first_day, zone)[0], day_bounds(first_day + timedelta(days=days - 1), zone)[1]


def shift_time_text(start: datetime, end: datetime, zone: tzinfo) -> str:
    """ "07:00-19:00", "19:00-07:00 next day", "07:00 to 28 Nov 07:00"; with the zone
    abbreviation on both ends when the clocks change during the shift."""
    s, e = start.astimezone(zone), end.astimezone(zone)
    change = s.utcoffset() != e.utcoffset()

    def clock(at: datetime) -> str:
        return f"{at:%H:%M} {at.tzname()}" if change else f"{at:%H:%M}"

    if e.date() == s.date():
        return f"{clock(s)}-{clock(e)}"
    if e.date() == s.date() + timedelta(days=1):
        if e.time() == time(0) and not change:
            return f"{clock(s)}-24:00"
        return f"{clock(s)}-{clock(e)} next day"
    return f"{clock(s)} to {e.day} {_MONTHS[e.month - 1]} {clock(e)}"


def build_roster_grid(
    spans: Iterable[OnCallSpan],
    names: Mapping[uuid.UUID, str],
    gaps: Iterable[GapLike],
    *,
    first_day: date,
    zone: tzinfo,
    days: int = ROSTER_DAYS,
) -> list[RosterDay]:
    """The roster of ``days`` local days from ``first_day``: each shift (clipped to the
    window) and each gap under the local day it starts on, in time order (a gap before a
    shift starting at the same time); the same person's identical shift from two schedules
    once."""
    window_start, window_end = roster_window(first_day, zone, days)
    bounds = [day_bounds(first_day + timedelta(days=i), zone) for i in range(days)]
    buckets: list[list[tuple[datetime, int, str, RosterCell]]] = [[] for _ in range(days)]
    seen: set[tuple[uuid.UUID, datetime, datetime]] = set()

    def day_of(start: datetime, end: datetime) -> tuple[int, datetime, datetime] | None:
        """The day a stretch is listed under, and the stretch clipped to the window."""
        start, end = max(start, window_start), min(end, window_end)
        if end <= start:
            return None
        for index, (a, b) in enumerate(bounds):
            if a <= start < b:
                return index, start, end
        return None

    for span in spans:
        key = (span.staff_id, span.start, span.end)
        placed = day_of(span.start, span.end)
        if key in seen or placed is None:
            continue
        seen.add(key)
        index, a, b = placed
        cell = RosterCell(
            when=shift_time_text(a, b, zone),
            who=names.get(span.staff_id, "Unknown staff member"),
            role=role_words(span.role),
            starts_at=a.isoformat(),
        )
        buckets[index].append((a, 1, cell.who, cell))
    for gap in gaps:
        placed = day_of(gap.start, gap.end)
        if placed is None:
            continue
        index, a, b = placed
        cell = RosterCell(
            when=shift_time_text(a, b, zone),
            who="Coverage gap",
            role="",
            is_gap=True,
            message=gap.message,
            starts_at=a.isoformat(),
        )
        buckets[index].append((a, 0, "", cell))
    result: list[RosterDay] = []
    for i, bucket in enumerate(buckets):
        day = first_day + timedelta(days=i)
        cells = tuple(c for _, _, _, c in sorted(bucket, key=lambda t: (t[0], t[1], t[2])))
        result.append(
            RosterDay(
                label=day_label(day),
                iso_date=day.isoformat(),
                cells=cells,
                gap_count=sum(1 for c in cells if c.is_gap),
            )
        )
    return result


# --- the staff status panel -----------------------------------------------------------------


def availability_words(status: str) -> str:
    return AVAILABILITY_WORDS.get(status, status.replace("_", " ").capitalize() or "Unknown")


def load_words(open_incidents: Mapping[str, int]) -> str:
    """ "No open incidents", "1 P1, 2 P3" (highest priority first)."""
    parts = [f"{open_incidents[p]} {p}" for p in PRIORITIES if open_incidents.get(p, 0) > 0]
    parts += [
        f"{n} {p}" for p, n in sorted(open_incidents.items()) if p not in PRIORITIES and n > 0
    ]
    return ", ".join(parts) if parts else "No open incidents"


def skill_words(skill: str, expires_on: date | None, status: str) -> str:
    """ "ACLS", "ACLS (expires 5 Dec)", "ACLS (expired 1 Nov)"; ``status`` from
    ``staff_service.skill_status``."""
    name = skill.replace("_", " ")
    if expires_on is None or status == "valid":
        return name
    when = f"{expires_on.day} {_MONTHS[expires_on.month - 1]}"
    return f"{name} (expired {when})" if status == "expired" else f"{name} (expires {when})"


def next_change(
    current_ends: Iterable[datetime], upcoming_starts: Iterable[datetime], now: datetime
) -> datetime | None:
    """The next shift change on the ward: the earliest end of a shift running now or start of
    one ahead (after ``now``)."""
    times = [t for t in (*current_ends, *upcoming_starts) if t > now]
    return min(times) if times else None


def change_words(at: datetime | None, zone: tzinfo, now: datetime) -> str:
    """ "19:00", "tomorrow 07:00", "3 Dec 07:00" (local); "" when none is known."""
    if at is None:
        return ""
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {local:%H:%M}"
    return f"{local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"


def local_when(start: datetime, end: datetime, zone: tzinfo) -> str:
    """A shift with its day, for lists: "Thu 26 Nov 07:00-19:00"."""
    return f"{day_label(start.astimezone(zone).date())} {shift_time_text(start, end, zone)}"
