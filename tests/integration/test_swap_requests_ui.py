"""The swap panel of the /staff page on real Postgres (healthguard.ui.states.swaps): the shifts
a nurse may give away (their rota shifts ahead, never one entered by hand), the colleagues who
could take one (the rota's ward and role, not themselves), asking through the swap service
with its refusals and rest warnings in words, the lists from both sides (I asked / I am
asked) and the charge nurse's, approval (the roster follows) and its refusal for too little
rest, declining and withdrawing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from authsupport import principal
from sqlmodel import col, select
from testsupport import env_override

from healthguard.db import session_scope
from healthguard.models import Staff, SwapRequest, User, Ward
from healthguard.oncall import roster
from healthguard.security.accounts import Origin
from healthguard.settings import get_settings
from healthguard.ui.states.staff import staff_page
from healthguard.ui.states.swaps import (
    SwapsState,
    ask_for_swap,
    colleague_options,
    decide_swap,
    parse_shift_key,
    return_options,
    shift_key,
    status_words,
    swap_panel,
    withdraw_swap,
)

pytestmark = pytest.mark.integration

ORIGIN = Origin("127.0.0.1")


def staff_id(name: str) -> uuid.UUID:
    with session_scope() as session:
        return session.exec(select(Staff).where(Staff.display_name == name)).one().id


def zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def today() -> date:
    return datetime.now(UTC).astimezone(zone()).date()


@pytest.fixture(scope="module")
def rota(seeded: dict[str, int]) -> Iterator[dict[str, Any]]:
    """An ICU nurse rota of 12 h shifts in turn from the day after tomorrow, 07:00: Marco
    Rossi (nurse.icu) days 2, 4, 6, ...; Zoe Taylor nights 2, 4, ...; Nadia Petrova days 3,
    5, ...; Ivy Reed nights 3, 5, .... Nadia gets a sign-in (nadia.swaps)."""
    now = datetime.now(UTC)
    marco, zoe, nadia = (staff_id(n) for n in ("Marco Rossi", "Zoe Taylor", "Nadia Petrova"))
    with session_scope() as session:
        icu = session.exec(select(Ward).where(Ward.code == "ICU")).one()
        ivy = Staff(display_name="Ivy Reed", role="nurse", home_ward_id=icu.id)
        session.add(ivy)
        session.add(User(username="nadia.swaps", role="nurse", staff_id=nadia))
        session.flush()
        anchor = today() + timedelta(days=2)
        layer = {
            "name": "ICU nurses",
            "mode": "replace",
            "rotation": {
                "participants": [str(p) for p in (marco, zoe, nadia, ivy.id)],
                "anchor": f"{anchor.isoformat()}T07:00",
                "handoff": "shift",
                "shift_hours": 12,
                "custom_hours": [],
            },
            "windows": [],
        }
        schedule = roster.create_schedule(
            session,
            principal("admin"),
            roster.ScheduleInput(
                "ICU nurses (swaps)", "ICU", "nurse", get_settings().timezone, [layer]
            ),
            now=now,
        )
        schedule_id = schedule.id
    yield {"schedule_id": schedule_id}


def day_shift(rota: dict[str, Any], days_ahead: int) -> str:
    """The form's key of the 07:00-19:00 shift ``days_ahead`` local days from today."""
    start = datetime.combine(today() + timedelta(days=days_ahead), time(7), tzinfo=zone())
    return shift_key(rota["schedule_id"], start)


def swap_row(swap_id: str) -> SwapRequest:
    with session_scope() as session:
        row = session.get(SwapRequest, uuid.UUID(swap_id))
        assert row is not None
        session.expunge(row)
        return row


def newest_swap_to(colleague: str) -> str:
    with session_scope() as session:
        row = session.exec(
            select(SwapRequest)
            .where(SwapRequest.colleague_staff_id == staff_id(colleague))
            .order_by(col(SwapRequest.created_at).desc())
        ).first()
        assert row is not None
        return str(row.id)


