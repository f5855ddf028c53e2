"""On-call calendars in iCalendar (RFC 5545): export for a person or a ward, import of a roster.

Pure: bytes in, bytes or rows out; no I/O, no clock (``generated_at`` is passed in).

**Export.** ``person_calendar`` and ``ward_calendar`` compute the spans of the given schedules
(``rotations.spans_between``) and write one VEVENT per span (``spans_to_ical`` does the same
for spans already computed): DTSTART/DTEND in UTC, SUMMARY "On call: ICU charge nurse" (in a
ward calendar followed by the person's name), LOCATION and CATEGORIES the ward, ATTENDEE the
person (``mailto:`` when their email is known, else ``urn:uuid:<staff id>``), and a UID that
stays the same for the same schedule, person and start, so a calendar app that subscribes
updates its events instead of duplicating them. Spans are clipped to the window asked for:
export windows that start at a handoff, or accept that the first event starts at the
window's start. Times are written to the whole second. The calendar has a PRODID and an
X-WR-CALNAME.

**Import.** ``import_roster(data, window_start=..., window_end=...)`` reads a roster made
elsewhere (a rostering system's export, an Outlook or Google calendar) and returns one
``RosterRow`` per person and shift that overlaps the window (at most 400 days):

- who: each ATTENDEE with a ``mailto:`` address (or ``urn:uuid:`` staff id), else the SUMMARY
  text (the adapter matches it against staff names or emails);
- when: DTSTART with DTEND or DURATION, read in the event's TZID (IANA names, Windows names
  and VTIMEZONE blocks in the file are understood), returned in UTC; a floating time (no
  TZID, no Z) is read in ``default_time_zone`` if given, else refused;
- where: LOCATION, else the first CATEGORIES value (None if neither);
- repeats: RRULE (daily, weekly, monthly or yearly; with EXDATE, RDATE date-times, and
  edited occurrences (RECURRENCE-ID) replacing theirs) is expanded within the window. With
  DTEND, an occurrence keeps the *wall-clock* end time of the first one in its time zone, as
  a ward roster means it and calendar apps show it: a daily 19:00-07:00 night is 11 or 13
  real hours on the nights the clocks change (RFC 5545 strictly keeps the exact duration of
  DTEND - DTSTART). With DURATION, as RFC 5545 says: days on the wall clock, hours exact
  (PT12H is 12 real hours). An occurrence at a time the clocks skip is left out and not
  counted, as RFC 5545 says; a time in the file that is ambiguous or skipped is read with the
  RFC 5545 rule (its first occurrence; the offset before the jump);
- skipped: events with STATUS:CANCELLED; other components (VTODO, VJOURNAL...).

Refused, with a ``RosterImportError`` (a ValueError: a message to show as is, and
``problems``, one line per refused event naming it by SUMMARY and UID): all-day events,
events without an end, events that end before they start, unknown time zones, repeat rules
more often than daily or that cannot be read, files that are not iCalendar at all, files
over ``MAX_FILE_BYTES``, and files with more than ``MAX_EVENTS`` events (or that expand to
more than ``MAX_EVENTS`` shifts in the window). Nothing is imported from a file with any
refused event: a roster imported in part would leave holes nobody sees.

Work is bounded: the file size, the number of events and of repeating events, and the
window. A repeat rule naming a date that never happens (30 February) is refused; daily and
weekly rules may not use BYSETPOS, BYYEARDAY, BYWEEKNO or numbered weekdays (a rule that
never matches would make the search walk day by day to the year 9999). Whatever else can
never happen again is searched for a few centuries at most: the rule is expanded in a
calendar shifted by whole 400-year cycles (same weekdays, same leap years) to just before
the year 9999, where dateutil's search stops.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, vCalAddress, vRecur

from healthguard.oncall.rotations import (
    OnCallSpan,
    Schedule,
    check_window,
    require_aware,
    role_words,
    spans_between,
    zone_from_name,
)

PRODID = "-//HealthGuard Ops//On-call schedules//EN"
MAX_EVENTS = 10_000  # VEVENTs in a file, and shifts after expanding repeats
MAX_RECURRING_EVENTS = 500  # VEVENTs with an RRULE in a file
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_LISTED_PROBLEMS = 20
STAFF_ID_PROPERTY = "X-HEALTHGUARD-STAFF-ID"
_UID_NAMESPACE = uuid.UUID("6f1c1a52-8d0e-4b7e-9a53-3f0b8f0d6c11")
_UID_DOMAIN = "oncall.healthguard"
_REPEATS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_RULE_PARTS = frozenset(
    {
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "BYDAY",
        "BYMONTHDAY",
        "BYMONTH",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYSETPOS",
        "BYHOUR",
        "BYMINUTE",
        "BYSECOND",
        "WKST",
    }
)
_CYCLE_YEARS = 400  # the Gregorian calendar repeats itself (weekdays, leap years) every 400 years
_LAST_YEAR = 9999


class RosterImportError(ValueError):
    """The roster cannot be imported; ``str(error)`` says why, ``problems`` per event."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems)


