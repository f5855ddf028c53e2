"""Shift swaps between two staff members: the request, its approval and what it changes.

Pure: no I/O, no database, no clock (``now`` is passed in). A service function loads the
swap and the current on-call spans of both people (``rotations.spans_between`` over every
schedule they are on, for a window covering both shifts), calls one of the functions below
and either stores what comes back (a ``SwapRequest`` in its new state, and on approval the
``Override`` rows that realise it) or answers the ``SwapRefusal`` (a code, an HTTP status and
a message to show as is)::

    requested --approve (a charge nurse of the ward)--> approved   (final; overrides written)
        |-------decline (a charge nurse, with a reason)--> declined (final)
        +-------cancel (the requester)-------------------> cancelled (final)

A swap is asked for by the ``requester``, who gives away one of their shifts (``giving``) to a
``colleague`` and, in a swap proper, takes one of the colleague's shifts in return
(``taking``); without ``taking`` it is a give-away. A "shift" here is a period of the
schedule; it need not match a whole turn (a nurse may give away the last 4 hours of a
night). Checked when asked for and again when approved (the rota may have changed since):

- the requester and the colleague are two different people, and both periods are valid,
  do not overlap each other, and have not started yet;
- the requester is on call in the schedule for the whole of ``giving``, and the colleague
  for the whole of ``taking``;
- nobody ends up on two overlapping shifts: after the swap, neither person is on call
  anywhere else (in any schedule whose spans were passed in) during the shift they take on.

Only a charge nurse of the schedule's ward may approve or decline (the approver's role and
wards are passed in; a hospital-wide schedule needs ``None`` among the approver's wards, e.g.
the site nurse practitioner), and not for a swap they are part of. An approval returns two
REPLACE overrides (one for a give-away): the colleague replaces the requester for
``giving``, the requester replaces the colleague for ``taking``.

**Rest between shifts** (``rest_problems``): after the swap, each person must have at least
``min_rest`` (``settings.swap_min_rest_hours``, default 11 h as in the EU Working Time
Directive) between the shift they take on and any other shift of theirs, in any schedule whose
spans were passed in, counting the shift they hand on as no longer theirs. The rest is real
elapsed time (a night across a clock change rests an hour more or less than the wall clock
says); a shift that directly continues another is 0 h rest (a double shift). The reasons are
sentences a charge nurse reads: "Ana would work 19:00-07:00 on 3 Dec after 07:00-19:00 on
3 Dec: 0 h rest, needs 11 h". A request with too little rest is accepted with these warnings
(``SwapRequest.warnings``: the nurse may still arrange something); its **approval is
refused** (``TOO_LITTLE_REST``, 409) while the rota says so.

Not checked here: weekly working-time limits; the colleague's consent (the service asks the
colleague before it creates the request).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from healthguard.oncall.rotations import (
    OnCallSpan,
    Override,
    OverrideKind,
    Schedule,
    describe_period,
    require_aware,
    zone_from_name,
)

APPROVER_ROLE = "charge_nurse"
MAX_REASON_LENGTH = 2_000


class SwapStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # final
    DECLINED = "declined"  # final
    CANCELLED = "cancelled"  # final


class SwapRefusalCode(StrEnum):
    INVALID = "invalid"  # the request itself is wrong (same person, bad period, no reason)
    NOT_ON_CALL = "not_on_call"  # the shift is not held by who should give it
    OVERLAP = "overlap"  # someone would be on two shifts at once
    STARTED = "started"  # the shift has already started
    FORBIDDEN = "forbidden"  # this person may not do this
    NOT_PENDING = "not_pending"  # already approved, declined or cancelled
    TOO_LITTLE_REST = "too_little_rest"  # less than the minimum rest between two shifts


HTTP_STATUS: dict[SwapRefusalCode, int] = {
    SwapRefusalCode.INVALID: 422,
    SwapRefusalCode.NOT_ON_CALL: 409,
    SwapRefusalCode.OVERLAP: 409,
    SwapRefusalCode.STARTED: 409,
    SwapRefusalCode.FORBIDDEN: 403,
    SwapRefusalCode.NOT_PENDING: 409,
    SwapRefusalCode.TOO_LITTLE_REST: 409,
}

#: The minimum rest between two shifts of one person when none is given (EU Working Time
#: Directive, article 3: 11 consecutive hours per 24 hours).
DEFAULT_MIN_REST = timedelta(hours=11)


@dataclass(frozen=True)
class ShiftPeriod:
    """A stretch of a schedule, ``start`` to ``end`` (timezone-aware, end excluded)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "shift start")
        require_aware(self.end, "shift end")

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class SwapRequest:
    id: uuid.UUID
    schedule_id: uuid.UUID
    ward_id: uuid.UUID | None
    time_zone: str  # the schedule's, for messages
    requester: uuid.UUID
    colleague: uuid.UUID
    giving: ShiftPeriod  # the requester's shift, going to the colleague
    taking: ShiftPeriod | None  # the colleague's shift, going to the requester (None: give-away)
    requested_at: datetime
    status: SwapStatus = SwapStatus.REQUESTED
    decided_by: uuid.UUID | None = None  # the charge nurse (approve, decline) or requester
    decided_at: datetime | None = None
    reason: str | None = None  # why it was declined
    # Said when asked for, not stored: too little rest between shifts (approval refuses it).
    warnings: tuple[str, ...] = ()

    @property
    def is_give_away(self) -> bool:
        return self.taking is None