def test_the_shifts_to_give_are_my_rota_shifts_ahead(rota: dict[str, Any]) -> None:
    panel = swap_panel(principal("nurse.icu"), datetime.now(UTC))
    assert panel.can_request
    keys = [s.id for s in panel.shifts]
    # Marco's rota days; his shifts entered by hand (the seed's, yesterday to tomorrow) are not
    # on a rota, so a swap could not change them.
    assert keys[:3] == [day_shift(rota, 2), day_shift(rota, 4), day_shift(rota, 6)]
    assert all(parse_shift_key(k) is not None for k in keys)
    assert {parse_shift_key(k)[0] for k in keys} == {rota["schedule_id"]}  # type: ignore[index]
    assert panel.shifts[0].label.endswith("07:00-19:00 · ICU")
    # An admin is no staff member: nothing to give away.
    assert swap_panel(principal("admin"), datetime.now(UTC)).can_request is False


def test_the_colleagues_are_the_rotas_ward_and_role_but_not_me(rota: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    names = [c.name for c in colleague_options(principal("nurse.icu"), day_shift(rota, 2), now)]
    assert sorted(names) == ["Ivy Reed", "Nadia Petrova", "Zoe Taylor"]
    # Not her shift, not a key at all, a shift started: refused, whatever the browser sends.
    for key in (day_shift(rota, 2), "not-a-key", shift_key(rota["schedule_id"], now)):
        with pytest.raises(LookupError, match="your own shifts"):
            colleague_options(principal("nadia.swaps"), key, now)


def test_asking_is_checked_and_answered_in_words(rota: dict[str, Any]) -> None:
    now, marco = datetime.now(UTC), principal("nurse.icu")
    refused = ask_for_swap(marco, "", str(staff_id("Ivy Reed")), now, ORIGIN)
    assert not refused.ok and refused.message.startswith("Your shift: choose")
    refused = ask_for_swap(marco, day_shift(rota, 2), "", now, ORIGIN)
    assert not refused.ok and refused.message.startswith("Colleague: choose")
    # A charge nurse does not take a nurse's rota shift; neither does Marco himself.
    for other in ("Rachel Stein", "Marco Rossi"):
        refused = ask_for_swap(marco, day_shift(rota, 2), str(staff_id(other)), now, ORIGIN)
        assert not refused.ok and "same ward and role" in refused.message
    # Nadia's shift is not Marco's to give.
    refused = ask_for_swap(marco, day_shift(rota, 3), str(staff_id("Zoe Taylor")), now, ORIGIN)
    assert not refused.ok and "not one of your shifts" in refused.message

    asked = ask_for_swap(marco, day_shift(rota, 2), str(staff_id("Ivy Reed")), now, ORIGIN)
    assert asked.ok, asked.message
    assert asked.message.startswith("Asked Ivy Reed to take your shift ")
    assert asked.warnings == ()  # Ivy's next shift is a day and a half later
    swap = swap_row(newest_swap_to("Ivy Reed"))
    assert swap.status == "requested" and swap.requester_staff_id == staff_id("Marco Rossi")
    assert swap.take_starts_at is None  # a give-away

    mine = swap_panel(marco, now).mine
    item = next(i for i in mine if i.id == str(swap.id))
    assert item.direction == "You asked" and item.ward == "ICU"
    assert item.text.startswith("Ivy Reed to take your ")
    assert item.status_text == "Waiting for a charge nurse" and item.can_withdraw
    charge = swap_panel(principal("charge.icu"), now)
    decided = next(i for i in charge.ward_swaps if i.id == str(swap.id))
    assert decided.can_decide and decided.text.startswith("Marco Rossi gives ")
    assert decided.text.endswith(" to Ivy Reed")
    assert str(swap.id) not in {i.id for i in charge.mine}
    # A nurse of another ward sees neither list's entry.
    card = swap_panel(principal("nurse.card"), now)
    assert str(swap.id) not in {i.id for i in card.mine + card.ward_swaps}


def test_approval_changes_the_roster_and_both_sides_see_it(rota: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    asked = ask_for_swap(
        principal("nurse.icu"), day_shift(rota, 4), str(staff_id("Nadia Petrova")), now, ORIGIN
    )
    assert asked.ok and asked.warnings == ()  # 12 h rest either side for Nadia
    swap_id = newest_swap_to("Nadia Petrova")
    nadia_side = next(i for i in swap_panel(principal("nadia.swaps"), now).mine if i.id == swap_id)
    assert nadia_side.direction == "You are asked"
    assert nadia_side.text.startswith("Marco Rossi gives you ")
    assert not nadia_side.can_withdraw  # only the nurse who asked withdraws

    refused = decide_swap(principal("nurse.icu"), swap_id, None, now, ORIGIN)
    assert not refused.ok and refused.message == (
        "Not done: Only a charge nurse of this ward can approve this swap."
    )
    approved = decide_swap(principal("charge.icu"), swap_id, None, datetime.now(UTC), ORIGIN)
    assert approved.ok and approved.message == "Swap approved; the roster now shows it."

    page = staff_page(principal("charge.icu"), "ICU", datetime.now(UTC))
    day = next(d for d in page.days if d.iso_date == (today() + timedelta(days=4)).isoformat())
    who = [c.who for c in day.cells]
    assert "Nadia Petrova" in who and "Marco Rossi" not in who
    assert any(o.text == "Nadia Petrova replaces Marco Rossi" for o in page.overrides)
    marco = swap_panel(principal("nurse.icu"), datetime.now(UTC))
    item = next(i for i in marco.mine if i.id == swap_id)
    assert item.status_text == "Approved by charge.icu" and not item.can_withdraw
    assert day_shift(rota, 4) not in {s.id for s in marco.shifts}  # no longer his to give
    again = decide_swap(principal("charge.icu"), swap_id, None, datetime.now(UTC), ORIGIN)
    assert again.message == "Not done: Cannot approve: the swap is already approved."


def test_too_little_rest_is_warned_then_refused_at_approval(rota: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    # Zoe works the night after Marco's day 6: no rest at all.
    asked = ask_for_swap(
        principal("nurse.icu"), day_shift(rota, 6), str(staff_id("Zoe Taylor")), now, ORIGIN
    )
    assert asked.ok and asked.message.endswith("As the rota stands it cannot be approved:")
    assert len(asked.warnings) == 1
    assert asked.warnings[0].startswith("Zoe Taylor would work 19:00-07:00 on ")
    assert asked.warnings[0].endswith(": 0 h rest, needs 11 h")
    swap_id = newest_swap_to("Zoe Taylor")
    refused = decide_swap(principal("charge.icu"), swap_id, None, datetime.now(UTC), ORIGIN)
    assert not refused.ok
    assert refused.message.startswith("Not done: Cannot approve: Zoe Taylor would work ")
    assert "0 h rest, needs 11 h" in refused.message
    assert swap_row(swap_id).status == "requested"
    charge = swap_panel(principal("charge.icu"), datetime.now(UTC))
    item = next(i for i in charge.ward_swaps if i.id == swap_id)
    assert item.warnings == [asked.warnings[0]]
    # Declined with a reason, which Marco reads.
    declined = decide_swap(principal("charge.icu"), swap_id, "Zoe is on nights", now, ORIGIN)
    assert declined.ok and declined.message == "Swap declined; the nurse sees your reason."
    mine = next(i for i in swap_panel(principal("nurse.icu"), now).mine if i.id == swap_id)
    assert mine.status_text == "Declined by charge.icu: Zoe is on nights"


def test_the_minimum_rest_is_a_setting(rota: dict[str, Any]) -> None:
    with env_override(HEALTHGUARD_SWAP_MIN_REST_HOURS="13"):
        asked = ask_for_swap(
            principal("nurse.icu"),
            day_shift(rota, 8),
            str(staff_id("Nadia Petrova")),
            datetime.now(UTC),
            ORIGIN,
        )
    assert asked.ok
    assert asked.warnings and all(w.endswith("12 h rest, needs 13 h") for w in asked.warnings)


def test_a_swap_can_take_one_of_their_shifts_in_return(rota: dict[str, Any]) -> None:
    now, marco, nadia = datetime.now(UTC), principal("nurse.icu"), str(staff_id("Nadia Petrova"))
    offered = [o.id for o in return_options(marco, day_shift(rota, 12), nadia, now)]
    assert day_shift(rota, 13) in offered and day_shift(rota, 12) not in offered  # hers only
    assert {parse_shift_key(k)[0] for k in offered} == {rota["schedule_id"]}  # type: ignore[index]
    # Whatever the browser sends: the colleague must be one who could take my shift, and the
    # shift must be mine.
    with pytest.raises(LookupError, match="Colleague: "):
        return_options(marco, day_shift(rota, 12), str(staff_id("Rachel Stein")), now)
    with pytest.raises(LookupError, match="your own shifts"):
        return_options(marco, day_shift(rota, 13), nadia, now)
    refused = ask_for_swap(marco, day_shift(rota, 12), nadia, now, ORIGIN, day_shift(rota, 14))
    assert not refused.ok and refused.message.startswith("In return: that is not one of their")

    asked = ask_for_swap(marco, day_shift(rota, 12), nadia, now, ORIGIN, day_shift(rota, 13))
    assert asked.ok, asked.message
    assert " and give you their shift " in asked.message and asked.warnings == ()
    swap = swap_row(newest_swap_to("Nadia Petrova"))
    assert swap.take_starts_at == parse_shift_key(day_shift(rota, 13))[1]  # type: ignore[index]
    mine = next(i for i in swap_panel(marco, now).mine if i.id == str(swap.id))
    assert "; you take their " in mine.text and mine.text.endswith(" in return")

    approved = decide_swap(principal("charge.icu"), str(swap.id), None, datetime.now(UTC), ORIGIN)
    assert approved.ok, approved.message
    # The rota's shifts follow: each now holds the other's (the shifts a nurse may give).
    later = datetime.now(UTC)
    marco_shifts = {o.id for o in swap_panel(marco, later).shifts}
    nadia_shifts = {o.id for o in swap_panel(principal("nadia.swaps"), later).shifts}
    assert day_shift(rota, 13) in marco_shifts and day_shift(rota, 12) not in marco_shifts
    assert day_shift(rota, 12) in nadia_shifts and day_shift(rota, 13) not in nadia_shifts


def test_only_the_nurse_who_asked_withdraws(rota: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    asked = ask_for_swap(
        principal("nurse.icu"), day_shift(rota, 10), str(staff_id("Nadia Petrova")), now, ORIGIN
    )
    assert asked.ok
    swap_id = newest_swap_to("Nadia Petrova")
    refused = withdraw_swap(principal("nadia.swaps"), swap_id, now, ORIGIN)
    assert not refused.ok
    assert refused.message == "Not withdrawn: Only the nurse who asked for the swap can cancel it."
    assert not withdraw_swap(principal("nurse.icu"), "nope", now, ORIGIN).ok
    assert withdraw_swap(principal("nurse.icu"), swap_id, now, ORIGIN).ok
    item = next(i for i in swap_panel(principal("nurse.icu"), now).mine if i.id == swap_id)
    assert item.status_text == "Withdrawn by the nurse who asked" and not item.can_withdraw
    assert status_words("declined", None, "busy") == "Declined by a charge nurse: busy"


def test_the_swap_state_exposes_only_checked_handlers() -> None:
    """Reflex makes every public method an event a browser can send."""
    assert set(SwapsState.event_handlers) <= {
        "load",
        "choose_shift",
        "choose_colleague",
        "request",
        "withdraw",
        "approve",
        "decline",
        "setvar",
    }