class PersonSource(StrEnum):
    EMAIL = "email"  # an ATTENDEE mailto: address
    STAFF_ID = "staff_id"  # an ATTENDEE urn:uuid: (a HealthGuard export)
    SUMMARY = "summary"  # the event's SUMMARY text, when it has no ATTENDEE


@dataclass(frozen=True)
class CalendarPerson:
    """How a staff member appears in an exported calendar."""

    name: str
    email: str | None = None


@dataclass(frozen=True)
class RosterRow:
    """One person on one shift from an imported roster (``start``/``end`` UTC)."""

    uid: str
    summary: str | None
    person: str  # an email address, a staff id, or the SUMMARY text (see person_source)
    person_source: PersonSource
    start: datetime
    end: datetime
    ward: str | None  # LOCATION, else the first CATEGORIES value
    person_name: str | None = None  # the ATTENDEE's CN, if any


# --- export ---------------------------------------------------------------------------------


def span_uid(span: OnCallSpan) -> str:
    """A UID that stays the same for the same schedule, person and start."""
    key = f"{span.schedule_id}/{span.staff_id}/{span.start.astimezone(UTC).isoformat()}"
    return f"{uuid.uuid5(_UID_NAMESPACE, key)}@{_UID_DOMAIN}"


def spans_to_ical(
    spans: Iterable[OnCallSpan],
    *,
    calendar_name: str,
    schedules: Iterable[Schedule],
    generated_at: datetime,
    people: Mapping[uuid.UUID, CalendarPerson] | None = None,
    name_in_summary: bool = False,
) -> bytes:
    """A VCALENDAR with one VEVENT per span (the span's schedule must be in ``schedules``);
    ``name_in_summary``: add the person's name to SUMMARY (a ward calendar)."""
    require_aware(generated_at, "generated_at")
    by_id = {schedule.id: schedule for schedule in schedules}
    people = people or {}
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", calendar_name)
    for span in sorted(spans, key=lambda s: (s.start, s.end, str(s.staff_id))):
        schedule = by_id.get(span.schedule_id)
        if schedule is None:
            raise ValueError(f"schedules: the schedule {span.schedule_id} of a span is missing")
        person = people.get(span.staff_id)
        summary = f"On call: {schedule.label}"
        if name_in_summary:
            summary += f" ({person.name if person else span.staff_id})"
        where = schedule.ward_name or ("Hospital-wide" if schedule.ward_id is None else None)
        event = Event()
        event.add("uid", span_uid(span))
        event.add("dtstamp", generated_at.astimezone(UTC))
        event.add("dtstart", span.start.astimezone(UTC))
        event.add("dtend", span.end.astimezone(UTC))
        event.add("summary", summary)
        if where:
            event.add("location", where)
            event.add("categories", [where, role_words(schedule.role)])
        attendee = vCalAddress(
            f"mailto:{person.email}" if person and person.email else f"urn:uuid:{span.staff_id}"
        )
        if person:
            attendee.params["CN"] = person.name
        event.add("attendee", attendee)
        event.add(STAFF_ID_PROPERTY, str(span.staff_id))
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return calendar.to_ical()


def person_calendar(
    schedules: Iterable[Schedule],
    staff_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    generated_at: datetime,
    person: CalendarPerson | None = None,
) -> bytes:
    """One person's on call, across ``schedules``, from ``start`` to ``end``."""
    schedule_list = list(schedules)
    spans = [
        span
        for schedule in schedule_list
        for span in spans_between(schedule, start, end)
        if span.staff_id == staff_id
    ]
    name = person.name if person else str(staff_id)
    return spans_to_ical(
        spans,
        calendar_name=f"On call: {name}",
        schedules=schedule_list,
        generated_at=generated_at,
        people={staff_id: person} if person else None,
    )


