"""On-call rotations (healthguard.oncall.rotations): wall-clock handoffs across DST (11 h and
13 h nights in London and New York), skipped and repeated times, every handoff pattern,
layers with precedence and time windows, each override kind, merging, validation, and
properties (hypothesis): one rotation's spans never overlap and tile the window exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.oncall.rotations import (
    MAX_WINDOW,
    WEEKEND,
    Handoff,
    Layer,
    LayerMode,
    OnCallSpan,
    Override,
    OverrideKind,
    Rotation,
    Schedule,
    TimeWindow,
    describe_period,
    local_to_utc,
    on_call_at,
    role_words,
    spans_between,
    turns_between,
    who_is_on_call,
)

pytestmark = pytest.mark.unit

ANN, BEN, CAT, DAN = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
NAMES = {ANN: "Ann", BEN: "Ben", CAT: "Cat", DAN: "Dan"}
ICU = uuid.UUID(int=100)
SCHEDULE_ID = uuid.UUID(int=200)
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(
    *layers: Layer, overrides: tuple[Override, ...] = (), zone: str = "Europe/London"
) -> Schedule:
    return Schedule(
        id=SCHEDULE_ID,
        role="nurse",
        ward_id=ICU,
        time_zone=zone,
        layers=layers,
        overrides=overrides,
        ward_name="ICU",
    )


def two_by_twelve(anchor: datetime, people: tuple[uuid.UUID, ...] = (ANN, BEN)) -> Layer:
    """Days 07:00-19:00 and nights 19:00-07:00, the first person on the anchor's day."""
    return Layer("2x12h", Rotation(people, anchor, Handoff.SHIFT, shift_hours=12))


def rows(spans: list[OnCallSpan]) -> list[tuple[str, datetime, datetime]]:
    return [(NAMES[s.staff_id], s.start, s.end) for s in spans]


def hours(span: OnCallSpan) -> float:
    return span.duration.total_seconds() / 3600


# --- daylight saving time -------------------------------------------------------------------


def test_london_night_when_the_clocks_go_forward_is_11_hours() -> None:
    # Ann days, Ben nights; Saturday 28 Mar 2026 19:00 GMT to Sunday 07:00 BST.
    s = schedule(two_by_twelve(datetime(2026, 3, 28, 7, 0)))
    spans = spans_between(s, utc(2026, 3, 28, 7), utc(2026, 3, 29, 18))
    assert rows(spans) == [
        ("Ann", utc(2026, 3, 28, 7), utc(2026, 3, 28, 19)),
        ("Ben", utc(2026, 3, 28, 19), utc(2026, 3, 29, 6)),  # 07:00 BST is 06:00 UTC
        ("Ann", utc(2026, 3, 29, 6), utc(2026, 3, 29, 18)),  # 07:00-19:00 BST
    ]
    assert [hours(span) for span in spans] == [12, 11, 12]
    night = spans[1]
    assert night.end.astimezone(LONDON).time() == time(7, 0)


def test_london_night_when_the_clocks_go_back_is_13_hours() -> None:
    s = schedule(two_by_twelve(datetime(2026, 10, 24, 7, 0)))
    spans = spans_between(s, utc(2026, 10, 24, 6), utc(2026, 10, 25, 19))
    assert rows(spans) == [
        ("Ann", utc(2026, 10, 24, 6), utc(2026, 10, 24, 18)),  # 07:00-19:00 BST
        ("Ben", utc(2026, 10, 24, 18), utc(2026, 10, 25, 7)),  # 19:00 BST to 07:00 GMT
        ("Ann", utc(2026, 10, 25, 7), utc(2026, 10, 25, 19)),
    ]
    assert [hours(span) for span in spans] == [12, 13, 12]


