"""Shift swaps (healthguard.oncall.swaps): the state machine (requested -> approved / declined
/ cancelled), every refusal with its message, re-checking at approval, the overrides an
approval produces (applied to the schedule, they realise the swap), and a property
(hypothesis): a decided swap refuses every further action."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.oncall.rotations import (
    Layer,
    OnCallSpan,
    Override,
    OverrideKind,
    Rotation,
    Schedule,
    spans_between,
    who_is_on_call,
)
from healthguard.oncall.swaps import (
    ApprovedSwap,
    ShiftPeriod,
    SwapRefusal,
    SwapRefusalCode,
    SwapRequest,
    SwapStatus,
    approve_swap,
    cancel_swap,
    check_swap,
    decline_swap,
    request_swap,
)

pytestmark = pytest.mark.unit

ANN, BEN, CAT = (uuid.UUID(int=n) for n in (1, 2, 3))
CHARGE = uuid.UUID(int=9)  # the ICU charge nurse
ICU, WARD_7 = uuid.UUID(int=100), uuid.UUID(int=107)
SWAP_ID = uuid.UUID(int=500)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMES = {ANN: "Ann", BEN: "Ben", CAT: "Cat"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def period(start: datetime, end: datetime) -> ShiftPeriod:
    return ShiftPeriod(start, end)


# Ann, Ben, Cat take turns on 12-hour shifts from Monday 2 Mar 2026 07:00 (GMT = UTC):
#   Ann 2 Mar day, Ben 2 Mar night, Cat 3 Mar day, Ann 3 Mar night, Ben 4 Mar day, ...
ICU_NURSES = Schedule(
    id=uuid.UUID(int=200),
    role="nurse",
    ward_id=ICU,
    time_zone="Europe/London",
    layers=(Layer("2x12h", Rotation((ANN, BEN, CAT), datetime(2026, 3, 2, 7, 0), shift_hours=12)),),
    ward_name="ICU",
)
ANN_DAY = period(utc(2026, 3, 2, 7), utc(2026, 3, 2, 19))
BEN_NIGHT = period(utc(2026, 3, 2, 19), utc(2026, 3, 3, 7))
CAT_DAY = period(utc(2026, 3, 3, 7), utc(2026, 3, 3, 19))
WINDOW = (utc(2026, 3, 2), utc(2026, 3, 9))


def rota(schedule: Schedule = ICU_NURSES, *more: OnCallSpan) -> list[OnCallSpan]:
    return [*spans_between(schedule, *WINDOW), *more]


def ask(
    giving: ShiftPeriod = ANN_DAY,
    taking: ShiftPeriod | None = CAT_DAY,
    *,
    requester: uuid.UUID = ANN,
    colleague: uuid.UUID = CAT,
    spans: list[OnCallSpan] | None = None,
    now: datetime = NOW,
) -> SwapRequest | SwapRefusal:
    return request_swap(
        swap_id=SWAP_ID,
        schedule=ICU_NURSES,
        requester=requester,
        colleague=colleague,
        giving=giving,
        taking=taking,
        spans=rota() if spans is None else spans,
        now=now,
        names=NAMES,
    )


def asked(**changes: object) -> SwapRequest:
    swap = ask(**changes)  # type: ignore[arg-type]
    assert isinstance(swap, SwapRequest), swap
    return swap


# The 2x12h rota above leaves no rest when Ann takes Cat's day before her own night: the
# tests of the state machine and the overrides approve without the rest rule, which is tested
# on its own (tests/unit/test_oncall_swap_rest.py).
NO_REST_RULE = timedelta(0)


def approve(
    swap: SwapRequest,
    *,
    approver: uuid.UUID = CHARGE,
    role: str = "charge_nurse",
    wards: tuple[uuid.UUID | None, ...] = (ICU,),
    spans: list[OnCallSpan] | None = None,
    now: datetime = NOW,
    min_rest: timedelta = NO_REST_RULE,
) -> ApprovedSwap | SwapRefusal:
    return approve_swap(
        swap,
        approver=approver,
        approver_role=role,
        approver_wards=wards,
        spans=rota() if spans is None else spans,
        now=now,
        names=NAMES,
        min_rest=min_rest,
    )


def refused(result: object, code: SwapRefusalCode) -> str:
    assert isinstance(result, SwapRefusal), result
    assert result.code is code, result
    return result.message


# --- the happy paths ------------------------------------------------------------------------


def test_a_swap_is_requested_then_approved_and_its_overrides_realise_it() -> None:
    swap = asked()
    assert (swap.status, swap.requester, swap.colleague, swap.requested_at) == (
        SwapStatus.REQUESTED,
        ANN,
        CAT,
        NOW,
    )
    assert (swap.schedule_id, swap.ward_id, swap.is_give_away) == (ICU_NURSES.id, ICU, False)
    later = NOW + timedelta(hours=2)
    result = approve(swap, now=later)
    assert isinstance(result, ApprovedSwap)
    assert (result.swap.status, result.swap.decided_by, result.swap.decided_at) == (
        SwapStatus.APPROVED,
        CHARGE,
        later,
    )
    cat_takes_the_day, ann_takes_cats_day = result.overrides
    assert cat_takes_the_day == Override(
        OverrideKind.REPLACE,
        CAT,
        ANN_DAY.start,
        ANN_DAY.end,
        replaces=ANN,
        reason=f"shift swap {SWAP_ID} approved by {CHARGE}",
    )
    assert (ann_takes_cats_day.person, ann_takes_cats_day.replaces) == (ANN, CAT)
    assert (ann_takes_cats_day.start, ann_takes_cats_day.end) == (CAT_DAY.start, CAT_DAY.end)
    swapped = replace(ICU_NURSES, overrides=result.overrides)
    assert who_is_on_call(swapped, utc(2026, 3, 2, 12)) == [CAT]
    assert who_is_on_call(swapped, utc(2026, 3, 3, 12)) == [ANN]
    assert who_is_on_call(swapped, utc(2026, 3, 2, 22)) == [BEN]  # untouched
    ann = [(s.start, s.end) for s in spans_between(swapped, *WINDOW) if s.staff_id == ANN]
    assert ann[0] == (utc(2026, 3, 3, 7), utc(2026, 3, 4, 7))  # Cat's day, then her own night


def test_a_give_away_has_one_override() -> None:
    swap = asked(taking=None)
    assert swap.is_give_away
    result = approve(swap)
    assert isinstance(result, ApprovedSwap)
    (override,) = result.overrides
    assert (override.person, override.replaces, override.start, override.end) == (
        CAT,
        ANN,
        ANN_DAY.start,
        ANN_DAY.end,
    )


def test_part_of_a_shift_can_be_given_away() -> None:
    last_four_hours = period(utc(2026, 3, 3, 3), utc(2026, 3, 3, 7))
    swap = asked(giving=last_four_hours, taking=None, requester=BEN, colleague=ANN)
    result = approve(swap)
    assert isinstance(result, ApprovedSwap)
    swapped = replace(ICU_NURSES, overrides=result.overrides)
    assert who_is_on_call(swapped, utc(2026, 3, 3, 2)) == [BEN]
    assert who_is_on_call(swapped, utc(2026, 3, 3, 4)) == [ANN]


def test_declined_with_a_reason_the_nurse_reads() -> None:
    declined = decline_swap(
        asked(),
        approver=CHARGE,
        approver_role="charge_nurse",
        approver_wards=[ICU],
        reason="  Cat is on annual leave review that day  ",
        now=NOW,
    )
    assert isinstance(declined, SwapRequest)
    assert (declined.status, declined.decided_by, declined.reason) == (
        SwapStatus.DECLINED,
        CHARGE,
        "Cat is on annual leave review that day",
    )


def test_cancelled_by_the_requester() -> None:
    cancelled = cancel_swap(asked(), by=ANN, now=NOW)
    assert isinstance(cancelled, SwapRequest)
    assert (cancelled.status, cancelled.decided_by) == (SwapStatus.CANCELLED, ANN)


# --- refusals when asking -------------------------------------------------------------------


def test_refused_when_the_requester_does_not_hold_the_shift_given() -> None:
    message = refused(ask(giving=BEN_NIGHT), SwapRefusalCode.NOT_ON_CALL)
    assert message == (
        "Ann is not on call for the whole of the shift given (from 2 Mar 19:00 to 3 Mar 07:00)."
    )
    too_long = period(ANN_DAY.start, ANN_DAY.end + timedelta(hours=1))
    refused(ask(giving=too_long, taking=None), SwapRefusalCode.NOT_ON_CALL)


def test_refused_when_the_colleague_does_not_hold_the_shift_taken() -> None:
    message = refused(ask(taking=BEN_NIGHT), SwapRefusalCode.NOT_ON_CALL)
    assert message == (
        "Cat is not on call for the whole of the shift taken (from 2 Mar 19:00 to 3 Mar 07:00)."
    )


def test_refused_when_the_colleague_would_be_on_two_shifts_at_once() -> None:
    ward_7 = OnCallSpan(
        CAT, utc(2026, 3, 2, 12), utc(2026, 3, 2, 20), uuid.UUID(int=207), WARD_7, "nurse"
    )
    message = refused(ask(spans=rota(ICU_NURSES, ward_7)), SwapRefusalCode.OVERLAP)
    assert message == (
        "Cat would be on two shifts at once: already on call on 2 Mar 12:00-20:00, during the "
        "shift given (on 2 Mar 07:00-19:00)."
    )


def test_refused_when_the_requester_would_be_on_two_shifts_at_once() -> None:
    ward_7 = OnCallSpan(
        ANN, utc(2026, 3, 3, 10), utc(2026, 3, 3, 12), uuid.UUID(int=207), WARD_7, "nurse"
    )
    message = refused(ask(spans=rota(ICU_NURSES, ward_7)), SwapRefusalCode.OVERLAP)
    assert message.startswith("Ann would be on two shifts at once: already on call on 3 Mar")


def test_shifts_that_touch_do_not_clash_but_overlapping_ones_do() -> None:
    # Ann's day ends at 19:00 when Ben's night starts, and her next night starts at 19:00 the
    # day after: she can take Ben's night.
    swap = ask(giving=BEN_NIGHT, taking=None, requester=BEN, colleague=ANN)
    assert isinstance(swap, SwapRequest), swap
    extra = Override(OverrideKind.ADD, CAT, utc(2026, 3, 2, 23), utc(2026, 3, 3, 2))
    spans = rota(replace(ICU_NURSES, overrides=(extra,)))
    swap = ask(giving=BEN_NIGHT, taking=None, requester=BEN, colleague=CAT, spans=spans)
    assert refused(swap, SwapRefusalCode.OVERLAP) == (
        "Cat would be on two shifts at once: already on call from 2 Mar 23:00 to 3 Mar 02:00, "
        "during the shift given (from 2 Mar 19:00 to 3 Mar 07:00)."
    )


def test_refused_with_yourself_when_started_overlapping_or_backwards() -> None:
    assert refused(ask(colleague=ANN), SwapRefusalCode.INVALID) == (
        "A nurse cannot swap a shift with themselves."
    )
    assert refused(ask(now=utc(2026, 3, 2, 8)), SwapRefusalCode.STARTED) == (
        "The shift given (on 2 Mar 07:00-19:00) has already started; ask the charge nurse for an "
        "override instead."
    )
    assert refused(ask(now=ANN_DAY.start), SwapRefusalCode.STARTED)
    overlapping = period(utc(2026, 3, 2, 18), utc(2026, 3, 3, 7))
    assert refused(ask(taking=overlapping), SwapRefusalCode.INVALID).startswith(
        "The two shifts overlap"
    )
    backwards = period(ANN_DAY.end, ANN_DAY.start)
    assert refused(ask(giving=backwards), SwapRefusalCode.INVALID) == (
        "The shift given must end after it starts."
    )


def test_messages_name_nobody_when_no_names_are_given() -> None:
    swap = asked()
    refusal = check_swap(replace(swap, giving=BEN_NIGHT), rota(), now=NOW)
    assert refusal is not None
    assert refusal.message.startswith("The nurse asking is not on call")


# --- refusals when deciding -----------------------------------------------------------------


def test_only_a_charge_nurse_of_the_ward_may_approve_or_decline() -> None:
    swap = asked()
    assert refused(approve(swap, role="nurse"), SwapRefusalCode.FORBIDDEN) == (
        "Only a charge nurse of this ward can approve this swap."
    )
    refused(approve(swap, wards=(WARD_7,)), SwapRefusalCode.FORBIDDEN)
    refused(approve(swap, wards=(None,)), SwapRefusalCode.FORBIDDEN)
    assert refused(approve(swap, approver=ANN), SwapRefusalCode.FORBIDDEN) == (
        "You cannot approve a swap you are part of; ask another charge nurse."
    )
    declined = decline_swap(
        swap, approver=CHARGE, approver_role="nurse", approver_wards=[ICU], reason="no", now=NOW
    )
    assert refused(declined, SwapRefusalCode.FORBIDDEN) == (
        "Only a charge nurse of this ward can decline this swap."
    )


def test_a_hospital_wide_swap_needs_hospital_wide_authority() -> None:
    swap = replace(asked(), ward_id=None)
    refused(approve(swap, wards=(ICU,)), SwapRefusalCode.FORBIDDEN)
    assert isinstance(approve(swap, wards=(ICU, None)), ApprovedSwap)


def test_approval_checks_the_rota_again() -> None:
    swap = asked()
    ann_off = Override(OverrideKind.REMOVE, ANN, utc(2026, 3, 2, 15), utc(2026, 3, 2, 19))
    changed = rota(replace(ICU_NURSES, overrides=(ann_off,)))
    refused(approve(swap, spans=changed), SwapRefusalCode.NOT_ON_CALL)
    refused(approve(swap, now=utc(2026, 3, 2, 7)), SwapRefusalCode.STARTED)


def test_a_decided_swap_cannot_be_decided_again() -> None:
    result = approve(asked())
    assert isinstance(result, ApprovedSwap)
    assert refused(approve(result.swap), SwapRefusalCode.NOT_PENDING) == (
        "Cannot approve: the swap is already approved."
    )
    cancelled = cancel_swap(asked(), by=ANN, now=NOW)
    assert isinstance(cancelled, SwapRequest)
    assert refused(
        decline_swap(
            cancelled,
            approver=CHARGE,
            approver_role="charge_nurse",
            approver_wards=[ICU],
            reason="late",
            now=NOW,
        ),
        SwapRefusalCode.NOT_PENDING,
    ) == ("Cannot decline: the swap is already cancelled.")


def test_decline_needs_a_reason_and_cancel_needs_the_requester() -> None:
    for reason in (None, "", "   "):
        message = refused(
            decline_swap(
                asked(),
                approver=CHARGE,
                approver_role="charge_nurse",
                approver_wards=[ICU],
                reason=reason,
                now=NOW,
            ),
            SwapRefusalCode.INVALID,
        )
        assert message.startswith("reason: say why")
    assert refused(cancel_swap(asked(), by=CAT, now=NOW), SwapRefusalCode.FORBIDDEN) == (
        "Only the nurse who asked for the swap can cancel it."
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (SwapRefusalCode.FORBIDDEN, 403),
        (SwapRefusalCode.INVALID, 422),
        (SwapRefusalCode.NOT_PENDING, 409),
        (SwapRefusalCode.NOT_ON_CALL, 409),
        (SwapRefusalCode.OVERLAP, 409),
        (SwapRefusalCode.STARTED, 409),
    ],
)
def test_refusals_carry_an_http_status(code: SwapRefusalCode, status: int) -> None:
    assert SwapRefusal(code, "x").http_status == status


def test_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now: must be a timezone-aware"):
        ask(now=datetime(2026, 3, 1, 12))
    with pytest.raises(ValueError, match="shift start: must be a timezone-aware"):
        ShiftPeriod(datetime(2026, 3, 2, 7), utc(2026, 3, 2, 19))


# --- property -------------------------------------------------------------------------------

ACTIONS = st.sampled_from(["approve", "decline", "cancel", "cancel_by_other", "approve_by_nurse"])


def act(swap: SwapRequest, action: str) -> ApprovedSwap | SwapRequest | SwapRefusal:
    if action == "approve":
        return approve(swap)
    if action == "approve_by_nurse":
        return approve(swap, role="nurse")
    if action == "decline":
        return decline_swap(
            swap,
            approver=CHARGE,
            approver_role="charge_nurse",
            approver_wards=[ICU],
            reason="short-staffed",
            now=NOW,
        )
    return cancel_swap(swap, by=ANN if action == "cancel" else CAT, now=NOW)


@settings(max_examples=60, deadline=None)
@given(st.lists(ACTIONS, min_size=1, max_size=6))
def test_once_decided_a_swap_stays_decided(actions: list[str]) -> None:
    swap = asked()
    for action in actions:
        result = act(swap, action)
        if swap.status is not SwapStatus.REQUESTED:
            assert isinstance(result, SwapRefusal)
            assert result.code is SwapRefusalCode.NOT_PENDING
            continue
        if isinstance(result, ApprovedSwap):
            swap = result.swap
        elif isinstance(result, SwapRequest):
            swap = result
        else:
            assert action in ("cancel_by_other", "approve_by_nurse")
            assert result.code is SwapRefusalCode.FORBIDDEN
    assert swap.status is SwapStatus.REQUESTED or swap.decided_at == NOW