def ward_calendar(
    schedules: Iterable[Schedule],
    ward_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    *,
    generated_at: datetime,
    ward_name: str | None = None,
    people: Mapping[uuid.UUID, CalendarPerson] | None = None,
) -> bytes:
    """Everybody on call for the ward (``None``: the hospital-wide schedules), every role."""
    ward_schedules = [s for s in schedules if s.ward_id == ward_id]
    spans = [span for s in ward_schedules for span in spans_between(s, start, end)]
    names = [s.ward_name for s in ward_schedules if s.ward_name]
    label = ward_name or (names[0] if names else None)
    label = label or ("Hospital-wide" if ward_id is None else str(ward_id))
    return spans_to_ical(
        spans,
        calendar_name=f"On call: {label}",
        schedules=ward_schedules,
        generated_at=generated_at,
        people=people,
        name_in_summary=True,
    )


# --- import ---------------------------------------------------------------------------------


class _Refused(Exception):
    """One event cannot be imported: the reason, in words."""


@dataclass
class _Budget:
    """Shifts found so far, against MAX_EVENTS."""

    limit: int
    shifts: int = 0
    rows: list[RosterRow] = field(default_factory=list)


def import_roster(
    data: bytes | str,
    *,
    window_start: datetime,
    window_end: datetime,
    default_time_zone: str | None = None,
    max_events: int = MAX_EVENTS,
) -> list[RosterRow]:
    """The shifts of an iCalendar roster overlapping the window, sorted by start, person;
    a ``RosterImportError`` saying what is wrong otherwise (never another exception)."""
    check_window(window_start, window_end)
    floating = zone_from_name(default_time_zone) if default_time_zone else None
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not isinstance(raw, bytes | bytearray):
        raise RosterImportError("The roster must be the bytes of an .ics file.")
    if len(raw) > MAX_FILE_BYTES:
        raise RosterImportError(
            f"The file is {len(raw) // 1024} KiB; at most {MAX_FILE_BYTES // 1024 // 1024} MiB "
            "can be imported at once. Split the roster into shorter periods."
        )
    if not raw.strip():
        raise RosterImportError("The file is empty; expected an iCalendar (.ics) roster.")
    declared = raw.upper().count(b"BEGIN:VEVENT")
    if declared > max_events:
        raise RosterImportError(_too_many(declared, max_events))
    try:
        calendar = Calendar.from_ical(bytes(raw))
    except Exception as exc:  # the parser's errors are of many kinds; none may escape
        raise RosterImportError(
            f"This is not a valid iCalendar (.ics) file: {_short(exc)}"
        ) from None
    if not isinstance(calendar, Calendar) or calendar.name != "VCALENDAR":
        raise RosterImportError("This is not an iCalendar roster: it has no VCALENDAR.")
    try:
        events = [c for c in calendar.walk("VEVENT") if isinstance(c, Event)]
    except Exception as exc:
        raise RosterImportError(f"This iCalendar file cannot be read: {_short(exc)}") from None
    if not events:
        raise RosterImportError("The file has no events (VEVENT) to import.")
    if len(events) > max_events:
        raise RosterImportError(_too_many(len(events), max_events))
    recurring = sum(1 for e in events if e.get("RRULE") is not None)
    if recurring > MAX_RECURRING_EVENTS:
        raise RosterImportError(
            f"The file has {recurring} repeating events; at most {MAX_RECURRING_EVENTS} can be "
            "imported at once."
        )
    edited = _edited_occurrences(events)
    budget = _Budget(limit=max_events)
    problems: list[str] = []
    for number, event in enumerate(events, start=1):
        try:
            _import_event(event, edited, window_start, window_end, floating, budget)
        except _Refused as refused:
            problems.append(f"{_event_name(event, number)}: {refused}")
        except RosterImportError:
            raise
        except Exception as exc:
            problems.append(f"{_event_name(event, number)}: cannot be read ({_short(exc)})")
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(listed)
        lines = "\n".join(f"- {p}" for p in listed)
        if more:
            lines += f"\n- and {more} more"
        count = "1 event" if len(problems) == 1 else f"{len(problems)} events"
        raise RosterImportError(
            f"Nothing was imported: {count} cannot be imported.\n{lines}", problems
        )
    return sorted(budget.rows, key=lambda r: (r.start, r.end, r.person, r.uid))