@pytest.mark.parametrize(
    ("night_starts", "night_ends", "length"),
    [
        (utc(2026, 3, 8, 0), utc(2026, 3, 8, 11), 11),  # 7 Mar 19:00 EST to 8 Mar 07:00 EDT
        (utc(2026, 10, 31, 23), utc(2026, 11, 1, 12), 13),  # 31 Oct 19:00 EDT to 07:00 EST
    ],
)
def test_new_york_nights_across_both_clock_changes(
    night_starts: datetime, night_ends: datetime, length: int
) -> None:
    s = schedule(two_by_twelve(datetime(2026, 1, 1, 7, 0)), zone="America/New_York")
    (night,) = [
        span
        for span in spans_between(s, night_starts - timedelta(days=1), night_ends)
        if span.start == night_starts
    ]
    assert night.staff_id == BEN
    assert night.end == night_ends
    assert hours(night) == length
    assert night.start.astimezone(NEW_YORK).time() == time(19, 0)
    assert night.end.astimezone(NEW_YORK).time() == time(7, 0)


def test_a_skipped_handoff_time_happens_when_the_clocks_jump() -> None:
    # 01:30 does not exist in London on 29 Mar 2026: the handoff is at 02:00 BST (01:00 UTC).
    assert local_to_utc(datetime(2026, 3, 29, 1, 30), LONDON) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 3, 29, 1, 0), LONDON) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 3, 29, 2, 0), LONDON) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK) == utc(2026, 3, 8, 7)
    daily = Layer("daily", Rotation((ANN, BEN), datetime(2026, 3, 27, 1, 30), Handoff.DAILY))
    spans = spans_between(schedule(daily), utc(2026, 3, 28, 0), utc(2026, 3, 31, 0))
    assert rows(spans) == [
        ("Ann", utc(2026, 3, 28, 0), utc(2026, 3, 28, 1, 30)),
        ("Ben", utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1)),  # 28 Mar 01:30 -> the jump
        ("Ann", utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)),  # the jump -> 30 Mar 01:30 BST
        ("Ben", utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0)),
    ]


def test_an_ambiguous_handoff_time_is_its_first_occurrence() -> None:
    # 01:30 happens twice in London on 25 Oct 2026 (BST, then GMT): the first one counts.
    assert local_to_utc(datetime(2026, 10, 25, 1, 30), LONDON) == utc(2026, 10, 25, 0, 30)
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)
    daily = Layer("daily", Rotation((ANN, BEN), datetime(2026, 10, 23, 1, 30), Handoff.DAILY))
    spans = spans_between(schedule(daily), utc(2026, 10, 24, 0, 30), utc(2026, 10, 26, 1, 30))
    assert rows(spans) == [
        ("Ben", utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30)),
        ("Ann", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),  # a 25-hour day
    ]


def test_an_hourly_turn_inside_the_skipped_hour_is_left_out() -> None:
    hourly = Rotation((ANN, BEN, CAT), datetime(2026, 3, 29, 0, 0), Handoff.SHIFT, shift_hours=1)
    turns = turns_between(hourly, LONDON, utc(2026, 3, 29, 0), utc(2026, 3, 29, 3))
    # 00:00 GMT Ann; 01:00 (skipped) would be Ben's: gone; 02:00 BST Cat; 03:00 BST Ann.
    assert [(t.index, NAMES[t.person], t.start, t.end) for t in turns] == [
        (0, "Ann", utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        (2, "Cat", utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
        (3, "Ann", utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)),
    ]


# --- handoff patterns -----------------------------------------------------------------------


def test_three_eight_hour_shifts_a_day_rotate_through_the_team() -> None:
    layer = Layer("3x8h", Rotation((ANN, BEN, CAT, DAN), datetime(2026, 2, 2, 7, 0), shift_hours=8))
    spans = spans_between(schedule(layer), utc(2026, 2, 2, 7), utc(2026, 2, 3, 15))
    assert rows(spans) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 2, 15)),
        ("Ben", utc(2026, 2, 2, 15), utc(2026, 2, 2, 23)),
        ("Cat", utc(2026, 2, 2, 23), utc(2026, 2, 3, 7)),
        ("Dan", utc(2026, 2, 3, 7), utc(2026, 2, 3, 15)),
    ]


def test_weekly_handoff_keeps_monday_0900_across_the_clock_change() -> None:
    weekly = Layer("weekly", Rotation((ANN, BEN), datetime(2026, 3, 23, 9, 0), Handoff.WEEKLY))
    spans = spans_between(schedule(weekly), utc(2026, 3, 23, 9), utc(2026, 4, 6, 8))
    assert rows(spans) == [
        ("Ann", utc(2026, 3, 23, 9), utc(2026, 3, 30, 8)),  # Monday 09:00 BST
        ("Ben", utc(2026, 3, 30, 8), utc(2026, 4, 6, 8)),
    ]
    assert spans[0].duration == timedelta(days=7, hours=-1)


