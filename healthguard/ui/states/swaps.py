"""Shift swaps on the /staff page: ask a colleague to take one of my shifts (a give-away, or for
one of theirs on the same rota in return), my swap requests
(I asked / I am asked) and withdrawing mine, and, for a charge nurse, the swaps of the wards
they run with Approve and Decline.

The same service functions as the API (healthguard/api/oncall.py): ``staff_service.
request_swap`` / ``cancel_swap`` / ``approve_swap`` / ``decline_swap`` / ``visible_swaps`` /
``swap_warnings``, so every refusal (a shift already started, someone on two shifts at once,
less than ``settings.swap_min_rest_hours`` of rest at approval, not a charge nurse of the
ward) comes back as the service's sentence. Every handler checks the session and the
permission the API route checks (``swaps:request``, ``swaps:decide``) on the server, and
takes nothing from the browser unchecked: the shift must be one of mine on a rota, starting
later, re-read from Postgres; the colleague one of those who could take it (the rota's ward
and role, not me), re-computed; a shift in return one of theirs on that rota, ahead, re-read;
the swap is decided by the service, which checks the ward.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import reflex as rx
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.models import Schedule as ScheduleRow
from healthguard.models import Shift, Staff
from healthguard.models import SwapRequest as SwapRow
from healthguard.oncall import roster
from healthguard.oncall import staff_service as staff_svc
from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.settings import get_settings
from healthguard.ui import staff_view as view
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.staff import StaffPageState

log = logging.getLogger(__name__)

NOT_A_COLLEAGUE = "Colleague: choose someone of the same ward and role as the shift (not yourself)."
SHIFTS_OFFERED = 20  # my next shifts on a rota that can be given away
MY_SWAPS_SHOWN = 20
WARD_SWAPS_SHOWN = 30
DATABASE_DOWN = "Could not reach the database; the swaps may be out of date. Try again."
STATUS_WORDS = {
    "requested": "Waiting for a charge nurse",
    "approved": "Approved by {by}",
    "declined": "Declined by {by}: {reason}",
    "cancelled": "Withdrawn by the nurse who asked",
}


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


@dataclasses.dataclass
class ShiftOption:
    id: str = ""
    label: str = ""  # "Sat 28 Nov 07:00-19:00 · ICU"


@dataclasses.dataclass
class ColleagueOption:
    id: str = ""
    name: str = ""


@dataclasses.dataclass
class SwapItem:
    id: str = ""
    ward: str = ""
    direction: str = ""  # "You asked", "You are asked"; empty in the ward list
    text: str = ""
    status: str = ""  # requested, approved, declined, cancelled
    status_text: str = ""
    can_withdraw: bool = False
    can_decide: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)  # e.g. too little rest


@dataclasses.dataclass
class SwapPanel:
    can_request: bool
    shifts: list[ShiftOption]
    mine: list[SwapItem]
    ward_swaps: list[SwapItem]


@dataclasses.dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    warnings: tuple[str, ...] = ()


def status_words(status: str, decided_by: str | None, reason: str | None) -> str:
    by = decided_by or "a charge nurse"
    return STATUS_WORDS.get(status, status).format(by=by, reason=reason or "")


def _staff_uuid(principal: Principal) -> uuid.UUID | None:
    return uuid.UUID(principal.staff_id) if principal.staff_id else None


def _may_request(principal: Principal) -> bool:
    return allows(principal, Permission.SWAPS_REQUEST) and bool(principal.staff_id)


# --- what may be given, to whom -------------------------------------------------------------


def givable_shifts(
    session: Session, staff_id: uuid.UUID, now: datetime, schedule_id: uuid.UUID | None = None
) -> list[tuple[Shift, ScheduleRow]]:
    """Someone's next shifts that come from a rota (``schedule_id``: that rota only) and
    have not started (a shift entered by hand belongs to no schedule, so a swap cannot
    change it)."""
    stmt = (
        select(Shift, ScheduleRow)
        .join(ScheduleRow, col(ScheduleRow.id) == col(Shift.schedule_id))
        .where(Shift.staff_id == staff_id, col(Shift.starts_at) > now)
        .order_by(col(Shift.starts_at))
        .limit(SHIFTS_OFFERED)
    )
    if schedule_id is not None:
        stmt = stmt.where(Shift.schedule_id == schedule_id)
    return [(shift, schedule) for shift, schedule in session.exec(stmt).all()]


def shift_key(schedule_id: uuid.UUID, starts_at: datetime) -> str:
    """A shift as the form names it: its rota and start ("<schedule id>@<epoch seconds>"),
    which stay the same when the rota's shifts are re-derived (their row ids do not)."""
    return f"{schedule_id}@{int(starts_at.timestamp())}"