def _import_event(
    event: Event,
    edited: Mapping[str, set[datetime]],
    window_start: datetime,
    window_end: datetime,
    floating: tzinfo | None,
    budget: _Budget,
) -> None:
    if str(event.get("STATUS", "")).strip().upper() == "CANCELLED":
        return
    first_start, first_end, length, zone = _start_and_length(event, floating)
    who = _people(event)
    ward = _ward(event)
    uid = str(event.get("UID", "")).strip()
    summary = str(event.get("SUMMARY", "")).strip() or None
    if event.get("RRULE") is None:
        starts: Iterable[datetime] = [first_start]
        if event.get("RDATE") is not None:
            starts = [*starts, *_extra_dates(event, zone)]
    else:
        skipped = edited.get(uid, set()) if event.get("RECURRENCE-ID") is None else set()
        starts = _occurrences(event, first_start, zone, window_end, skipped)
    for start in starts:
        end = first_end if start == first_start else _end_of(start, length, zone)
        if not (start < window_end and end > window_start):
            continue
        for person, source, name in who:
            budget.shifts += 1
            if budget.shifts > budget.limit:
                raise RosterImportError(
                    f"The roster has more than {budget.limit} shifts between the window's start "
                    "and end; import a shorter period."
                )
            budget.rows.append(RosterRow(uid, summary, person, source, start, end, ward, name))


@dataclass(frozen=True)
class _Length:
    """How long each occurrence lasts: ``wall`` on the wall clock, then ``exact`` more."""

    wall: timedelta
    exact: timedelta = timedelta(0)


def _start_and_length(
    event: Event, floating: tzinfo | None
) -> tuple[datetime, datetime, _Length, tzinfo]:
    """The first start and end (UTC), the length of every occurrence, the event's zone.
    DTEND: the end time on the wall clock; DURATION as RFC 5545 says (days on the wall
    clock, hours and minutes exact)."""
    dtstart = event.get("DTSTART")
    if dtstart is None:
        raise _Refused("it has no start (DTSTART)")
    start = _date_time(dtstart, "start", floating)
    zone = start.tzinfo
    assert zone is not None
    first = start.astimezone(UTC)
    dtend, duration = event.get("DTEND"), event.get("DURATION")
    if dtend is not None:
        end = _date_time(dtend, "end", floating)
        length = _Length(end.astimezone(zone).replace(tzinfo=None) - start.replace(tzinfo=None))
        first_end = end.astimezone(UTC)
    elif duration is not None:
        value = duration.dt
        if not isinstance(value, timedelta):
            raise _Refused("its DURATION is not a duration")
        if value <= timedelta(0):
            raise _Refused(f"its DURATION is {value}, not a positive length")
        length = _Length(timedelta(days=value.days), value - timedelta(days=value.days))
        first_end = _end_of(first, length, zone)
    else:
        raise _Refused(
            "it has no end (DTEND or DURATION); a shift needs an end time to be imported"
        )
    if first_end <= first:
        raise _Refused("it ends before it starts (or when it starts)")
    return first, first_end, length, zone


def _date_time(prop: Any, which: str, floating: tzinfo | None) -> datetime:
    value = prop.dt
    if not isinstance(value, datetime):
        if isinstance(value, date):
            raise _Refused(
                f"it is an all-day event (its {which} is a date, {value.isoformat()}); a shift "
                "needs start and end times"
            )
        raise _Refused(f"its {which} is not a date and time")
    if value.tzinfo is None:
        tzid = getattr(prop, "params", {}).get("TZID")
        if tzid:
            raise _Refused(f"its {which} is in an unknown time zone, TZID={tzid}")
        if floating is None:
            raise _Refused(
                f"its {which} has no time zone (no TZID and no Z); give a default time zone"
            )
        value = value.replace(tzinfo=floating)
    return value


def _end_of(start: datetime, length: _Length, zone: tzinfo) -> datetime:
    """The UTC end of an occurrence starting at ``start``: ``length.wall`` of wall-clock time
    later in ``zone`` (a repeated time: its first occurrence), then ``length.exact`` more."""
    end = start
    if length.wall:
        wall = start.astimezone(zone).replace(tzinfo=None) + length.wall
        end = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return end + length.exact