def test_custom_cycle_of_a_ten_hour_day_and_a_fourteen_hour_night() -> None:
    custom = Layer(
        "custom",
        Rotation(
            (ANN, BEN, CAT), datetime(2026, 2, 2, 7, 0), Handoff.CUSTOM, custom_hours=(10, 14)
        ),
    )
    spans = spans_between(schedule(custom), utc(2026, 2, 2, 7), utc(2026, 2, 4, 7))
    assert rows(spans) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 2, 17)),
        ("Ben", utc(2026, 2, 2, 17), utc(2026, 2, 3, 7)),
        ("Cat", utc(2026, 2, 3, 7), utc(2026, 2, 3, 17)),
        ("Ann", utc(2026, 2, 3, 17), utc(2026, 2, 4, 7)),
    ]


def test_seven_and_a_half_hour_shifts() -> None:
    layer = Layer("early/late", Rotation((ANN, BEN), datetime(2026, 2, 2, 7, 30), shift_hours=7.5))
    spans = spans_between(schedule(layer), utc(2026, 2, 2, 7, 30), utc(2026, 2, 2, 22, 30))
    assert rows(spans) == [
        ("Ann", utc(2026, 2, 2, 7, 30), utc(2026, 2, 2, 15)),
        ("Ben", utc(2026, 2, 2, 15), utc(2026, 2, 2, 22, 30)),
    ]


def test_nobody_is_on_call_from_a_rotation_before_its_anchor() -> None:
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)))
    assert rows(spans_between(s, utc(2026, 2, 1), utc(2026, 2, 2, 19))) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 2, 19))
    ]
    assert on_call_at(s, utc(2026, 2, 2, 6, 59)) == []


def test_back_to_back_turns_of_one_person_are_one_span() -> None:
    layer = Layer("doubles", Rotation((ANN, ANN, BEN), datetime(2026, 2, 2, 7, 0), shift_hours=12))
    spans = spans_between(schedule(layer), utc(2026, 2, 2, 7), utc(2026, 2, 4, 7))
    assert rows(spans) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 3, 7)),
        ("Ben", utc(2026, 2, 3, 7), utc(2026, 2, 3, 19)),
        ("Ann", utc(2026, 2, 3, 19), utc(2026, 2, 4, 7)),
    ]


def test_a_one_person_rotation_is_one_span_for_the_whole_window() -> None:
    s = schedule(Layer("solo", Rotation((ANN,), datetime(2026, 1, 1, 8, 0), Handoff.DAILY)))
    assert rows(spans_between(s, utc(2026, 3, 1), utc(2026, 4, 1))) == [
        ("Ann", utc(2026, 3, 1), utc(2026, 4, 1))
    ]


# --- layers ---------------------------------------------------------------------------------


def test_a_weekend_layer_wins_over_the_base_layer_on_saturday_and_sunday() -> None:
    base = two_by_twelve(datetime(2026, 2, 2, 7, 0))  # Monday
    weekend = Layer(
        "weekend",
        Rotation((CAT,), datetime(2026, 2, 7, 0, 0), Handoff.WEEKLY),
        windows=(TimeWindow(time(0), time(0), WEEKEND),),
    )
    spans = spans_between(schedule(base, weekend), utc(2026, 2, 6, 19), utc(2026, 2, 9, 7))
    assert rows(spans) == [
        ("Ben", utc(2026, 2, 6, 19), utc(2026, 2, 7, 0)),  # Friday night until midnight
        ("Cat", utc(2026, 2, 7, 0), utc(2026, 2, 9, 0)),  # the whole weekend
        ("Ben", utc(2026, 2, 9, 0), utc(2026, 2, 9, 7)),  # Sunday night after midnight
    ]


def test_a_lower_layer_shows_through_where_a_higher_layer_has_nobody() -> None:
    base = two_by_twelve(datetime(2026, 2, 2, 7, 0))
    later = Layer("from March", Rotation((CAT,), datetime(2026, 3, 1, 7, 0), Handoff.DAILY))
    s = schedule(base, later)
    assert who_is_on_call(s, utc(2026, 2, 28, 12)) == [ANN]
    assert who_is_on_call(s, utc(2026, 3, 1, 12)) == [CAT]


