"""Rest between shifts in a swap (healthguard.oncall.swaps.rest_problems): too little rest is a
warning when the swap is asked for and a refusal (409, in words) when a charge nurse approves;
the shift handed on no longer counts; other schedules count; real elapsed time across the
clock changes; the minimum is a parameter (``settings.swap_min_rest_hours``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from healthguard.oncall.rotations import Layer, OnCallSpan, Rotation, Schedule, spans_between
from healthguard.oncall.swaps import (
    DEFAULT_MIN_REST,
    ApprovedSwap,
    ShiftPeriod,
    SwapRefusal,
    SwapRefusalCode,
    SwapRequest,
    approve_swap,
    request_swap,
    rest_problems,
)

pytestmark = pytest.mark.unit

ANN, BEN, CAT = (uuid.UUID(int=n) for n in (1, 2, 3))
CHARGE = uuid.UUID(int=9)  # the ICU charge nurse
ICU, WARD_7 = uuid.UUID(int=100), uuid.UUID(int=107)
WARD_7_NURSES = uuid.UUID(int=207)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMES = {ANN: "Ann", BEN: "Ben", CAT: "Cat"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# As in test_oncall_swaps: Ann, Ben, Cat take turns on 12-hour shifts from 2 Mar 2026 07:00
# (GMT = UTC): Ann 2 Mar day, Ben 2 Mar night, Cat 3 Mar day, Ann 3 Mar night, Ben 4 Mar day,
# Cat 4 Mar night, ...
ICU_NURSES = Schedule(
    id=uuid.UUID(int=200),
    role="nurse",
    ward_id=ICU,
    time_zone="Europe/London",
    layers=(Layer("2x12h", Rotation((ANN, BEN, CAT), datetime(2026, 3, 2, 7, 0), shift_hours=12)),),
    ward_name="ICU",
)
ANN_DAY = ShiftPeriod(utc(2026, 3, 2, 7), utc(2026, 3, 2, 19))
BEN_NIGHT = ShiftPeriod(utc(2026, 3, 2, 19), utc(2026, 3, 3, 7))
CAT_DAY = ShiftPeriod(utc(2026, 3, 3, 7), utc(2026, 3, 3, 19))


def rota(*more: OnCallSpan) -> list[OnCallSpan]:
    return [*spans_between(ICU_NURSES, utc(2026, 3, 1), utc(2026, 3, 9)), *more]


def ask(
    giving: ShiftPeriod,
    taking: ShiftPeriod | None,
    *,
    requester: uuid.UUID,
    colleague: uuid.UUID,
    spans: list[OnCallSpan],
    now: datetime = NOW,
    min_rest: timedelta = DEFAULT_MIN_REST,
) -> SwapRequest:
    swap = request_swap(
        swap_id=uuid.UUID(int=600),
        schedule=ICU_NURSES,
        requester=requester,
        colleague=colleague,
        giving=giving,
        taking=taking,
        spans=spans,
        now=now,
        names=NAMES,
        min_rest=min_rest,
    )
    assert isinstance(swap, SwapRequest), swap
    return swap


def approve(
    swap: SwapRequest,
    spans: list[OnCallSpan],
    *,
    now: datetime = NOW,
    min_rest: timedelta = DEFAULT_MIN_REST,
) -> ApprovedSwap | SwapRefusal:
    return approve_swap(
        swap,
        approver=CHARGE,
        approver_role="charge_nurse",
        approver_wards=(ICU,),
        spans=spans,
        now=now,
        names=NAMES,
        min_rest=min_rest,
    )


def test_a_day_straight_before_her_own_night_is_warned_then_refused_at_approval() -> None:
    # Ann gives her day on 2 Mar to Cat and takes Cat's day on 3 Mar; Ann's own night on
    # 3 Mar starts the moment Cat's day ends.
    expected = (
        "Ann would work 19:00-07:00 on 3 Mar after 07:00-19:00 on 3 Mar: 0 h rest, needs 11 h"
    )
    swap = ask(ANN_DAY, CAT_DAY, requester=ANN, colleague=CAT, spans=rota())
    assert swap.warnings == (expected,)
    refusal = approve(swap, rota())
    assert isinstance(refusal, SwapRefusal)
    assert refusal.code is SwapRefusalCode.TOO_LITTLE_REST
    assert refusal.http_status == 409
    assert refusal.message == f"Cannot approve: {expected}."


def test_the_last_hours_of_a_night_after_a_day_shift_leave_8_hours() -> None:
    last_four_hours = ShiftPeriod(utc(2026, 3, 3, 3), utc(2026, 3, 3, 7))
    swap = ask(last_four_hours, None, requester=BEN, colleague=ANN, spans=rota())
    assert swap.warnings == (
        "Ann would work 03:00-07:00 on 3 Mar after 07:00-19:00 on 2 Mar: 8 h rest, needs 11 h",
    )
    assert isinstance(approve(swap, rota()), SwapRefusal)
    # With a shorter minimum (the setting), the same swap is approved.
    eight = timedelta(hours=8)
    assert isinstance(approve(swap, rota(), min_rest=eight), ApprovedSwap)
    assert rest_problems(swap, rota(), min_rest=timedelta(hours=8, minutes=30), names=NAMES) == [
        "Ann would work 03:00-07:00 on 3 Mar after 07:00-19:00 on 2 Mar: 8 h rest, needs 8 h 30 min"
    ]


def test_enough_rest_is_approved_without_warnings() -> None:
    # Cat takes Ann's day on 2 Mar; her next shift is her night on 4 Mar.
    swap = ask(ANN_DAY, None, requester=ANN, colleague=CAT, spans=rota())
    assert swap.warnings == ()
    assert isinstance(approve(swap, rota()), ApprovedSwap)


def test_the_shift_handed_on_no_longer_counts() -> None:
    # Ben gives his night on 2 Mar to Cat and takes her day on 3 Mar. Cat's day on 3 Mar
    # would follow the night straight away, but it is the shift she hands on to Ben.
    swap = ask(BEN_NIGHT, CAT_DAY, requester=BEN, colleague=CAT, spans=rota())
    assert swap.warnings == ()
    assert isinstance(approve(swap, rota()), ApprovedSwap)


def test_a_shift_in_another_schedule_counts() -> None:
    late_on_ward_7 = OnCallSpan(
        CAT, utc(2026, 3, 1, 17), utc(2026, 3, 2, 1), WARD_7_NURSES, WARD_7, "nurse"
    )
    spans = rota(late_on_ward_7)
    swap = ask(ANN_DAY, None, requester=ANN, colleague=CAT, spans=spans)
    assert swap.warnings == (
        "Cat would work 07:00-19:00 on 2 Mar after 17:00-01:00 on 1 Mar: 6 h rest, needs 11 h",
    )
    refusal = approve(swap, spans)
    assert isinstance(refusal, SwapRefusal)
    assert refusal.code is SwapRefusalCode.TOO_LITTLE_REST


def test_a_later_shift_too_soon_after_the_one_taken_on_is_named_too() -> None:
    early_next_day = OnCallSpan(
        CAT, utc(2026, 3, 3, 1), utc(2026, 3, 3, 6), WARD_7_NURSES, WARD_7, "nurse"
    )
    spans = rota(early_next_day)
    swap = ask(ANN_DAY, None, requester=ANN, colleague=CAT, spans=spans)
    assert swap.warnings == (
        "Cat would work 01:00-06:00 on 3 Mar after 07:00-19:00 on 2 Mar: 6 h rest, needs 11 h",
    )


# --- the clock changes: rest is real elapsed time -------------------------------------------


def _two_people(
    ann_shift: tuple[datetime, datetime], ben_before: tuple[datetime, datetime]
) -> list[OnCallSpan]:
    return [
        OnCallSpan(ANN, *ann_shift, ICU_NURSES.id, ICU, "nurse"),
        OnCallSpan(BEN, *ben_before, WARD_7_NURSES, WARD_7, "nurse"),
    ]


def test_spring_forward_an_11_hour_wall_clock_gap_is_10_hours_of_rest() -> None:
    # London, 29 Mar 2026: 01:00 GMT becomes 02:00 BST. Ben ends at 21:00 GMT on 28 Mar;
    # Ann's shift starts at 08:00 BST on 29 Mar: 11 h on the clock, 10 h of rest.
    ann_shift = (utc(2026, 3, 29, 7), utc(2026, 3, 29, 19))
    spans = _two_people(ann_shift, (utc(2026, 3, 28, 9), utc(2026, 3, 28, 21)))
    swap = ask(ShiftPeriod(*ann_shift), None, requester=ANN, colleague=BEN, spans=spans)
    assert swap.warnings == (
        "Ben would work 08:00-20:00 on 29 Mar after 09:00-21:00 on 28 Mar: 10 h rest, needs 11 h",
    )
    assert isinstance(approve(swap, spans), SwapRefusal)


def test_fall_back_a_10_hour_wall_clock_gap_is_11_hours_of_rest() -> None:
    # London, 25 Oct 2026: 02:00 BST becomes 01:00 GMT. Ben ends at 21:00 BST on 24 Oct;
    # Ann's shift starts at 07:00 GMT on 25 Oct: 10 h on the clock, 11 h of rest.
    now = datetime(2026, 10, 1, tzinfo=UTC)
    ann_shift = (utc(2026, 10, 25, 7), utc(2026, 10, 25, 19))
    spans = _two_people(ann_shift, (utc(2026, 10, 24, 8), utc(2026, 10, 24, 20)))
    swap = ask(ShiftPeriod(*ann_shift), None, requester=ANN, colleague=BEN, spans=spans, now=now)
    assert swap.warnings == ()
    assert isinstance(approve(swap, spans, now=now), ApprovedSwap)


def test_a_night_across_the_clock_change_is_described_with_both_zones() -> None:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    night = (utc(2026, 10, 24, 18), utc(2026, 10, 25, 7))  # 19:00 BST - 07:00 GMT (13 h)
    spans = _two_people(night, (utc(2026, 10, 24, 6), utc(2026, 10, 24, 18)))
    swap = ask(ShiftPeriod(*night), None, requester=ANN, colleague=BEN, spans=spans, now=now)
    assert swap.warnings == (
        "Ben would work 19:00 BST-07:00 GMT on 24 Oct after 07:00-19:00 on 24 Oct: 0 h rest, "
        "needs 11 h",
    )


def test_a_negative_minimum_is_refused_in_words() -> None:
    swap = ask(ANN_DAY, None, requester=ANN, colleague=CAT, spans=rota())
    with pytest.raises(ValueError, match="min_rest"):
        rest_problems(swap, rota(), min_rest=timedelta(hours=-1))
