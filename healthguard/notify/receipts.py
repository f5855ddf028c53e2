"""Delivery receipts: what a provider's or gateway's report does to a notification.

Pure: plain data in, plain data out, the clock passed in (``now``); no database, no Redis.
The adapter ``healthguard.notify.receipts_service.record_receipt`` finds and locks the row,
calls :func:`apply_receipt`, stores the new state and writes the timeline entry.

A receipt says one of:

- ``accepted``: the provider still has it (Twilio ``queued``/``sending``/``sent``, WCTP
  ``queued``): nothing changes, it is acknowledged;
- ``delivered``: it reached the handset / pager;
- ``read``: the person opened it (only where the gateway reports it: WCTP ``read``);
- ``failed``: it could not be delivered, with the provider's reason and whether trying
  again can help (``retryable``).

The status only moves forward, in this order (``failed`` sits between ``sent`` and
``delivered``: proof of delivery beats an earlier failure report, never the reverse)::

    queued = throttled < sent < failed < delivered < read < answered   (cancelled: final)

- a receipt for a later state moves the status there and fills its timestamp (a ``read``
  also fills ``delivered_at`` when it is empty: read implies delivered);
- a late ``delivered`` after ``read`` / ``answered`` only fills ``delivered_at``;
- a ``failed`` after ``delivered`` (or later) is ignored, and the decision's note says so
  (for the provider's answer and the log; no timeline entry, so a repeated report adds
  nothing);
- the same receipt twice changes nothing the second time (idempotent), and a second
  ``failed`` does not fail the row again (so retries are not planned twice);
- a ``cancelled`` row (never sent) is left alone;
- with ``only_after_send=True`` (push receipts: the token is only in a payload a push
  service accepted) a ``queued``, ``throttled`` or ``failed`` row is left alone too
  (``IGNORED``): a report for a message that never left is not evidence of delivery.

This is the one "never backwards" decision: ``receipts_service.record_receipt`` (SMS and
pager receipts) and ``push_receipts.record_push_receipt`` (the service worker's receipt)
both call :func:`apply_receipt`.

Timestamps are the provider's time when it gives one, kept between ``sent_at`` and ``now``
(a provider clock ahead of ours, or a report dated before we sent, is clamped); otherwise
``now``. A timestamp already set is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from healthguard.models.notifications import Channel, NotificationStatus
from healthguard.notify.rules import CHANNEL_LABELS

__all__ = [
    "STATUS_RANK",
    "Effect",
    "NotificationState",
    "Receipt",
    "ReceiptDecision",
    "ReceiptKind",
    "apply_receipt",
    "status_rank",
]

MAX_REASON_CHARS = 300


class ReceiptKind(StrEnum):
    ACCEPTED = "accepted"  # still with the provider: no change
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Effect(StrEnum):
    ADVANCED = "advanced"  # the status moved forward (delivered, read)
    FAILED = "failed"  # the status became failed: retry or fall back
    FILLED = "filled"  # only a missing timestamp was filled (a late delivered)
    DUPLICATE = "duplicate"  # already recorded: nothing changes
    UNCHANGED = "unchanged"  # an "accepted" progress report: nothing changes
    IGNORED = "ignored"  # contradicts a later state (failed after delivered), or cancelled


#: The order a status moves in (higher never goes back to lower).
STATUS_RANK: dict[str, int] = {
    NotificationStatus.QUEUED.value: 0,
    NotificationStatus.THROTTLED.value: 0,  # held for a digest: not sent yet, like queued
    NotificationStatus.SENT.value: 1,
    NotificationStatus.FAILED.value: 2,
    NotificationStatus.DELIVERED.value: 3,
    NotificationStatus.READ.value: 4,
    NotificationStatus.ANSWERED.value: 5,
    NotificationStatus.CANCELLED.value: 6,
}


#: Statuses of a message that has not left (yet, or at all): see ``only_after_send``.
_NOT_SENT = frozenset(
    {
        NotificationStatus.QUEUED.value,
        NotificationStatus.THROTTLED.value,
        NotificationStatus.FAILED.value,
    }
)


def status_rank(status: str) -> int:
    return STATUS_RANK[status]


@dataclass(frozen=True, slots=True)
class Receipt:
    """One report from a provider or gateway about one message."""

    kind: ReceiptKind
    at: datetime | None = None  # the provider's time of the event, timezone-aware
    reason: str | None = None  # why it failed ("handset unreachable"); failed only
    retryable: bool = True  # failed only: can trying the same channel again help?
    provider_status: str | None = None  # the provider's own word ("undelivered", "30003")

    def __post_init__(self) -> None:
        if self.at is not None and (self.at.tzinfo is None or self.at.utcoffset() is None):
            raise ValueError("a receipt's time must be timezone-aware")
        if self.kind is not ReceiptKind.FAILED and self.reason:
            raise ValueError("only a failed receipt has a reason")


@dataclass(frozen=True, slots=True)
class NotificationState:
    """The delivery fields of one notification row."""

    status: str
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    answered_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUS_RANK:
            raise ValueError(f"unknown notification status {self.status!r}")


@dataclass(frozen=True, slots=True)
class ReceiptDecision:
    """What a receipt does: the new state, the effect, the timeline text (None: no entry)
    and a note for the provider's answer and the log."""

    effect: Effect
    state: NotificationState
    timeline: str | None
    note: str

    @property
    def changed(self) -> bool:
        return self.effect in (Effect.ADVANCED, Effect.FAILED, Effect.FILLED)