def test_layer_order_decides_precedence() -> None:
    base = two_by_twelve(datetime(2026, 2, 2, 7, 0))
    cat = Layer("cat", Rotation((CAT,), datetime(2026, 2, 1, 0, 0), Handoff.DAILY))
    dan = Layer("dan", Rotation((DAN,), datetime(2026, 2, 1, 0, 0), Handoff.DAILY))
    assert who_is_on_call(schedule(base, cat, dan), utc(2026, 2, 3, 12)) == [DAN]
    assert who_is_on_call(schedule(base, dan, cat), utc(2026, 2, 3, 12)) == [CAT]


def test_an_add_layer_puts_a_second_nurse_on_nights() -> None:
    base = two_by_twelve(datetime(2026, 2, 2, 7, 0))
    night_cover = Layer(
        "second nurse at night",
        Rotation((DAN,), datetime(2026, 2, 1, 19, 0), Handoff.DAILY),
        windows=(TimeWindow(time(19), time(7)),),
        mode=LayerMode.ADD,
    )
    s = schedule(base, night_cover)
    assert who_is_on_call(s, utc(2026, 2, 2, 12)) == [ANN]
    assert who_is_on_call(s, utc(2026, 2, 2, 23)) == [BEN, DAN]  # the layers' person first
    spans = spans_between(s, utc(2026, 2, 2, 7), utc(2026, 2, 3, 19))
    assert rows(spans) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 2, 19)),
        ("Ben", utc(2026, 2, 2, 19), utc(2026, 2, 3, 7)),
        ("Dan", utc(2026, 2, 2, 19), utc(2026, 2, 3, 7)),
        ("Ann", utc(2026, 2, 3, 7), utc(2026, 2, 3, 19)),
    ]


def test_a_window_on_some_weekdays_starts_on_those_days_only() -> None:
    base = two_by_twelve(datetime(2026, 2, 2, 7, 0))
    friday_night = Layer(
        "Friday night",
        Rotation((CAT,), datetime(2026, 1, 1, 0, 0), Handoff.DAILY),
        windows=(TimeWindow(time(19), time(7), frozenset({4})),),
    )
    s = schedule(base, friday_night)
    assert who_is_on_call(s, utc(2026, 2, 5, 23)) == [BEN]  # Thursday night
    assert who_is_on_call(s, utc(2026, 2, 6, 23)) == [CAT]  # Friday night
    assert who_is_on_call(s, utc(2026, 2, 7, 6, 59)) == [CAT]  # ... until Saturday 07:00
    assert who_is_on_call(s, utc(2026, 2, 7, 23)) == [BEN]  # Saturday night: the base layer


# --- overrides ------------------------------------------------------------------------------


def test_replace_override_swaps_one_person_for_a_period() -> None:
    cover = Override(
        OverrideKind.REPLACE, CAT, utc(2026, 2, 2, 15), utc(2026, 2, 2, 23), replaces=ANN
    )
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)), overrides=(cover,))
    spans = spans_between(s, utc(2026, 2, 2, 7), utc(2026, 2, 3, 7))
    # Cat replaces Ann only: Ben's night from 19:00 is untouched.
    assert rows(spans) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 2, 15)),
        ("Cat", utc(2026, 2, 2, 15), utc(2026, 2, 2, 19)),
        ("Ben", utc(2026, 2, 2, 19), utc(2026, 2, 3, 7)),
    ]


def test_replace_override_without_replaces_takes_over_from_everybody() -> None:
    night_cover = Layer(
        "second nurse at night",
        Rotation((DAN,), datetime(2026, 2, 1, 19, 0), Handoff.DAILY),
        windows=(TimeWindow(time(19), time(7)),),
        mode=LayerMode.ADD,
    )
    takeover = Override(OverrideKind.REPLACE, CAT, utc(2026, 2, 2, 21), utc(2026, 2, 2, 23))
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)), night_cover, overrides=(takeover,))
    assert who_is_on_call(s, utc(2026, 2, 2, 20)) == [BEN, DAN]
    assert who_is_on_call(s, utc(2026, 2, 2, 22)) == [CAT]