@dataclass(frozen=True)
class SwapRefusal:
    code: SwapRefusalCode
    message: str  # for the person who asked, as is

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


@dataclass(frozen=True)
class ApprovedSwap:
    """The swap, now approved, and the overrides to add to its schedule (in this order)."""

    swap: SwapRequest
    overrides: tuple[Override, ...]


def request_swap(
    *,
    swap_id: uuid.UUID,
    schedule: Schedule,
    requester: uuid.UUID,
    colleague: uuid.UUID,
    giving: ShiftPeriod,
    taking: ShiftPeriod | None,
    spans: Iterable[OnCallSpan],
    now: datetime,
    names: Mapping[uuid.UUID, str] | None = None,
    min_rest: timedelta = DEFAULT_MIN_REST,
) -> SwapRequest | SwapRefusal:
    """A new swap request, or why it cannot be asked for (``names``: for the messages). Too
    little rest between shifts is not a refusal here: the request carries it in
    ``warnings`` (the approval refuses it while the rota still says so)."""
    require_aware(now, "now")
    swap = SwapRequest(
        id=swap_id,
        schedule_id=schedule.id,
        ward_id=schedule.ward_id,
        time_zone=schedule.time_zone,
        requester=requester,
        colleague=colleague,
        giving=giving,
        taking=taking,
        requested_at=now,
    )
    span_list = list(spans)
    refusal = check_swap(swap, span_list, now=now, names=names)
    if refusal is not None:
        return refusal
    warnings = rest_problems(swap, span_list, min_rest=min_rest, names=names)
    return replace(swap, warnings=tuple(warnings))


def approve_swap(
    swap: SwapRequest,
    *,
    approver: uuid.UUID,
    approver_role: str,
    approver_wards: Collection[uuid.UUID | None],
    spans: Iterable[OnCallSpan],
    now: datetime,
    names: Mapping[uuid.UUID, str] | None = None,
    min_rest: timedelta = DEFAULT_MIN_REST,
) -> ApprovedSwap | SwapRefusal:
    """Approve: the swap checked again against the rota as it is now (overlaps, and at least
    ``min_rest`` between two shifts of each person), and its overrides."""
    require_aware(now, "now")
    span_list = list(spans)
    refusal = _pending(swap, "approve") or _charge_nurse(
        swap, approver, approver_role, approver_wards, "approve"
    )
    refusal = refusal or check_swap(swap, span_list, now=now, names=names)
    if refusal is not None:
        return refusal
    rest = rest_problems(swap, span_list, min_rest=min_rest, names=names)
    if rest:
        return SwapRefusal(
            SwapRefusalCode.TOO_LITTLE_REST,
            f"Cannot approve: {'; '.join(rest)}.",
        )
    note = f"shift swap {swap.id} approved by {approver}"
    overrides = [
        Override(
            OverrideKind.REPLACE,
            person=swap.colleague,
            start=swap.giving.start,
            end=swap.giving.end,
            replaces=swap.requester,
            reason=note,
        )
    ]
    if swap.taking is not None:
        overrides.append(
            Override(
                OverrideKind.REPLACE,
                person=swap.requester,
                start=swap.taking.start,
                end=swap.taking.end,
                replaces=swap.colleague,
                reason=note,
            )
        )
    approved = replace(swap, status=SwapStatus.APPROVED, decided_by=approver, decided_at=now)
    return ApprovedSwap(approved, tuple(overrides))


def decline_swap(
    swap: SwapRequest,
    *,
    approver: uuid.UUID,
    approver_role: str,
    approver_wards: Collection[uuid.UUID | None],
    reason: str | None,
    now: datetime,
) -> SwapRequest | SwapRefusal:
    """Decline, saying why (the requester reads the reason)."""
    require_aware(now, "now")
    refusal = _pending(swap, "decline") or _charge_nurse(
        swap, approver, approver_role, approver_wards, "decline"
    )
    if refusal is not None:
        return refusal
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        return SwapRefusal(
            SwapRefusalCode.INVALID, "reason: say why the swap is declined; the nurse reads it."
        )
    if len(text) > MAX_REASON_LENGTH:
        return SwapRefusal(
            SwapRefusalCode.INVALID,
            f"reason: at most {MAX_REASON_LENGTH} characters (got {len(text)}).",
        )
    return replace(
        swap, status=SwapStatus.DECLINED, decided_by=approver, decided_at=now, reason=text
    )