def _occurrences(
    event: Event,
    first: datetime,
    zone: tzinfo,
    window_end: datetime,
    skipped: set[datetime],
) -> Iterator[datetime]:
    """The UTC starts of a repeating event up to the window's end (EXDATE, edited ones and
    times skipped by the clocks left out)."""
    excluded = set(skipped) | _excluded(event, zone)
    starts: set[datetime] = set()
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules]:
        starts.update(_expand(rule, first, zone, window_end))
    starts.update(_extra_dates(event, zone))
    starts.add(first.astimezone(UTC))
    for start in sorted(starts):
        if start not in excluded:
            yield start


def _expand(rule: Any, first: datetime, zone: tzinfo, window_end: datetime) -> Iterator[datetime]:
    if not isinstance(rule, vRecur):
        raise _Refused(f"its repeat rule (RRULE) cannot be read: {_short(Exception(str(rule)))}")
    parts: dict[str, str] = {}
    for part in rule.to_ical().decode("utf-8", "replace").split(";"):
        name, _, value = part.partition("=")
        parts[name.strip().upper()] = value.strip()
    unknown = sorted(set(parts) - _RULE_PARTS)
    if unknown:
        raise _Refused(f"its repeat rule (RRULE) has parts that are not supported: {unknown}")
    frequency = parts.get("FREQ", "").upper()
    if frequency not in _REPEATS:
        raise _Refused(
            f"it repeats {frequency.lower() or 'without a FREQ'}; only daily, weekly, monthly "
            "or yearly repeats can be imported"
        )
    if frequency in ("DAILY", "WEEKLY"):
        unsupported = sorted({"BYSETPOS", "BYYEARDAY", "BYWEEKNO"} & set(parts))
        if unsupported:
            raise _Refused(
                f"its {frequency.lower()} repeat rule uses {', '.join(unsupported)}, which is "
                "read for monthly and yearly repeats only"
            )
        if any(c.isdigit() for c in parts.get("BYDAY", "")):
            raise _Refused(
                f"its {frequency.lower()} repeat rule numbers weekdays (BYDAY="
                f"{parts['BYDAY']}), which RFC 5545 allows for monthly and yearly repeats only"
            )
    _check_dates_exist(parts)
    count = None
    if "COUNT" in parts:
        if not parts["COUNT"].isdigit() or int(parts["COUNT"]) < 1:
            raise _Refused(f"its repeat rule has COUNT={parts['COUNT']}, not a positive number")
        count = int(parts["COUNT"])
    wall_first = first.astimezone(zone).replace(tzinfo=None)
    local_end = window_end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    until = local_end
    if "UNTIL" in parts:
        until = min(until, _until(rule.get("UNTIL"), zone))
    # Expand in a calendar shifted by whole 400-year cycles (same weekdays and leap years), so
    # that the search stops at the year 9999 soon after the window even when the rule can
    # never happen again.
    shift = max(0, (_LAST_YEAR - 1 - local_end.year) // _CYCLE_YEARS) * _CYCLE_YEARS
    text = ";".join(f"{k}={v}" for k, v in parts.items() if k not in ("COUNT", "UNTIL"))
    try:
        expanded = rrulestr(text, dtstart=_years_later(wall_first, shift))
        expanded = expanded.replace(until=_years_later(until, shift))
    except (ValueError, TypeError, OverflowError) as exc:
        raise _Refused(f"its repeat rule (RRULE) cannot be read: {_short(exc)}") from None
    kept = 0
    for shifted in expanded:
        wall = _years_later(shifted, -shift)
        start = wall.replace(tzinfo=zone, fold=0)
        if start.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
            continue  # a time the clocks skip: no occurrence, not counted (RFC 5545)
        kept += 1
        if count is not None and kept > count:
            return
        yield start.astimezone(UTC)


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: in a leap year


def _check_dates_exist(parts: Mapping[str, str]) -> None:
    """Refuse a rule whose BYMONTH and BYMONTHDAY name no real date (30 February)."""
    if "BYMONTHDAY" not in parts:
        return
    try:
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
        months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
    except ValueError:
        raise _Refused("its repeat rule has a BYMONTHDAY or BYMONTH that is not a number") from None
    months = months or list(range(1, 13))
    if not any(
        1 <= month <= 12 and 1 <= abs(day) <= _DAYS_IN_MONTH[month - 1]
        for month in months
        for day in days
    ):
        raise _Refused(
            f"it repeats on a date that never happens (BYMONTHDAY={parts['BYMONTHDAY']}"
            + (f", BYMONTH={parts['BYMONTH']})" if "BYMONTH" in parts else ")")
        )


def _until(values: Any, zone: tzinfo) -> datetime:
    value = values[0] if isinstance(values, list) and values else values
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value  # floating: read as the event's wall clock
        return value.astimezone(zone).replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59))
    raise _Refused("its repeat rule has an UNTIL that is not a date")


