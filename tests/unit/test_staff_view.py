"""The staff screens' view model (healthguard.ui.staff_view): the 7-day roster grid built from
real rotations across both DST changes, coverage gaps placed and highlighted on it, and the
words of the staff status panel. Also: the staff states expose only checked handlers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from healthguard.oncall.gaps import CoverageRequirement, find_gaps
from healthguard.oncall.rotations import Handoff, Layer, Rotation, Schedule, spans_between
from healthguard.ui import staff_view as view

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
ANN, BEN = uuid.UUID(int=1), uuid.UUID(int=2)
NAMES = {ANN: "Ann Day", BEN: "Ben Night"}
ICU = uuid.UUID(int=100)


def day_night_rota(anchor: datetime) -> Schedule:
    """Ann on days 07:00-19:00, Ben on nights 19:00-07:00 (a 12 h shift rotation)."""
    rotation = Rotation((ANN, BEN), anchor, Handoff.SHIFT, shift_hours=12)
    return Schedule(uuid.UUID(int=9), "nurse", ICU, "Europe/London", (Layer("ICU", rotation),))


def grid_of(schedule: Schedule, first: date, days: int, gaps=()) -> list[view.RosterDay]:  # type: ignore[no-untyped-def]
    start, end = view.roster_window(first, LONDON, days)
    spans = spans_between(schedule, start, end)
    return view.build_roster_grid(spans, NAMES, gaps, first_day=first, zone=LONDON, days=days)


def cells(day: view.RosterDay) -> list[tuple[str, str]]:
    return [(c.when, c.who) for c in day.cells]


def test_days_follow_local_midnight_across_the_autumn_change() -> None:
    # Clocks go back in London at 02:00 BST on 25 Oct 2026: that day has 25 hours.
    a, b = view.day_bounds(date(2026, 10, 25), LONDON)
    assert b - a == timedelta(hours=25)
    assert a == datetime(2026, 10, 24, 23, tzinfo=UTC)  # 00:00 BST
    assert b == datetime(2026, 10, 26, 0, tzinfo=UTC)  # 00:00 GMT


def test_roster_grid_keeps_wall_clock_shifts_over_the_autumn_change() -> None:
    grid = grid_of(day_night_rota(datetime(2026, 10, 24, 7)), date(2026, 10, 24), 3)
    assert [d.label for d in grid] == ["Sat 24 Oct", "Sun 25 Oct", "Mon 26 Oct"]
    assert cells(grid[0]) == [
        ("07:00-19:00", "Ann Day"),
        # 13 real hours: the clocks go back during it, so each end says which time it is.
        ("19:00 BST-07:00 GMT next day", "Ben Night"),
    ]
    assert cells(grid[1]) == [("07:00-19:00", "Ann Day"), ("19:00-07:00 next day", "Ben Night")]
    # The last night is cut at the end of the 7-day (here 3-day) window.
    assert cells(grid[2]) == [("07:00-19:00", "Ann Day"), ("19:00-24:00", "Ben Night")]
    assert grid[2].cells[0].starts_at == "2026-10-26T07:00:00+00:00"  # 07:00 GMT
    assert all(c.role == "nurse" for d in grid for c in d.cells)


def test_roster_grid_over_the_spring_change() -> None:
    # 29 Mar 2026: 01:00 GMT jumps to 02:00 BST; the day has 23 hours.
    a, b = view.day_bounds(date(2026, 3, 29), LONDON)
    assert b - a == timedelta(hours=23)
    grid = grid_of(day_night_rota(datetime(2026, 3, 28, 7)), date(2026, 3, 28), 2)
    assert cells(grid[0]) == [
        ("07:00-19:00", "Ann Day"),
        ("19:00 GMT-07:00 BST next day", "Ben Night"),  # an 11 h night
    ]
    assert grid[1].cells[0].when == "07:00-19:00"
    assert grid[1].cells[0].starts_at == "2026-03-29T06:00:00+00:00"  # 07:00 BST


def test_a_running_shift_is_listed_on_the_first_day_from_midnight() -> None:
    grid = grid_of(day_night_rota(datetime(2026, 11, 25, 7)), date(2026, 11, 26), 1)
    # Ben's night began on 25 Nov; the grid starts at 00:00 on 26 Nov.
    assert cells(grid[0])[0] == ("00:00-07:00", "Ben Night")


def test_gaps_are_highlighted_on_their_day_before_the_shifts() -> None:
    ann_only = Schedule(
        uuid.UUID(int=9),
        "nurse",
        ICU,
        "Europe/London",
        (Layer("days", Rotation((ANN,), datetime(2026, 12, 2, 7), Handoff.SHIFT, 12)),),
    )
    # Ann is on call 07-19 then 19-07 (one person: back-to-back turns merge into one span).
    start, end = view.roster_window(date(2026, 12, 3), LONDON, 1)
    spans = spans_between(ann_only, start, end)
    requirement = CoverageRequirement(ICU, "ICU", "nurse", "Europe/London", 1, "ACLS")
    gaps = find_gaps([requirement], spans, [], start, end)  # Ann holds no ACLS
    assert [g.message for g in gaps] == ["ICU has no ACLS-certified nurse all day on 3 Dec"]
    grid = view.build_roster_grid(
        spans,
        NAMES,
        [view.GapLike(g.start, g.end, g.message) for g in gaps],
        first_day=date(2026, 12, 3),
        zone=LONDON,
        days=1,
    )
    first, second = grid[0].cells
    assert first.is_gap and first.who == "Coverage gap"
    assert first.message == "ICU has no ACLS-certified nurse all day on 3 Dec"
    assert not second.is_gap and second.who == "Ann Day"
    assert grid[0].gap_count == 1


def test_a_gap_outside_the_window_is_left_out_and_duplicates_once() -> None:
    start, end = view.roster_window(date(2026, 12, 3), LONDON, 1)
    outside = view.GapLike(end + timedelta(hours=1), end + timedelta(hours=2), "later")
    schedule = day_night_rota(datetime(2026, 12, 3, 7))
    spans = spans_between(schedule, start, end)
    grid = view.build_roster_grid(
        [*spans, *spans], NAMES, [outside], first_day=date(2026, 12, 3), zone=LONDON, days=1
    )
    assert grid[0].gap_count == 0
    assert [c.who for c in grid[0].cells] == ["Ann Day", "Ben Night"]


def test_status_words() -> None:
    assert view.load_words({}) == "No open incidents"
    assert view.load_words({"P3": 2, "P1": 1, "P0": 0}) == "1 P1, 2 P3"
    assert view.availability_words("on_break") == "On a break"
    assert view.availability_words("busy") == "Busy with a patient"
    assert view.skill_words("ACLS", None, "valid") == "ACLS"
    assert view.skill_words("ACLS", date(2026, 12, 5), "expiring") == "ACLS (expires 5 Dec)"
    assert view.skill_words("BLS", date(2026, 11, 1), "expired") == "BLS (expired 1 Nov)"
    assert view.skill_words("critical_care", None, "valid") == "critical care"


def test_next_shift_change_in_local_time() -> None:
    now = datetime(2026, 7, 1, 12, tzinfo=UTC)  # 13:00 BST
    ends = [datetime(2026, 7, 1, 18, tzinfo=UTC), datetime(2026, 7, 1, 11, tzinfo=UTC)]
    change = view.next_change(ends, [datetime(2026, 7, 1, 17, 30, tzinfo=UTC)], now)
    assert change == datetime(2026, 7, 1, 17, 30, tzinfo=UTC)
    assert view.change_words(change, LONDON, now) == "18:30"
    assert view.change_words(now + timedelta(hours=19), LONDON, now) == "tomorrow 08:00"
    assert view.change_words(now + timedelta(days=3), LONDON, now) == "4 Jul 13:00"
    assert view.next_change([], [], now) is None
    assert view.change_words(None, LONDON, now) == ""


def test_staff_states_expose_only_checked_handlers() -> None:
    """Reflex makes every public method an event a browser can send: the staff states take
    no ward or person from the browser except through these checked handlers."""
    from healthguard.ui.states.staff import StaffPageState, StaffStatusState

    assert set(StaffStatusState.event_handlers) <= {"load", "setvar"}
    assert set(StaffPageState.event_handlers) <= {
        "on_load",
        "select_ward",
        "download_calendar",
        "setvar",
    }