def cancel_swap(swap: SwapRequest, *, by: uuid.UUID, now: datetime) -> SwapRequest | SwapRefusal:
    """The requester withdraws the request."""
    require_aware(now, "now")
    refusal = _pending(swap, "cancel")
    if refusal is not None:
        return refusal
    if by != swap.requester:
        return SwapRefusal(
            SwapRefusalCode.FORBIDDEN, "Only the nurse who asked for the swap can cancel it."
        )
    return replace(swap, status=SwapStatus.CANCELLED, decided_by=by, decided_at=now)


def check_swap(
    swap: SwapRequest,
    spans: Iterable[OnCallSpan],
    *,
    now: datetime,
    names: Mapping[uuid.UUID, str] | None = None,
) -> SwapRefusal | None:
    """Why the swap cannot happen on the rota ``spans`` describe at ``now`` (None: it can).
    ``names``: staff names for the messages (else "the nurse asking", "the colleague")."""
    require_aware(now, "now")
    zone = zone_from_name(swap.time_zone)
    giving, taking = swap.giving, swap.taking
    asking = (names or {}).get(swap.requester) or "the nurse asking"
    colleague = (names or {}).get(swap.colleague) or "the colleague"

    def when(period: ShiftPeriod) -> str:
        return describe_period(period.start, period.end, zone)

    def refuse(code: SwapRefusalCode, message: str) -> SwapRefusal:
        return SwapRefusal(code, message[:1].upper() + message[1:])

    if swap.requester == swap.colleague:
        return refuse(SwapRefusalCode.INVALID, "a nurse cannot swap a shift with themselves.")
    for period, name in ((giving, "the shift given"), (taking, "the shift taken")):
        if period is None:
            continue
        if period.end <= period.start:
            return refuse(SwapRefusalCode.INVALID, f"{name} must end after it starts.")
        if period.start <= now:
            return refuse(
                SwapRefusalCode.STARTED,
                f"{name} ({when(period)}) has already started; ask the charge nurse for an "
                "override instead.",
            )
    if taking is not None and giving.overlaps(taking.start, taking.end):
        return refuse(
            SwapRefusalCode.INVALID,
            f"the two shifts overlap ({when(giving)} and {when(taking)}); a swap exchanges two "
            "different shifts.",
        )
    span_list = list(spans)
    if not _holds(span_list, swap.requester, swap.schedule_id, giving):
        return refuse(
            SwapRefusalCode.NOT_ON_CALL,
            f"{asking} is not on call for the whole of the shift given ({when(giving)}).",
        )
    if taking is not None and not _holds(span_list, swap.colleague, swap.schedule_id, taking):
        return refuse(
            SwapRefusalCode.NOT_ON_CALL,
            f"{colleague} is not on call for the whole of the shift taken ({when(taking)}).",
        )
    for person, who, taken_on, name in (
        (swap.colleague, colleague, giving, "the shift given"),
        (swap.requester, asking, taking, "the shift taken"),
    ):
        if taken_on is None:
            continue
        clash = _clash(span_list, person, taken_on)
        if clash is not None:
            return refuse(
                SwapRefusalCode.OVERLAP,
                f"{who} would be on two shifts at once: already on call "
                f"{describe_period(clash.start, clash.end, zone)}, during {name} "
                f"({when(taken_on)}).",
            )
    return None


def _pending(swap: SwapRequest, verb: str) -> SwapRefusal | None:
    if swap.status is SwapStatus.REQUESTED:
        return None
    return SwapRefusal(
        SwapRefusalCode.NOT_PENDING,
        f"Cannot {verb}: the swap is already {swap.status.value}.",
    )


def _charge_nurse(
    swap: SwapRequest,
    approver: uuid.UUID,
    role: str,
    wards: Collection[uuid.UUID | None],
    verb: str,
) -> SwapRefusal | None:
    ward = "hospital-wide schedules" if swap.ward_id is None else "this ward"
    if role != APPROVER_ROLE or swap.ward_id not in wards:
        return SwapRefusal(
            SwapRefusalCode.FORBIDDEN, f"Only a charge nurse of {ward} can {verb} this swap."
        )
    if approver in (swap.requester, swap.colleague):
        return SwapRefusal(
            SwapRefusalCode.FORBIDDEN,
            f"You cannot {verb} a swap you are part of; ask another charge nurse.",
        )
    return None