def test_replace_override_fills_a_hole_and_does_nothing_where_the_person_is_off() -> None:
    hole = Override(OverrideKind.REPLACE, CAT, utc(2026, 2, 2, 3), utc(2026, 2, 2, 9))
    not_on = Override(
        OverrideKind.REPLACE, DAN, utc(2026, 2, 2, 9), utc(2026, 2, 2, 12), replaces=BEN
    )
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)), overrides=(hole, not_on))
    assert rows(spans_between(s, utc(2026, 2, 2, 3), utc(2026, 2, 2, 12))) == [
        ("Cat", utc(2026, 2, 2, 3), utc(2026, 2, 2, 9)),  # before the anchor and over Ann
        ("Ann", utc(2026, 2, 2, 9), utc(2026, 2, 2, 12)),  # Ben is not on: Dan does not come
    ]


def test_add_override_puts_someone_on_call_too() -> None:
    extra = Override(OverrideKind.ADD, CAT, utc(2026, 2, 2, 10), utc(2026, 2, 2, 14))
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)), overrides=(extra,))
    assert who_is_on_call(s, utc(2026, 2, 2, 11)) == [ANN, CAT]
    assert rows(spans_between(s, utc(2026, 2, 2, 7), utc(2026, 2, 2, 19))) == [
        ("Ann", utc(2026, 2, 2, 7), utc(2026, 2, 2, 19)),
        ("Cat", utc(2026, 2, 2, 10), utc(2026, 2, 2, 14)),
    ]


def test_remove_override_takes_someone_off_and_leaves_nobody() -> None:
    sick = Override(OverrideKind.REMOVE, ANN, utc(2026, 2, 2, 7), utc(2026, 2, 2, 12))
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)), overrides=(sick,))
    assert who_is_on_call(s, utc(2026, 2, 2, 8)) == []
    assert rows(spans_between(s, utc(2026, 2, 2, 7), utc(2026, 2, 2, 19))) == [
        ("Ann", utc(2026, 2, 2, 12), utc(2026, 2, 2, 19))
    ]


def test_overrides_apply_in_order_the_last_has_the_last_word() -> None:
    cover = Override(
        OverrideKind.REPLACE, CAT, utc(2026, 2, 2, 7), utc(2026, 2, 2, 19), replaces=ANN
    )
    cat_sick = Override(OverrideKind.REMOVE, CAT, utc(2026, 2, 2, 12), utc(2026, 2, 2, 19))
    base = two_by_twelve(datetime(2026, 2, 2, 7, 0))
    assert who_is_on_call(schedule(base, overrides=(cover, cat_sick)), utc(2026, 2, 2, 13)) == []
    assert who_is_on_call(schedule(base, overrides=(cat_sick, cover)), utc(2026, 2, 2, 13)) == [CAT]


def test_replacing_with_someone_already_on_call_does_not_list_them_twice() -> None:
    extra = Override(OverrideKind.ADD, CAT, utc(2026, 2, 2, 7), utc(2026, 2, 2, 19))
    cover = Override(
        OverrideKind.REPLACE, CAT, utc(2026, 2, 2, 7), utc(2026, 2, 2, 19), replaces=ANN
    )
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)), overrides=(extra, cover))
    assert who_is_on_call(s, utc(2026, 2, 2, 9)) == [CAT]


def test_on_call_at_gives_the_real_handoff_times() -> None:
    s = schedule(two_by_twelve(datetime(2026, 3, 28, 7, 0)))
    (span,) = on_call_at(s, utc(2026, 3, 29, 3))
    assert (span.staff_id, span.start, span.end) == (BEN, utc(2026, 3, 28, 19), utc(2026, 3, 29, 6))
    assert (span.schedule_id, span.ward_id, span.role) == (SCHEDULE_ID, ICU, "nurse")


# --- validation and wording -----------------------------------------------------------------