def _label(channel: Channel | str) -> str:
    return CHANNEL_LABELS[Channel(channel)]


def _event_time(state: NotificationState, receipt: Receipt, now: datetime) -> datetime:
    at = receipt.at or now
    if at > now:
        at = now
    if state.sent_at is not None and at < state.sent_at:
        at = state.sent_at
    return at


def _reason(receipt: Receipt) -> str:
    text = " ".join((receipt.reason or "").split()) or "no reason given"
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3] + "..."
    return text


def _hm(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S} UTC" if moment is not None else "earlier"


def apply_receipt(
    state: NotificationState,
    receipt: Receipt,
    *,
    channel: Channel | str,
    person: str,
    now: datetime,
    only_after_send: bool = False,
) -> ReceiptDecision:
    """Decide what ``receipt`` does to a notification in ``state`` (module docstring).

    ``person``: the name for the timeline ("Sister Jones"); ``now``: timezone-aware;
    ``only_after_send``: a queued or failed row is left alone (push receipts)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    label = _label(channel)
    status = state.status
    rank = status_rank(status)
    at = _event_time(state, receipt, now)

    if status == NotificationStatus.CANCELLED.value:
        return ReceiptDecision(
            Effect.IGNORED,
            state,
            None,
            f"{receipt.kind.value} report ignored: this notification was cancelled, never sent",
        )
    if only_after_send and status in _NOT_SENT:
        return ReceiptDecision(
            Effect.IGNORED,
            state,
            None,
            f"{receipt.kind.value} report ignored: this notification is {status}, not sent",
        )
    if receipt.kind is ReceiptKind.ACCEPTED:
        word = receipt.provider_status or "accepted"
        return ReceiptDecision(
            Effect.UNCHANGED, state, None, f"progress report ({word}): the status stays {status}"
        )

    if receipt.kind is ReceiptKind.FAILED:
        if status == NotificationStatus.FAILED.value:
            return ReceiptDecision(
                Effect.DUPLICATE, state, None, "already recorded as failed: nothing changes"
            )
        if rank >= status_rank(NotificationStatus.DELIVERED.value):
            when = _hm(state.delivered_at or state.read_at or state.answered_at)
            reason = _reason(receipt)
            return ReceiptDecision(
                Effect.IGNORED,
                state,
                None,
                f"late failure report for {label} to {person} ignored ({reason}): "
                f"it was already {status} at {when}",
            )
        reason = _reason(receipt)
        new = replace(
            state,
            status=NotificationStatus.FAILED.value,
            failed_at=state.failed_at or at,
            error=f"{label} not delivered: {reason}",
        )
        return ReceiptDecision(
            Effect.FAILED, new, f"{label} to {person} failed: {reason}", "recorded as failed"
        )

    if receipt.kind is ReceiptKind.DELIVERED:
        target = NotificationStatus.DELIVERED.value
        if rank < status_rank(target):
            new = replace(state, status=target, delivered_at=state.delivered_at or at)
            text = f"{label} delivered to {person}"
            if status == NotificationStatus.FAILED.value:
                text += " (after a failure report; the retry or fallback already planned stays)"
            return ReceiptDecision(Effect.ADVANCED, new, text, f"recorded as {target}")
        if state.delivered_at is None:
            new = replace(state, delivered_at=at)
            return ReceiptDecision(
                Effect.FILLED,
                new,
                f"{label} delivered to {person} (reported late; it was already {status})",
                f"delivery time recorded; the status stays {status}",
            )
        return ReceiptDecision(
            Effect.DUPLICATE, state, None, f"already recorded as delivered; status {status}"
        )

    # READ
    target = NotificationStatus.READ.value
    delivered_at = state.delivered_at or at
    if rank < status_rank(target):
        new = replace(state, status=target, read_at=state.read_at or at, delivered_at=delivered_at)
        return ReceiptDecision(
            Effect.ADVANCED, new, f"{label} read by {person}", f"recorded as {target}"
        )
    if state.read_at is None or state.delivered_at is None:
        new = replace(state, read_at=state.read_at or at, delivered_at=delivered_at)
        return ReceiptDecision(
            Effect.FILLED,
            new,
            f"{label} read by {person} (reported late; it was already {status})",
            f"read time recorded; the status stays {status}",
        )
    return ReceiptDecision(
        Effect.DUPLICATE, state, None, f"already recorded as read; status {status}"
    )