def _years_later(wall: datetime, years: int) -> datetime:
    return wall.replace(year=wall.year + years)


def _excluded(event: Event, zone: tzinfo) -> set[datetime]:
    """EXDATE instants (UTC); an EXDATE that is a date excludes that day's occurrences."""
    excluded: set[datetime] = set()
    for value in _date_list(event.get("EXDATE")):
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
            excluded.add(aware.astimezone(UTC))
    return excluded


def _extra_dates(event: Event, zone: tzinfo) -> list[datetime]:
    extra: list[datetime] = []
    for value in _date_list(event.get("RDATE")):
        if not isinstance(value, datetime):
            raise _Refused("it has an RDATE that is a date or a period; only date-times are read")
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        extra.append(aware.astimezone(UTC))
    return extra


def _date_list(prop: Any) -> list[Any]:
    if prop is None:
        return []
    values: list[Any] = []
    for item in prop if isinstance(prop, list) else [prop]:
        values.extend(d.dt for d in getattr(item, "dts", []))
    return values


def _edited_occurrences(events: Sequence[Event]) -> dict[str, set[datetime]]:
    """UID -> the original starts (UTC) of occurrences edited in a VEVENT of their own."""
    edited: dict[str, set[datetime]] = {}
    for event in events:
        try:
            recurrence_id = event.get("RECURRENCE-ID")
            if recurrence_id is None or not isinstance(recurrence_id.dt, datetime):
                continue
            at = recurrence_id.dt
            if at.tzinfo is None:
                continue
            edited.setdefault(str(event.get("UID", "")).strip(), set()).add(at.astimezone(UTC))
        except Exception:  # a broken RECURRENCE-ID is reported with its own event
            continue
    return edited


def _people(event: Event) -> list[tuple[str, PersonSource, str | None]]:
    attendees = event.get("ATTENDEE")
    found: list[tuple[str, PersonSource, str | None]] = []
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if attendee is None:
            continue
        address = str(attendee).strip()
        cn = getattr(attendee, "params", {}).get("CN")
        name = str(cn).strip() if cn else None
        scheme, _, rest = address.partition(":")
        if scheme.lower() == "mailto" and rest.strip():
            found.append((rest.strip(), PersonSource.EMAIL, name))
        elif scheme.lower() == "urn" and rest.lower().startswith("uuid:"):
            try:
                staff_id = uuid.UUID(rest[5:].strip())
            except ValueError:
                raise _Refused(f"its ATTENDEE {address!r} is not a valid staff id") from None
            found.append((str(staff_id), PersonSource.STAFF_ID, name))
    if found:
        return list(dict.fromkeys(found))
    summary = str(event.get("SUMMARY", "")).strip()
    if not summary:
        raise _Refused(
            "it does not say who is on call (no ATTENDEE with a mailto: address and no SUMMARY)"
        )
    return [(summary, PersonSource.SUMMARY, None)]


def _ward(event: Event) -> str | None:
    location = str(event.get("LOCATION", "")).strip()
    if location:
        return location
    categories = event.get("CATEGORIES")
    for item in categories if isinstance(categories, list) else [categories]:
        for category in getattr(item, "cats", []):
            text = str(category).strip()
            if text:
                return text
    return None


def _event_name(event: Event, number: int) -> str:
    try:
        summary = str(event.get("SUMMARY", "")).strip()
        uid = str(event.get("UID", "")).strip()
    except Exception:
        summary = uid = ""
    if summary and uid:
        return f'Event "{summary}" (UID {uid})'
    if summary or uid:
        return f'Event "{summary}"' if summary else f"Event UID {uid}"
    return f"Event number {number} in the file (no SUMMARY or UID)"


def _too_many(count: int, limit: int) -> str:
    return (
        f"The file has {count} events; at most {limit} can be imported at once. "
        "Split the roster into shorter periods."
    )


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