def test_naive_datetimes_are_refused_with_a_clear_error() -> None:
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)))
    with pytest.raises(ValueError, match="start: must be a timezone-aware datetime"):
        spans_between(s, datetime(2026, 2, 2), utc(2026, 2, 3))
    with pytest.raises(ValueError, match="end: must be a timezone-aware datetime"):
        spans_between(s, utc(2026, 2, 2), datetime(2026, 2, 3))
    with pytest.raises(ValueError, match="at: must be a timezone-aware"):
        on_call_at(s, datetime(2026, 2, 2, 12))
    with pytest.raises(ValueError, match="override start: must be a timezone-aware"):
        Override(OverrideKind.ADD, ANN, datetime(2026, 2, 2), utc(2026, 2, 3))


def test_windows_are_bounded() -> None:
    s = schedule(two_by_twelve(datetime(2026, 2, 2, 7, 0)))
    start = utc(2026, 1, 1)
    assert spans_between(s, start, start + MAX_WINDOW)  # 400 days is fine
    with pytest.raises(ValueError, match="at most 400 days"):
        spans_between(s, start, start + MAX_WINDOW + timedelta(seconds=1))
    with pytest.raises(ValueError, match="end: must be after start"):
        spans_between(s, start, start)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Rotation((), datetime(2026, 1, 1), shift_hours=12), "at least one person"),
        (
            lambda: Rotation((ANN,), datetime(2026, 1, 1, tzinfo=UTC), shift_hours=12),
            "anchor: a wall-clock start",
        ),
        (lambda: Rotation((ANN,), datetime(2026, 1, 1)), "needs the shift length"),
        (lambda: Rotation((ANN,), datetime(2026, 1, 1), shift_hours=0.5), "must be between"),
        (lambda: Rotation((ANN,), datetime(2026, 1, 1), shift_hours=8.001), "whole number"),
        (
            lambda: Rotation((ANN,), datetime(2026, 1, 1), Handoff.DAILY, shift_hours=8),
            "not for a daily rotation",
        ),
        (lambda: Rotation((ANN,), datetime(2026, 1, 1), Handoff.CUSTOM), "turn lengths"),
        (lambda: TimeWindow(time(7), time(19), frozenset({7})), "weekdays"),
        (
            lambda: Override(OverrideKind.ADD, ANN, utc(2026, 1, 2), utc(2026, 1, 1)),
            "after its start",
        ),
        (
            lambda: Override(OverrideKind.ADD, ANN, utc(2026, 1, 1), utc(2026, 1, 2), replaces=BEN),
            "only for a replace",
        ),
        (
            lambda: schedule(two_by_twelve(datetime(2026, 1, 1)), zone="Mars/Olympus"),
            "unknown IANA time zone 'Mars/Olympus'",
        ),
    ],
)
def test_invalid_schedules_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_labels_and_periods_read_like_a_ward_rota() -> None:
    assert schedule(two_by_twelve(datetime(2026, 1, 1))).label == "ICU nurse"
    hospital = Schedule(SCHEDULE_ID, "rapid_response", None, "Europe/London", ())
    assert hospital.label == "Hospital-wide rapid response team member"
    assert role_words("charge_nurse", 2) == "charge nurses"
    assert role_words("theatre_porter") == "theatre porter"
    assert describe_period(utc(2026, 12, 3, 2), utc(2026, 12, 3, 7), LONDON) == (
        "on 3 Dec 02:00-07:00"
    )
    assert describe_period(utc(2026, 7, 3, 1), utc(2026, 7, 3, 6), LONDON) == (
        "on 3 Jul 02:00-07:00"  # BST
    )
    assert describe_period(utc(2026, 12, 2, 23), utc(2026, 12, 3, 7), LONDON) == (
        "from 2 Dec 23:00 to 3 Dec 07:00"
    )
    assert describe_period(utc(2026, 12, 3, 20), utc(2026, 12, 4), LONDON) == (
        "on 3 Dec 20:00-24:00"
    )
    assert describe_period(utc(2026, 12, 3), utc(2026, 12, 4), LONDON) == "all day on 3 Dec"
    assert describe_period(utc(2026, 12, 3), utc(2026, 12, 6), LONDON) == (
        "all day from 3 Dec to 5 Dec"
    )
    assert describe_period(utc(2026, 12, 31, 23), utc(2027, 1, 1, 7), LONDON) == (
        "from 31 Dec 2026 23:00 to 1 Jan 2027 07:00"
    )
    assert describe_period(utc(2026, 12, 30), utc(2027, 1, 2), LONDON) == (
        "all day from 30 Dec 2026 to 1 Jan 2027"
    )
    # When the clocks change within the period, the zone says which 01:30 is meant.
    assert describe_period(utc(2026, 10, 24, 18), utc(2026, 10, 25, 7), LONDON) == (
        "from 24 Oct 19:00 BST to 25 Oct 07:00 GMT"
    )
    assert describe_period(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), LONDON) == (
        "on 25 Oct 01:30 BST-01:30 GMT"
    )