def _holds(
    spans: list[OnCallSpan], person: uuid.UUID, schedule_id: uuid.UUID, shift: ShiftPeriod
) -> bool:
    """Whether ``person`` is on call in the schedule for the whole of ``shift``."""
    covered_to = shift.start
    for span in sorted(spans, key=lambda s: s.start):
        if span.staff_id != person or span.schedule_id != schedule_id:
            continue
        if span.start <= covered_to < span.end:
            covered_to = span.end
        if covered_to >= shift.end:
            return True
    return False


def _clash(spans: list[OnCallSpan], person: uuid.UUID, taken_on: ShiftPeriod) -> OnCallSpan | None:
    """A span of ``person`` that overlaps the shift ``taken_on`` (the shift they hand on
    cannot be one: the two shifts of a swap do not overlap; touching is not overlapping)."""
    for span in sorted(spans, key=lambda s: s.start):
        if span.staff_id == person and span.overlaps(taken_on.start, taken_on.end):
            return span
    return None


# --- rest between shifts ----------------------------------------------------------------------


def rest_problems(
    swap: SwapRequest,
    spans: Iterable[OnCallSpan],
    *,
    min_rest: timedelta = DEFAULT_MIN_REST,
    names: Mapping[uuid.UUID, str] | None = None,
) -> list[str]:
    """Every place where, after the swap, someone would have less than ``min_rest`` between
    the shift they take on and another shift of theirs, as sentences ("Ana would work
    19:00-07:00 on 3 Dec after 07:00-19:00 on 3 Dec: 0 h rest, needs 11 h"); empty when
    there is none. ``spans``: everyone's on-call spans around the swap as the rota is now."""
    if min_rest < timedelta(0):
        raise ValueError("min_rest: zero or more")
    zone = zone_from_name(swap.time_zone)
    span_list = list(spans)
    asking = (names or {}).get(swap.requester) or "the nurse asking"
    colleague = (names or {}).get(swap.colleague) or "the colleague"
    problems: list[str] = []
    for person, who, taken_on, handed_on in (
        (swap.colleague, colleague, swap.giving, swap.taking),
        (swap.requester, asking, swap.taking, swap.giving),
    ):
        if taken_on is None:
            continue
        others = _work_blocks(span_list, person, handed_on, taken_on)
        for start, end in others:
            if end <= taken_on.start:
                earlier, later = (start, end), (taken_on.start, taken_on.end)
                rest = taken_on.start - end
            elif start >= taken_on.end:
                earlier, later = (taken_on.start, taken_on.end), (start, end)
                rest = start - taken_on.end
            else:  # an overlap: check_swap refuses it
                continue
            if rest < min_rest:
                problems.append(
                    f"{who} would work {_shift_words(*later, zone)} after "
                    f"{_shift_words(*earlier, zone)}: {_hours(rest)} rest, needs "
                    f"{_hours(min_rest)}"
                )
    return problems


def _work_blocks(
    spans: list[OnCallSpan],
    person: uuid.UUID,
    handed_on: ShiftPeriod | None,
    taken_on: ShiftPeriod,
) -> list[tuple[datetime, datetime]]:
    """The person's on-call time after the swap, apart from the shift they take on: their
    spans without the period they hand on, joined where they touch or overlap."""
    pieces: list[tuple[datetime, datetime]] = []
    for span in spans:
        if span.staff_id != person:
            continue
        parts = [(span.start, span.end)]
        if handed_on is not None:
            parts = _minus(parts[0], (handed_on.start, handed_on.end))
        pieces += parts
    # The shift taken on itself (when the rota already shows part of it) is not "another".
    pieces = [p for q in pieces for p in _minus(q, (taken_on.start, taken_on.end))]
    pieces.sort()
    blocks: list[tuple[datetime, datetime]] = []
    for start, end in pieces:
        if blocks and start <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end))
        else:
            blocks.append((start, end))
    return blocks


def _minus(
    piece: tuple[datetime, datetime], cut: tuple[datetime, datetime]
) -> list[tuple[datetime, datetime]]:
    (a, b), (c, d) = piece, cut
    if d <= a or b <= c:
        return [piece]
    return [p for p in ((a, c), (d, b)) if p[0] < p[1]]


def _shift_words(start: datetime, end: datetime, zone: tzinfo) -> str:
    """ "19:00-07:00 on 3 Dec" (the day it starts, local time; the zone abbreviations when
    the clocks change during it); a stretch of over a day as ``describe_period`` says it."""
    if end - start > timedelta(hours=24):
        return describe_period(start, end, zone)
    s, e = start.astimezone(zone), end.astimezone(zone)
    since, until = f"{s:%H:%M}", f"{e:%H:%M}"
    if s.utcoffset() != e.utcoffset():
        since, until = f"{since} {s.tzname()}", f"{until} {e.tzname()}"
    return f"{since}-{until} on {s.day} {s:%b}"


def _hours(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest:02d} min"
