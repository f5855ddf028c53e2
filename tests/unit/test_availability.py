"""Availability rules (healthguard.oncall.availability, the pure part): what is stored for
each status, the bounds on ``until``, the defaults (end of shift, next shift), and that a
passed ``until`` counts as available at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from healthguard.models import Availability
from healthguard.oncall.availability import (
    MAX_UNTIL,
    AvailabilityError,
    AvailabilityState,
    effective_status,
    plan_availability,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SHIFT_END = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
NEXT_SHIFT = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def test_available_has_no_end() -> None:
    assert plan_availability("available", None, now=NOW) == (Availability.AVAILABLE, None)
    with pytest.raises(AvailabilityError) as refused:
        plan_availability("available", NOW + timedelta(hours=1), now=NOW)
    assert refused.value.field == "until"


def test_unknown_status_names_the_field_and_the_choices() -> None:
    with pytest.raises(AvailabilityError) as refused:
        plan_availability("asleep", None, now=NOW)
    assert refused.value.field == "status"
    assert "available, busy, on_break, off" in refused.value.message


@pytest.mark.parametrize(
    ("status", "longest"),
    [("busy", timedelta(hours=12)), ("on_break", timedelta(hours=2)), ("off", timedelta(days=14))],
)
def test_until_is_bounded_per_status(status: str, longest: timedelta) -> None:
    assert MAX_UNTIL[Availability(status)] == longest
    stored = plan_availability(status, NOW + longest, now=NOW)
    assert stored == (Availability(status), NOW + longest)
    with pytest.raises(AvailabilityError) as refused:
        plan_availability(status, NOW + longest + timedelta(minutes=1), now=NOW)
    assert refused.value.field == "until"
    assert "at most" in refused.value.message


def test_until_must_be_ahead_and_aware() -> None:
    with pytest.raises(AvailabilityError, match="future"):
        plan_availability("busy", NOW, now=NOW)
    with pytest.raises(AvailabilityError, match="offset"):
        plan_availability("busy", datetime(2026, 11, 26, 11, 0), now=NOW)


def test_until_is_stored_in_utc() -> None:
    local = datetime(2026, 11, 26, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    _, until = plan_availability("busy", local, now=NOW)
    assert until == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    assert until is not None and until.utcoffset() == timedelta(0)


def test_busy_without_until_lasts_to_the_end_of_the_shift_at_most_12_hours() -> None:
    assert plan_availability("busy", None, now=NOW, shift_end=SHIFT_END) == (
        Availability.BUSY,
        SHIFT_END,
    )
    long_shift_end = NOW + timedelta(hours=20)
    assert plan_availability("busy", None, now=NOW, shift_end=long_shift_end)[1] == NOW + (
        timedelta(hours=12)
    )
    # Not on shift: the longest allowed.
    assert plan_availability("on_break", None, now=NOW)[1] == NOW + timedelta(hours=2)


def test_off_without_until_lasts_to_the_next_shift_or_open_ended() -> None:
    assert plan_availability("off", None, now=NOW, next_shift_start=NEXT_SHIFT) == (
        Availability.OFF,
        NEXT_SHIFT,
    )
    assert plan_availability("off", None, now=NOW) == (Availability.OFF, None)


def test_a_passed_until_counts_as_available_at_once() -> None:
    assert effective_status("busy", NOW - timedelta(seconds=1), NOW) == "available"
    assert effective_status("busy", NOW, NOW) == "available"
    assert effective_status("busy", NOW + timedelta(seconds=1), NOW) == "busy"
    assert effective_status("off", None, NOW) == "off"
    assert effective_status("available", None, NOW) == "available"


def test_cache_entry_round_trips() -> None:
    state = AvailabilityState(uuid.uuid4(), "busy", NOW + timedelta(hours=1))
    assert AvailabilityState.from_json(state.staff_id, state.to_json()) == state
    open_ended = AvailabilityState(uuid.uuid4(), "off", None)
    assert AvailabilityState.from_json(open_ended.staff_id, open_ended.to_json()) == open_ended


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="now"):
        plan_availability("busy", None, now=datetime(2026, 11, 26, 10, 0))