# --- properties -----------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
PATTERNS = st.one_of(
    st.sampled_from([1, 4, 7.5, 8, 12, 24, 36]).map(lambda h: (Handoff.SHIFT, h, ())),
    st.just((Handoff.DAILY, None, ())),
    st.just((Handoff.WEEKLY, None, ())),
    st.lists(st.sampled_from([3, 7, 10, 14, 17]), min_size=1, max_size=4).map(
        lambda hs: (Handoff.CUSTOM, None, tuple(hs))
    ),
)


@st.composite
def single_rotations(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    handoff, shift_hours, custom = draw(PATTERNS)
    people = draw(st.lists(st.sampled_from([ANN, BEN, CAT, DAN]), min_size=1, max_size=5))
    anchor = draw(st.datetimes(datetime(2025, 1, 1), datetime(2026, 12, 31))).replace(
        second=0, microsecond=0
    )
    rotation = Rotation(tuple(people), anchor, handoff, shift_hours, custom)
    s = schedule(Layer("only", rotation), zone=draw(st.sampled_from(ZONES)))
    start = draw(st.datetimes(datetime(2025, 1, 1), datetime(2027, 6, 1), timezones=st.just(UTC)))
    length = draw(st.timedeltas(timedelta(minutes=1), timedelta(days=20)))
    return s, start, start + length


@settings(max_examples=150, deadline=None)
@given(single_rotations())
def test_one_rotation_spans_never_overlap_and_tile_the_window(
    case: tuple[Schedule, datetime, datetime],
) -> None:
    s, start, end = case
    anchor_utc = local_to_utc(s.layers[0].rotation.anchor, s.zone)
    spans = spans_between(s, start, end)
    covered_from = max(start, anchor_utc)
    if covered_from >= end:
        assert spans == []
        return
    assert spans[0].start == covered_from
    assert spans[-1].end == end
    for before, after in pairwise(spans):
        assert before.end == after.start  # no overlap, no hole
        assert before.staff_id != after.staff_id  # back-to-back turns of one person merged
    assert all(span.start < span.end for span in spans)
    assert all(span.start.tzinfo is UTC and span.end.tzinfo is UTC for span in spans)


@settings(max_examples=100, deadline=None)
@given(single_rotations(), st.floats(0, 1))
def test_on_call_at_agrees_with_spans_between(
    case: tuple[Schedule, datetime, datetime], where: float
) -> None:
    s, start, end = case
    at = start + (end - start) * where
    if at >= end:
        return
    expected = [
        span.staff_id for span in spans_between(s, start, end) if span.start <= at < span.end
    ]
    assert who_is_on_call(s, at) == expected


@settings(max_examples=100, deadline=None)
@given(single_rotations())
def test_full_turns_last_their_wall_clock_length_give_or_take_the_clock_change(
    case: tuple[Schedule, datetime, datetime],
) -> None:
    s, start, end = case
    rotation = s.layers[0].rotation
    lengths = rotation.turn_lengths
    for turn in turns_between(rotation, s.zone, start, end):
        nominal = lengths[turn.index % len(lengths)]
        assert abs((turn.end - turn.start) - nominal) <= timedelta(hours=1)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31)),
    st.timedeltas(timedelta(0), timedelta(hours=6)),
    st.sampled_from(ZONES),
)
def test_local_to_utc_never_goes_back_in_time_and_keeps_real_times(
    wall: datetime, later: timedelta, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    first, second = local_to_utc(wall, zone), local_to_utc(wall + later, zone)
    assert first <= second
    shown = first.astimezone(zone).replace(tzinfo=None)
    assert shown >= wall  # the same time, or (skipped) the first one after the jump
    if wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        assert shown == wall