def parse_shift_key(key: str) -> tuple[uuid.UUID, datetime] | None:
    schedule, _, epoch = key.partition("@")
    try:
        return uuid.UUID(schedule), datetime.fromtimestamp(int(epoch), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def ward_words(codes: dict[uuid.UUID | None, str], ward_id: uuid.UUID | None) -> str:
    return codes.get(ward_id, "Hospital-wide") if ward_id else "Hospital-wide"


def shift_options(
    session: Session, staff_id: uuid.UUID, now: datetime, schedule_id: uuid.UUID | None = None
) -> list[ShiftOption]:
    zone, codes = hospital_zone(), roster.ward_codes(session)
    return [
        ShiftOption(
            id=shift_key(schedule.id, shift.starts_at),
            label=(
                f"{view.local_when(shift.starts_at, shift.ends_at, zone)} · "
                f"{ward_words(codes, schedule.ward_id)}"
            ),
        )
        for shift, schedule in givable_shifts(session, staff_id, now, schedule_id)
    ]


def colleagues_for(
    session: Session, schedule: ScheduleRow, me: uuid.UUID, now: datetime
) -> list[ColleagueOption]:
    """Who could take a shift of ``schedule``: staff of its role who work on its ward (home
    ward, a ward they cover, or on shift there now; a hospital-wide rota: anyone of the
    role), not me. The service still checks the rota (two shifts at once, rest)."""
    people = staff_svc.list_staff(session, now=now, ward_id=schedule.ward_id, role=schedule.role)
    return [ColleagueOption(id=str(p.id), name=p.name) for p in people if p.id != me]


def _rota_shift(
    session: Session, staff_id: uuid.UUID, key: str, now: datetime
) -> tuple[Shift, ScheduleRow] | None:
    """The shift ``key`` names, when it is ``staff_id``'s on that rota and has not started."""
    parsed = parse_shift_key(key)
    if parsed is None or parsed[1] <= now:
        return None
    schedule_id, starts_at = parsed
    shift = session.exec(
        select(Shift).where(
            Shift.staff_id == staff_id,
            Shift.schedule_id == schedule_id,
            Shift.starts_at == starts_at,
        )
    ).first()
    schedule = session.get(ScheduleRow, schedule_id)
    return (shift, schedule) if shift is not None and schedule is not None else None


def _my_shift(
    session: Session, principal: Principal, key: str, now: datetime
) -> tuple[Shift, ScheduleRow] | None:
    """The shift ``key`` names, when it is one of mine on that rota and has not started."""
    me = _staff_uuid(principal)
    return None if me is None else _rota_shift(session, me, key, now)


def _their_shift(
    session: Session, staff_id: uuid.UUID, schedule_id: uuid.UUID, key: str, now: datetime
) -> Shift | None:
    """The colleague's shift ``key`` names, when it is on rota ``schedule_id`` and ahead."""
    found = _rota_shift(session, staff_id, key, now)
    return found[0] if found is not None and found[1].id == schedule_id else None


def colleague_options(principal: Principal, chosen: str, now: datetime) -> list[ColleagueOption]:
    """Who could take my shift ``chosen`` (blocking); LookupError when it is not mine."""
    with session_scope() as session:
        found = _my_shift(session, principal, chosen, now)
        if found is None:
            raise LookupError("Choose one of your own shifts ahead.")
        me = _staff_uuid(principal)
        assert me is not None
        return colleagues_for(session, found[1], me, now)


def return_options(
    principal: Principal, chosen: str, colleague_id: str, now: datetime
) -> list[ShiftOption]:
    """The colleague's shifts ahead on the same rota as my shift ``chosen``, one of which I
    may take in return (blocking); LookupError when the shift is not mine or the colleague
    could not take it."""
    with session_scope() as session:
        found = _my_shift(session, principal, chosen, now)
        if found is None:
            raise LookupError("Your shift: choose one of your own shifts ahead.")
        me = _staff_uuid(principal)
        assert me is not None
        schedule = found[1]
        if colleague_id not in {c.id for c in colleagues_for(session, schedule, me, now)}:
            raise LookupError(NOT_A_COLLEAGUE)
        return shift_options(session, uuid.UUID(colleague_id), now, schedule.id)


# --- the lists ------------------------------------------------------------------------------


def _when_words(row: SwapRow, zone: ZoneInfo) -> tuple[str, str | None]:
    giving = view.local_when(row.give_starts_at, row.give_ends_at, zone)
    taking = (
        view.local_when(row.take_starts_at, row.take_ends_at, zone)
        if row.take_starts_at is not None and row.take_ends_at is not None
        else None
    )
    return giving, taking


def my_swap_item(
    row: SwapRow, me: uuid.UUID, names: dict[uuid.UUID, str], ward: str, zone: ZoneInfo
) -> SwapItem:
    """A swap I am part of, from my side: "You asked" (I give a shift away) or "You are
    asked" (a colleague gives me one)."""
    giving, taking = _when_words(row, zone)
    asked_me = row.colleague_staff_id == me
    if asked_me:
        asker = names.get(row.requester_staff_id, "A colleague")
        text = f"{asker} gives you {giving}"
        if taking:
            text += f" and takes your {taking} in return"
    else:
        other = names.get(row.colleague_staff_id, "a colleague")
        text = f"{other} to take your {giving}"
        if taking:
            text += f"; you take their {taking} in return"
    return SwapItem(
        id=str(row.id),
        ward=ward,
        direction="You are asked" if asked_me else "You asked",
        text=text,
        status=row.status,
        status_text=status_words(row.status, row.decided_by, row.reason),
        can_withdraw=not asked_me and row.status == "requested",
    )


def ward_swap_item(
    row: SwapRow, names: dict[uuid.UUID, str], ward: str, zone: ZoneInfo, can_decide: bool
) -> SwapItem:
    giving, taking = _when_words(row, zone)
    asker = names.get(row.requester_staff_id, "A colleague")
    other = names.get(row.colleague_staff_id, "a colleague")
    text = f"{asker} gives {giving} to {other}"
    if taking:
        text += f" and takes {taking} in return"
    return SwapItem(
        id=str(row.id),
        ward=ward,
        text=text,
        status=row.status,
        status_text=status_words(row.status, row.decided_by, row.reason),
        can_decide=can_decide,
    )


def swap_panel(principal: Principal, now: datetime) -> SwapPanel:
    """The shifts I may give away, the swaps I am part of, and those of the wards I run that
    I am not part of (as ``GET /api/v1/swaps`` shows them; blocking)."""
    zone = hospital_zone()
    me = _staff_uuid(principal)
    with session_scope() as session:
        can_request = _may_request(principal)
        shifts = shift_options(session, me, now) if can_request and me is not None else []
        rows = staff_svc.visible_swaps(session, principal, now=now)
        ward_of = {
            s.id: s.ward_id
            for s in session.exec(
                select(ScheduleRow).where(col(ScheduleRow.id).in_({r.schedule_id for r in rows}))
            ).all()
        }
        codes = roster.ward_codes(session)
        ids = {r.requester_staff_id for r in rows} | {r.colleague_staff_id for r in rows}
        names = (
            {
                s.id: s.display_name
                for s in session.exec(select(Staff).where(col(Staff.id).in_(ids)))
            }
            if ids
            else {}
        )
        managed = roster.managed_ward_ids(session, principal, now=now)
        may_decide = allows(principal, Permission.SWAPS_DECIDE)
        mine: list[SwapItem] = []
        ward_swaps: list[SwapItem] = []
        for r in rows:
            ward_id = ward_of.get(r.schedule_id)
            ward = ward_words(codes, ward_id)
            if me is not None and me in (r.requester_staff_id, r.colleague_staff_id):
                if len(mine) < MY_SWAPS_SHOWN:
                    item = my_swap_item(r, me, names, ward, zone)
                    if r.status == "requested":
                        item.warnings = staff_svc.swap_warnings(session, r)
                    mine.append(item)
                continue
            if len(ward_swaps) >= WARD_SWAPS_SHOWN:
                continue
            can_decide = (
                r.status == "requested" and may_decide and (managed is None or ward_id in managed)
            )
            item = ward_swap_item(r, names, ward, zone, can_decide)
            if can_decide:
                item.warnings = staff_svc.swap_warnings(session, r)
            ward_swaps.append(item)
    return SwapPanel(can_request=can_request, shifts=shifts, mine=mine, ward_swaps=ward_swaps)


# --- actions, through the service -----------------------------------------------------------


def ask_for_swap(
    principal: Principal,
    chosen: str,
    colleague_id: str,
    now: datetime,
    origin: Origin,
    in_return: str = "",
) -> Outcome:
    """Ask ``colleague_id`` to take my shift ``chosen`` (a give-away), or to swap it for
    their shift ``in_return`` on the same rota, through ``staff_service.request_swap``; the
    outcome in words, with the rest warnings."""
    if not chosen:
        return Outcome(False, "Your shift: choose the shift you want to give away.")
    if not colleague_id:
        return Outcome(False, "Colleague: choose who takes your shift.")
    zone = hospital_zone()
    with session_scope() as session:
        found = _my_shift(session, principal, chosen, now)
        if found is None:
            return Outcome(
                False, "Your shift: that is not one of your shifts ahead on a rota; choose again."
            )
        shift, schedule = found
        me = _staff_uuid(principal)
        assert me is not None
        colleagues = {c.id: c.name for c in colleagues_for(session, schedule, me, now)}
        if colleague_id not in colleagues:
            return Outcome(False, NOT_A_COLLEAGUE)
        taking: Shift | None = None
        if in_return:
            taking = _their_shift(session, uuid.UUID(colleague_id), schedule.id, in_return, now)
            if taking is None:
                return Outcome(
                    False,
                    "In return: that is not one of their shifts ahead on the same rota; "
                    "choose again.",
                )
        data = staff_svc.SwapInput(
            schedule_id=schedule.id,
            colleague_id=uuid.UUID(colleague_id),
            give_starts_at=shift.starts_at,
            give_ends_at=shift.ends_at,
            take_starts_at=taking.starts_at if taking else None,
            take_ends_at=taking.ends_at if taking else None,
        )
        try:
            row = staff_svc.request_swap(session, principal, data, now=now, origin=origin)
            warnings = staff_svc.swap_warnings(session, row)
        except roster.OncallError as exc:
            session.rollback()
            return Outcome(False, f"Not asked: {exc.message}")
        when = view.local_when(shift.starts_at, shift.ends_at, zone)
        back = view.local_when(taking.starts_at, taking.ends_at, zone) if taking else ""
    message = f"Asked {colleagues[colleague_id]} to take your shift {when}"
    if back:
        message += f" and give you their shift {back} in return"
    message += ". A charge nurse of the ward approves or declines it."
    if warnings:
        message += " As the rota stands it cannot be approved:"
    return Outcome(True, message, tuple(warnings))


def withdraw_swap(principal: Principal, swap_id: str, now: datetime, origin: Origin) -> Outcome:
    """Withdraw my swap request (``staff_service.cancel_swap``, as the API's cancel route)."""
    try:
        wanted = uuid.UUID(swap_id)
    except ValueError:
        return Outcome(False, "No such swap request.")
    with session_scope() as session:
        try:
            staff_svc.cancel_swap(session, principal, wanted, now=now, origin=origin)
        except roster.OncallError as exc:
            session.rollback()
            return Outcome(False, f"Not withdrawn: {exc.message}")
    return Outcome(True, "Swap request withdrawn.")


def decide_swap(
    principal: Principal, swap_id: str, reason: str | None, now: datetime, origin: Origin
) -> Outcome:
    """Approve (``reason`` None) or decline a swap through the service; a refusal (e.g. too
    little rest between two shifts) comes back in the service's words."""
    try:
        wanted = uuid.UUID(swap_id)
    except ValueError:
        return Outcome(False, "No such swap request.")
    with session_scope() as session:
        try:
            if reason is None:
                staff_svc.approve_swap(session, principal, wanted, now=now, origin=origin)
                return Outcome(True, "Swap approved; the roster now shows it.")
            staff_svc.decline_swap(session, principal, wanted, reason, now=now, origin=origin)
            return Outcome(True, "Swap declined; the nurse sees your reason.")
        except roster.OncallError as exc:
            session.rollback()
            return Outcome(False, f"Not done: {exc.message}")


class SwapsState(rx.State):
    loaded: bool = False
    can_request: bool = False
    shifts: list[ShiftOption] = []
    chosen_shift: str = ""
    colleagues: list[ColleagueOption] = []
    chosen_colleague: str = ""
    return_shifts: list[ShiftOption] = []  # the chosen colleague's, on the same rota
    mine: list[SwapItem] = []
    ward_swaps: list[SwapItem] = []
    warnings: list[str] = []  # of the request just made
    min_rest_text: str = "11"  # settings.swap_min_rest_hours, in words
    error: str = ""
    notice: str = ""

    async def _principal(self, permission: Permission) -> Principal | None:
        return await (await self.get_state(AuthState)).allowed_principal(permission)

    async def _origin(self) -> Origin:
        return (await self.get_state(AuthState))._origin()

    async def _reload(self, principal: Principal) -> None:
        try:
            panel = await asyncio.to_thread(swap_panel, principal, datetime.now(UTC))
        except Exception:
            log.warning("swaps: could not load", exc_info=True)
            self.error, self.loaded = DATABASE_DOWN, True
            return
        self.can_request, self.shifts = panel.can_request, panel.shifts
        self.mine, self.ward_swaps = panel.mine, panel.ward_swaps
        if self.chosen_shift not in {s.id for s in panel.shifts}:
            self._forget_choices()
        self.min_rest_text = f"{get_settings().swap_min_rest_hours:g}"
        self.loaded = True

    def _forget_choices(self) -> None:
        self.chosen_shift, self.colleagues = "", []
        self.chosen_colleague, self.return_shifts = "", []

    def _show(self, outcome: Outcome) -> None:
        self.error = "" if outcome.ok else outcome.message
        self.notice = outcome.message if outcome.ok else ""
        self.warnings = list(outcome.warnings)

    async def _refresh_roster(self, principal: Principal) -> None:
        """After an approval: the roster, overrides and my schedule of the ward shown, re-read
        for the same principal (its wards follow the ward scope, as on the page's load)."""
        page = await self.get_state(StaffPageState)
        if page.loaded:
            await page._reload(principal, page.ward)

    @rx.event
    async def load(self):
        """On mount of the page's swap panel."""
        principal = await self._principal(Permission.STAFF_READ)
        if principal is None:
            self.loaded = True
            return
        await self._reload(principal)

    @rx.event
    async def choose_shift(self, chosen: str):
        """The colleagues who could take the shift chosen (it must be one of mine ahead)."""
        principal = await self._principal(Permission.SWAPS_REQUEST)
        if principal is None:
            self.error = "Your role may not ask for a swap."
            return
        self.error, self.notice, self.warnings = "", "", []
        self._forget_choices()
        if not chosen:
            return
        try:
            colleagues = await asyncio.to_thread(
                colleague_options, principal, chosen, datetime.now(UTC)
            )
        except LookupError as exc:
            self.error = str(exc)
            return
        except Exception:
            log.warning("swaps: could not load colleagues", exc_info=True)
            self.error = DATABASE_DOWN
            return
        self.chosen_shift, self.colleagues = chosen, colleagues
        if not colleagues:
            self.error = "Nobody else of that ward and role could take this shift."

    @rx.event
    async def choose_colleague(self, colleague_id: str):
        """The colleague's shifts on the same rota, one of which may be taken in return."""
        principal = await self._principal(Permission.SWAPS_REQUEST)
        if principal is None:
            self.error = "Your role may not ask for a swap."
            return
        self.error, self.notice, self.warnings = "", "", []
        self.chosen_colleague, self.return_shifts = "", []
        if not colleague_id or not self.chosen_shift:
            return
        try:
            shifts = await asyncio.to_thread(
                return_options, principal, self.chosen_shift, colleague_id, datetime.now(UTC)
            )
        except LookupError as exc:
            self.error = str(exc)
            return
        except Exception:
            log.warning("swaps: could not load the colleague's shifts", exc_info=True)
            self.error = DATABASE_DOWN
            return
        self.chosen_colleague, self.return_shifts = colleague_id, shifts

    @rx.event
    async def request(self, form: dict):
        """Ask a colleague to take one of my shifts, optionally for one of theirs
        (``staff_service.request_swap``)."""
        principal = await self._principal(Permission.SWAPS_REQUEST)
        if principal is None:
            self.error, self.notice = "Your role may not ask for a swap.", ""
            return
        outcome = await asyncio.to_thread(
            ask_for_swap,
            principal,
            str(form.get("shift", "")),
            str(form.get("colleague_id", "")),
            datetime.now(UTC),
            await self._origin(),
            str(form.get("in_return", "")),
        )
        self._show(outcome)
        if outcome.ok:
            self._forget_choices()
        await self._reload(principal)

    @rx.event
    async def withdraw(self, swap_id: str):
        principal = await self._principal(Permission.SWAPS_REQUEST)
        if principal is None:
            self.error, self.notice = "Your role may not withdraw a swap.", ""
            return
        outcome = await asyncio.to_thread(
            withdraw_swap, principal, swap_id, datetime.now(UTC), await self._origin()
        )
        self._show(outcome)
        await self._reload(principal)

    @rx.event
    async def approve(self, swap_id: str):
        principal = await self._principal(Permission.SWAPS_DECIDE)
        if principal is None:
            self.error, self.notice = "Only a charge nurse of the ward can approve a swap.", ""
            return
        outcome = await asyncio.to_thread(
            decide_swap, principal, swap_id, None, datetime.now(UTC), await self._origin()
        )
        self._show(outcome)
        await self._reload(principal)
        if outcome.ok:
            await self._refresh_roster(principal)

    @rx.event
    async def decline(self, form: dict):
        principal = await self._principal(Permission.SWAPS_DECIDE)
        if principal is None:
            self.error, self.notice = "Only a charge nurse of the ward can decline a swap.", ""
            return
        reason = str(form.get("reason", "")).strip()
        if not reason:
            self.error, self.notice = (
                "Reason: say why the swap is declined; the nurse reads it.",
                "",
            )
            return
        outcome = await asyncio.to_thread(
            decide_swap,
            principal,
            str(form.get("swap_id", "")),
            reason,
            datetime.now(UTC),
            await self._origin(),
        )
        self._show(outcome)
        await self._reload(principal)
