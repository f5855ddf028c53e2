"""iCalendar export and import (healthguard.oncall.ical): the exported calendar (PRODID,
X-WR-CALNAME, stable UIDs, UTC times, summaries), the round trip export -> import, rosters with
time zones, DST nights and repeat rules, every refusal naming its event, malformed files, the
limits, and properties (hypothesis): any window round-trips; no input escapes as anything but
a RosterImportError."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from healthguard.oncall.ical import (
    MAX_FILE_BYTES,
    MAX_RECURRING_EVENTS,
    PRODID,
    CalendarPerson,
    PersonSource,
    RosterImportError,
    RosterRow,
    import_roster,
    person_calendar,
    span_uid,
    spans_to_ical,
    ward_calendar,
)
from healthguard.oncall.rotations import (
    Handoff,
    Layer,
    OnCallSpan,
    Override,
    OverrideKind,
    Rotation,
    Schedule,
    spans_between,
)

pytestmark = pytest.mark.unit

ANN, BEN, CAT = (uuid.UUID(int=n) for n in (1, 2, 3))
ICU, WARD_7 = uuid.UUID(int=100), uuid.UUID(int=107)
PEOPLE = {
    ANN: CalendarPerson("Ann Able", "ann.able@hospital.example"),
    BEN: CalendarPerson("Ben Bell"),  # no email: exported as urn:uuid
    CAT: CalendarPerson("Cat Cole", "cat.cole@hospital.example"),
}
GENERATED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


ICU_CHARGE = Schedule(
    id=uuid.UUID(int=200),
    role="charge_nurse",
    ward_id=ICU,
    time_zone="Europe/London",
    layers=(Layer("2x12h", Rotation((ANN, BEN), datetime(2026, 3, 2, 7, 0), shift_hours=12)),),
    overrides=(Override(OverrideKind.ADD, CAT, utc(2026, 3, 28, 20), utc(2026, 3, 29, 2)),),
    ward_name="ICU",
)
WARD_7_NURSES = Schedule(
    id=uuid.UUID(int=207),
    role="nurse",
    ward_id=WARD_7,
    time_zone="Europe/London",
    layers=(Layer("daily", Rotation((ANN, CAT), datetime(2026, 3, 29, 19, 0), Handoff.DAILY)),),
    ward_name="Ward 7",
)
DST_WINDOW = (utc(2026, 3, 28, 7), utc(2026, 3, 30, 6))  # the night the clocks go forward


def events(data: bytes) -> list[dict[str, str]]:
    calendar = Calendar.from_ical(data)
    return [
        {
            key: value.to_ical().decode() if hasattr(value, "to_ical") else str(value)
            for key, value in event.items()
            if not isinstance(value, list)
        }
        for event in calendar.walk("VEVENT")
    ]


def ics(*bodies: str, head: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Roster//Test//EN", head]
    for body in bodies:
        lines += ["BEGIN:VEVENT", body.strip(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    text = "\n".join(line for line in lines if line)
    return "\r\n".join(line.strip() for line in text.splitlines()).encode() + b"\r\n"


def shift(uid: str, summary: str, start: str, end: str, extra: str = "") -> str:
    return (
        f"UID:{uid}\nSUMMARY:{summary}\nDTSTART;TZID=Europe/London:{start}\n"
        f"DTEND;TZID=Europe/London:{end}\n{extra}"
    )


def window(start: datetime = utc(2026, 1, 1), end: datetime = utc(2026, 12, 31)) -> dict[str, Any]:
    return {"window_start": start, "window_end": end}


def times(rows: list[RosterRow]) -> list[tuple[str, datetime, datetime]]:
    return [(r.person, r.start, r.end) for r in rows]


def refusal(data: bytes, **options: Any) -> RosterImportError:
    with pytest.raises(RosterImportError) as caught:
        import_roster(data, **{**window(), **options})
    return caught.value


# --- export ---------------------------------------------------------------------------------


def test_a_person_calendar_has_one_event_per_span_in_utc() -> None:
    data = person_calendar(
        [ICU_CHARGE, WARD_7_NURSES], ANN, *DST_WINDOW, generated_at=GENERATED, person=PEOPLE[ANN]
    )
    calendar = Calendar.from_ical(data)
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["X-WR-CALNAME"]) == "On call: Ann Able"
    assert str(calendar["VERSION"]) == "2.0"
    found = [(e["SUMMARY"], e["DTSTART"], e["DTEND"], e["LOCATION"]) for e in events(data)]
    assert found == [
        ("On call: ICU charge nurse", "20260328T070000Z", "20260328T190000Z", "ICU"),
        ("On call: ICU charge nurse", "20260329T060000Z", "20260329T180000Z", "ICU"),
        ("On call: Ward 7 nurse", "20260329T180000Z", "20260330T060000Z", "Ward 7"),
    ]
    assert b'ATTENDEE;CN="Ann Able":mailto:ann.able@hospital.example' in data
    assert b"DTSTAMP:20260301T090000Z" in data


def test_exported_summaries_and_attendees() -> None:
    data = ward_calendar(
        [ICU_CHARGE, WARD_7_NURSES], ICU, *DST_WINDOW, generated_at=GENERATED, people=PEOPLE
    )
    assert str(Calendar.from_ical(data)["X-WR-CALNAME"]) == "On call: ICU"
    summaries = [e["SUMMARY"] for e in events(data)]
    assert summaries == [
        "On call: ICU charge nurse (Ann Able)",
        "On call: ICU charge nurse (Ben Bell)",
        "On call: ICU charge nurse (Cat Cole)",
        "On call: ICU charge nurse (Ann Able)",
        "On call: ICU charge nurse (Ben Bell)",
    ]
    assert b"urn:uuid:00000000-0000-0000-0000-000000000002" in data
    assert b"Ward 7" not in data


def test_uids_are_stable_and_distinct() -> None:
    first = person_calendar([ICU_CHARGE], ANN, *DST_WINDOW, generated_at=GENERATED)
    again = person_calendar(
        [ICU_CHARGE],
        ANN,
        DST_WINDOW[0],
        DST_WINDOW[1] + timedelta(days=3),
        generated_at=GENERATED + timedelta(days=1),
    )
    uids = [e["UID"] for e in events(first)]
    assert uids == [e["UID"] for e in events(again)][: len(uids)]
    assert len(set(uids)) == len(uids)
    span = OnCallSpan(ANN, utc(2026, 3, 28, 7), utc(2026, 3, 28, 19), ICU_CHARGE.id, ICU, "nurse")
    assert span_uid(span) == uids[0]
    assert span_uid(span) != span_uid(
        OnCallSpan(BEN, *span_times(span), ICU_CHARGE.id, ICU, "nurse")
    )
    later = OnCallSpan(ANN, span.start + timedelta(hours=1), span.end, ICU_CHARGE.id, ICU, "nurse")
    assert span_uid(later) != span_uid(span)
    other = OnCallSpan(ANN, *span_times(span), WARD_7_NURSES.id, WARD_7, "nurse")
    assert span_uid(other) != span_uid(span)


def span_times(span: OnCallSpan) -> tuple[datetime, datetime]:
    return span.start, span.end


def test_export_refuses_naive_clock_and_unknown_schedules() -> None:
    span = OnCallSpan(ANN, utc(2026, 3, 28, 7), utc(2026, 3, 28, 19), uuid.UUID(int=9), ICU, "x")
    with pytest.raises(ValueError, match="generated_at: must be a timezone-aware"):
        spans_to_ical([], calendar_name="x", schedules=[], generated_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match=r"schedule .* is missing"):
        spans_to_ical([span], calendar_name="x", schedules=[ICU_CHARGE], generated_at=GENERATED)


# --- round trip -----------------------------------------------------------------------------

EMAILS = {p.email: staff_id for staff_id, p in PEOPLE.items() if p.email}


def staff_of(row: RosterRow) -> uuid.UUID:
    if row.person_source is PersonSource.EMAIL:
        return EMAILS[row.person]
    assert row.person_source is PersonSource.STAFF_ID
    return uuid.UUID(row.person)


def test_export_then_import_gives_the_same_spans() -> None:
    data = ward_calendar([ICU_CHARGE], ICU, *DST_WINDOW, generated_at=GENERATED, people=PEOPLE)
    rows = import_roster(data, window_start=DST_WINDOW[0], window_end=DST_WINDOW[1])
    spans = spans_between(ICU_CHARGE, *DST_WINDOW)
    assert len(spans) == 5  # Ann, Ben, Cat (added), Ann, Ben
    assert sorted((staff_of(r), r.start, r.end) for r in rows) == sorted(
        (s.staff_id, s.start, s.end) for s in spans
    )
    assert {r.ward for r in rows} == {"ICU"}
    assert {r.person_name for r in rows} == {"Ann Able", "Ben Bell", "Cat Cole"}
    assert {r.uid for r in rows} == {span_uid(s) for s in spans}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.datetimes(datetime(2026, 3, 1), datetime(2027, 3, 1), timezones=st.just(UTC)),
    st.timedeltas(timedelta(hours=1), timedelta(days=10)),
)
def test_any_window_round_trips(start: datetime, length: timedelta) -> None:
    start = start.replace(microsecond=0, second=0)  # iCalendar holds whole seconds
    end = start + timedelta(minutes=length // timedelta(minutes=1))
    data = ward_calendar([ICU_CHARGE], ICU, start, end, generated_at=GENERATED, people=PEOPLE)
    spans = spans_between(ICU_CHARGE, start, end)
    if not spans:  # before the rotation's anchor
        assert "no events" in str(refusal(data, window_start=start, window_end=end))
        return
    rows = import_roster(data, window_start=start, window_end=end)
    assert sorted((staff_of(r), r.start, r.end) for r in rows) == sorted(
        (s.staff_id, s.start, s.end) for s in spans
    )


# --- import: time zones, DST and repeats ----------------------------------------------------


def test_daily_nights_keep_their_wall_clock_times_across_both_london_changes() -> None:
    spring = ics(
        shift("n1", "Jane Doe", "20260327T190000", "20260328T070000", "RRULE:FREQ=DAILY;COUNT=3")
    )
    rows = import_roster(spring, **window())
    assert times(rows) == [
        ("Jane Doe", utc(2026, 3, 27, 19), utc(2026, 3, 28, 7)),
        ("Jane Doe", utc(2026, 3, 28, 19), utc(2026, 3, 29, 6)),  # 11 h
        ("Jane Doe", utc(2026, 3, 29, 18), utc(2026, 3, 30, 6)),
    ]
    assert [r.person_source for r in rows] == [PersonSource.SUMMARY] * 3
    autumn = ics(
        shift("n2", "Jane Doe", "20261024T190000", "20261025T070000", "RRULE:FREQ=DAILY;COUNT=2")
    )
    assert [r.end - r.start for r in import_roster(autumn, **window())] == [
        timedelta(hours=13),
        timedelta(hours=12),
    ]


def test_a_duration_in_hours_is_exact_and_in_days_is_on_the_wall_clock() -> None:
    hours = ics(
        "UID:h\nSUMMARY:Jo\nDTSTART;TZID=Europe/London:20260328T190000\nDURATION:PT12H\n"
        "RRULE:FREQ=DAILY;COUNT=2"
    )
    assert [(r.start, r.end) for r in import_roster(hours, **window())] == [
        (utc(2026, 3, 28, 19), utc(2026, 3, 29, 7)),  # 08:00 BST: 12 real hours
        (utc(2026, 3, 29, 18), utc(2026, 3, 30, 6)),
    ]
    days = ics("UID:d\nSUMMARY:Jo\nDTSTART;TZID=Europe/London:20260328T090000\nDURATION:P1D")
    (row,) = import_roster(days, **window())
    assert (row.start, row.end) == (utc(2026, 3, 28, 9), utc(2026, 3, 29, 8))  # 09:00 BST


def test_a_single_event_keeps_its_exact_end() -> None:
    # Ends at the second 01:30 of 25 Oct (GMT), written in UTC.
    data = ics(
        "UID:s\nSUMMARY:Jo\nDTSTART;TZID=Europe/London:20261024T193000\nDTEND:20261025T013000Z"
    )
    (row,) = import_roster(data, **window())
    assert (row.start, row.end) == (utc(2026, 10, 24, 18, 30), utc(2026, 10, 25, 1, 30))


def test_new_york_nights_with_a_tzid() -> None:
    data = ics(
        "UID:ny\nSUMMARY:Sam\nDTSTART;TZID=America/New_York:20260307T190000\n"
        "DTEND;TZID=America/New_York:20260308T070000\nRRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=35"
    )
    rows = import_roster(data, **window())
    lengths = {r.start: r.end - r.start for r in rows}
    assert lengths[utc(2026, 3, 8, 0)] == timedelta(hours=11)
    assert lengths[utc(2026, 10, 31, 23)] == timedelta(hours=13)
    assert len(rows) == 35


def test_a_repeat_at_a_time_the_clocks_skip_is_left_out_and_not_counted() -> None:
    data = ics(
        shift("x", "Early", "20260328T013000", "20260328T023000", "RRULE:FREQ=DAILY;COUNT=3")
    )
    assert [r.start for r in import_roster(data, **window())] == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]


def test_until_exdate_rdate_edited_and_cancelled_occurrences() -> None:
    data = ics(
        shift(
            "rota-1",
            "Jane Doe",
            "20260302T070000",
            "20260302T190000",
            "RRULE:FREQ=DAILY;UNTIL=20260306T070000Z\n"
            "EXDATE;TZID=Europe/London:20260303T070000\n"
            "RDATE:20260310T070000Z",
        ),
        shift(  # the 4 Mar shift, moved to start two hours later
            "rota-1",
            "Jane Doe",
            "20260304T090000",
            "20260304T210000",
            "RECURRENCE-ID;TZID=Europe/London:20260304T070000",
        ),
        shift("gone", "Jane Doe", "20260307T070000", "20260307T190000", "STATUS:CANCELLED"),
    )
    assert [(r.start, r.end) for r in import_roster(data, **window())] == [
        (utc(2026, 3, 2, 7), utc(2026, 3, 2, 19)),
        (utc(2026, 3, 4, 9), utc(2026, 3, 4, 21)),
        (utc(2026, 3, 5, 7), utc(2026, 3, 5, 19)),
        (utc(2026, 3, 6, 7), utc(2026, 3, 6, 19)),  # UNTIL is inclusive
        (utc(2026, 3, 10, 7), utc(2026, 3, 10, 19)),
    ]


def test_an_endless_repeat_is_read_within_the_window_only() -> None:
    data = ics(shift("weekly", "Jane", "20200106T190000", "20200107T070000", "RRULE:FREQ=WEEKLY"))
    rows = import_roster(data, **window(utc(2026, 3, 1), utc(2026, 3, 17)))
    assert [r.start for r in rows] == [
        utc(2026, 3, 2, 19),
        utc(2026, 3, 9, 19),
        utc(2026, 3, 16, 19),
    ]
    # A shift that started before the window but ends inside it is in.
    rows = import_roster(data, **window(utc(2026, 3, 3, 6), utc(2026, 3, 4)))
    assert [r.start for r in rows] == [utc(2026, 3, 2, 19)]


def test_who_and_where() -> None:
    data = ics(
        "UID:a\nSUMMARY:Nights\nDTSTART:20260302T190000Z\nDURATION:PT12H\n"
        "ATTENDEE;CN=Ann Able:mailto:ann.able@hospital.example\n"
        "ATTENDEE:MAILTO:cat.cole@hospital.example\nCATEGORIES:ICU,nights",
        "UID:b\nSUMMARY:  Ben Bell \nDTSTART:20260303T190000Z\nDTEND:20260304T070000Z\n"
        "LOCATION:Ward 7\nCATEGORIES:ICU",
        "UID:c\nSUMMARY:Dan\nDTSTART:20260305T190000Z\nDTEND:20260306T070000Z",
    )
    rows = import_roster(data, **window())
    assert [(r.person, r.person_source, r.person_name, r.ward, r.uid) for r in rows] == [
        ("ann.able@hospital.example", PersonSource.EMAIL, "Ann Able", "ICU", "a"),
        ("cat.cole@hospital.example", PersonSource.EMAIL, None, "ICU", "a"),
        ("Ben Bell", PersonSource.SUMMARY, None, "Ward 7", "b"),
        ("Dan", PersonSource.SUMMARY, None, None, "c"),
    ]
    assert rows[0].end == utc(2026, 3, 3, 7)


def test_time_zones_from_vtimezone_and_windows_names() -> None:
    vtimezone = (
        "BEGIN:VTIMEZONE\nTZID:Ward Clock\nBEGIN:STANDARD\nDTSTART:16010101T020000\n"
        "TZOFFSETFROM:+0100\nTZOFFSETTO:+0000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\n"
        "END:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:16010101T010000\nTZOFFSETFROM:+0000\n"
        "TZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nEND:VTIMEZONE"
    )
    data = ics(
        "UID:v\nSUMMARY:Jo\nDTSTART;TZID=Ward Clock:20260328T190000\n"
        "DTEND;TZID=Ward Clock:20260329T070000",
        "UID:w\nSUMMARY:Kim\nDTSTART;TZID=W. Europe Standard Time:20260328T190000\n"
        "DTEND;TZID=W. Europe Standard Time:20260329T070000",
        head=vtimezone,
    )
    assert times(import_roster(data, **window())) == [
        ("Kim", utc(2026, 3, 28, 18), utc(2026, 3, 29, 5)),  # Berlin
        ("Jo", utc(2026, 3, 28, 19), utc(2026, 3, 29, 6)),
    ]


def test_floating_times_need_a_default_time_zone() -> None:
    data = ics("UID:f\nSUMMARY:Flo\nDTSTART:20260701T070000\nDTEND:20260701T190000")
    rows = import_roster(data, **window(), default_time_zone="Europe/London")
    assert times(rows) == [("Flo", utc(2026, 7, 1, 6), utc(2026, 7, 1, 18))]
    assert "no time zone" in str(refusal(data))


# --- import: refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "UID:d1\nSUMMARY:Leave\nDTSTART;VALUE=DATE:20260302\nDTEND;VALUE=DATE:20260303",
            'Event "Leave" (UID d1): it is an all-day event (its start is a date, 2026-03-02)',
        ),
        (
            "UID:e1\nSUMMARY:Nights\nDTSTART:20260302T190000Z",
            'Event "Nights" (UID e1): it has no end (DTEND or DURATION)',
        ),
        (
            "UID:e2\nSUMMARY:Nights\nDTSTART:20260302T190000Z\nDTEND:20260302T070000Z",
            'Event "Nights" (UID e2): it ends before it starts',
        ),
        ("UID:e3\nSUMMARY:Nights\nDTEND:20260302T070000Z", "it has no start (DTSTART)"),
        (
            "UID:t1\nSUMMARY:Mars\nDTSTART;TZID=Mars/Olympus:20260302T070000\n"
            "DTEND;TZID=Mars/Olympus:20260302T190000",
            "its start is in an unknown time zone, TZID=Mars/Olympus",
        ),
        (
            "UID:r1\nSUMMARY:Hourly\nDTSTART:20260302T070000Z\nDURATION:PT1H\nRRULE:FREQ=HOURLY",
            "it repeats hourly; only daily, weekly, monthly or yearly repeats",
        ),
        (
            "UID:r2\nSUMMARY:Never\nDTSTART:20260302T070000Z\nDURATION:PT1H\n"
            "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            "it repeats on a date that never happens (BYMONTHDAY=30, BYMONTH=2)",
        ),
        (
            "UID:r3\nSUMMARY:Pos\nDTSTART:20260302T070000Z\nDURATION:PT1H\n"
            "RRULE:FREQ=DAILY;BYSETPOS=2",
            "uses BYSETPOS, which is read for monthly and yearly repeats only",
        ),
        (
            "UID:r4\nSUMMARY:Bad\nDTSTART:20260302T070000Z\nDURATION:PT1H\n"
            "RRULE:FREQ=DAILY;INTERVAL=x",
            "its repeat rule (RRULE) cannot be read",
        ),
        (
            "UID:p1\nDTSTART:20260302T070000Z\nDURATION:PT1H",
            "Event UID p1: it does not say who is on call",
        ),
        (
            "UID:b1\nSUMMARY:Broken\nDTSTART:2026-03-02 07:00\nDURATION:PT1H",
            'Event "Broken" (UID b1): cannot be read',
        ),
        (
            "SUMMARY:Nameless\nDTSTART;VALUE=DATE:20260302",
            'Event "Nameless": it is an all-day event',
        ),
    ],
)
def test_events_that_cannot_be_shifts_are_refused_by_name(body: str, reason: str) -> None:
    good = "UID:ok\nSUMMARY:Fine\nDTSTART:20260301T070000Z\nDTEND:20260301T190000Z"
    error = refusal(ics(good, body))
    assert str(error).startswith("Nothing was imported: 1 event cannot be imported.")
    assert reason in str(error)
    (problem,) = error.problems
    assert reason in problem


def test_every_refused_event_is_listed() -> None:
    data = ics(
        "UID:1\nSUMMARY:A\nDTSTART;VALUE=DATE:20260302",
        "UID:2\nSUMMARY:B\nDTSTART:20260302T070000Z",
    )
    error = refusal(data)
    assert str(error).startswith("Nothing was imported: 2 events cannot be imported.")
    assert [p.split(":")[0] for p in error.problems] == ['Event "A" (UID 1)', 'Event "B" (UID 2)']


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"   \r\n", "The file is empty"),
        (b"hello nurses", "This is not a valid iCalendar (.ics) file"),
        (bytes(range(256)), "This is not a valid iCalendar (.ics) file"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", "not a valid iCalendar"),
        (
            b"BEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260101T070000Z\r\nEND:VEVENT\r\n",
            "it has no VCALENDAR",
        ),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "The file has no events"),
    ],
)
def test_malformed_files_give_a_clear_error(data: bytes, message: str) -> None:
    assert message in str(refusal(data))


def test_the_number_of_events_is_limited() -> None:
    body = "UID:{n}\nSUMMARY:N\nDTSTART:20260302T070000Z\nDURATION:PT8H"
    data = ics(*(body.format(n=n) for n in range(3)))
    assert str(refusal(data, max_events=2)) == (
        "The file has 3 events; at most 2 can be imported at once. "
        "Split the roster into shorter periods."
    )
    assert len(import_roster(data, **window(), max_events=3)) == 3
    repeating = ics("UID:r\nSUMMARY:R\nDTSTART:20260302T070000Z\nDURATION:PT8H\nRRULE:FREQ=DAILY")
    assert "more than 10 shifts between the window's start and end" in str(
        refusal(repeating, max_events=10)
    )


def test_the_file_size_and_the_repeating_events_are_limited() -> None:
    assert "at most 10 MiB" in str(refusal(b"x" * (MAX_FILE_BYTES + 1)))
    body = "UID:{n}\nSUMMARY:R\nDTSTART:20260302T070000Z\nDURATION:PT8H\nRRULE:FREQ=YEARLY"
    data = ics(*(body.format(n=n) for n in range(MAX_RECURRING_EVENTS + 1)))
    assert f"at most {MAX_RECURRING_EVENTS} can be imported" in str(refusal(data))


def test_the_window_is_checked() -> None:
    data = ics("UID:1\nSUMMARY:A\nDTSTART:20260302T070000Z\nDURATION:PT8H")
    with pytest.raises(ValueError, match="timezone-aware"):
        import_roster(data, window_start=datetime(2026, 1, 1), window_end=utc(2026, 2, 1))
    with pytest.raises(ValueError, match="at most 400 days"):
        import_roster(data, **window(utc(2026, 1, 1), utc(2027, 6, 1)))


VALID = ics(
    shift("n1", "Jane Doe", "20260327T190000", "20260328T070000", "RRULE:FREQ=DAILY;COUNT=3"),
    "UID:a\nSUMMARY:Nights\nDTSTART:20260302T190000Z\nDURATION:PT12H\n"
    "ATTENDEE;CN=Ann Able:mailto:ann.able@hospital.example",
)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_files_never_escape_as_anything_but_a_roster_error(data: st.DataObject) -> None:
    raw = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[position : position + data.draw(st.integers(1, 40))]
        else:
            raw[position:position] = data.draw(
                st.sampled_from([b";", b":", b"\r\n", b"BEGIN:VEVENT\r\n", b"=", b"\\", b"Z"])
            )
        if not raw:
            break
    try:
        rows = import_roster(bytes(raw), **window())
    except RosterImportError as error:
        assert str(error)
    else:
        assert all(r.start < r.end and r.start.tzinfo is UTC for r in rows)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(raw: bytes) -> None:
    try:
        import_roster(raw, **window())
    except RosterImportError as error:
        assert str(error)
