"""Push receipts: the service worker says a Web Push message reached the device.

A push service's ``201`` only means it took the message (the notification is ``sent``); the
phone may be off. When the message arrives, the service worker (``assets/sw.js``) posts the
receipt token the payload carries to ``POST /api/v1/notifications/push-receipts`` and
:func:`record_push_receipt` marks the notification ``delivered`` with ``delivered_at``.

The token is the credential (a service worker has no sign-in): the notification id and an
HMAC-SHA256 of it, truncated to 128 bits, with a key derived from ``HEALTHGUARD_SECRET_KEY``
for this purpose only (``RECEIPT_LABEL``, see ``healthguard.notify.delivery.derive_key``)::

    base64url(notification id (16 bytes) + mac (16 bytes))   43 characters

It can only ever say "this message arrived", so it does not expire and replaying it changes
nothing. A forged or damaged token is refused and changes nothing.

A status never moves backwards, decided by ``healthguard.notify.receipts.apply_receipt``
(the one decision SMS and pager receipts use too): only a ``sent`` push notification
becomes ``delivered`` (the row is locked first, so a receipt racing an answer cannot undo
it). One that was already read or answered keeps its status and only gains the
``delivered_at`` it lacked; queued, failed and cancelled ones are left alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from healthguard.incidents.lifecycle import TimelineEntry
from healthguard.incidents.timeline import write_entries
from healthguard.models import Staff
from healthguard.models.notifications import Channel, Notification
from healthguard.notify.receipts import (
    Effect,
    NotificationState,
    Receipt,
    ReceiptKind,
    apply_receipt,
)
from healthguard.settings import Settings, get_settings

__all__ = [
    "RECEIPT_LABEL",
    "RECEIPT_PATH",
    "ReceiptOutcome",
    "ReceiptResult",
    "receipt_secret",
    "receipt_token",
    "record_push_receipt",
    "verify_receipt_token",
]

RECEIPT_LABEL = b"healthguard/notify/push-receipt/v1"
#: Where the service worker posts receipts (the route in ``healthguard.api.notifications``).
RECEIPT_PATH = "/api/v1/notifications/push-receipts"
KIND_DELIVERED = "notification.delivered"
ACTOR = "system:notify"

_MAC_BYTES = 16
_TOKEN_BYTES = 16 + _MAC_BYTES
_MAC_CONTEXT = b"healthguard/push-receipt\0"


class ReceiptOutcome(StrEnum):
    DELIVERED = "delivered"  # was sent, now delivered
    ALREADY = "already"  # delivered, read or answered before: status kept
    NOT_APPLICABLE = "not_applicable"  # queued, failed or cancelled: nothing to record


@dataclass(frozen=True)
class ReceiptResult:
    outcome: ReceiptOutcome
    notification_id: uuid.UUID
    status: str
    delivered_at: datetime | None


def receipt_secret(settings: Settings | None = None) -> bytes:
    """The key that signs and verifies receipt tokens."""
    from healthguard.notify.delivery import derive_key

    return derive_key((settings or get_settings()).secret("secret_key"), RECEIPT_LABEL)


def _mac(secret: bytes, notification_id: uuid.UUID) -> bytes:
    digest = hmac.new(secret, _MAC_CONTEXT + notification_id.bytes, hashlib.sha256).digest()
    return digest[:_MAC_BYTES]


def receipt_token(notification_id: uuid.UUID, secret: bytes | None = None) -> str:
    """The token a push payload carries for its notification."""
    key = secret if secret is not None else receipt_secret()
    raw = notification_id.bytes + _mac(key, notification_id)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verify_receipt_token(token: str, secret: bytes | None = None) -> uuid.UUID:
    """The notification id of a genuine token; ``ValueError`` saying why otherwise."""
    text = (token or "").strip()
    if not text or len(text) > 64:
        raise ValueError("is not a push receipt token")
    try:
        raw = base64.b64decode(
            text.translate(str.maketrans("-_", "+/")) + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise ValueError("is not a push receipt token (not base64url)") from None
    if len(raw) != _TOKEN_BYTES:
        raise ValueError("is not a push receipt token (wrong length)")
    notification_id = uuid.UUID(bytes=raw[:16])
    key = secret if secret is not None else receipt_secret()
    if not hmac.compare_digest(raw[16:], _mac(key, notification_id)):
        raise ValueError("is not a genuine push receipt token")
    return notification_id


def record_push_receipt(
    session: Session, notification_id: uuid.UUID, now: datetime
) -> ReceiptResult:
    """Record that the push notification reached the device (see the module docstring).
    ``LookupError`` when there is no such push notification. The caller commits.

    The row is locked (``SELECT ... FOR UPDATE``: a receipt racing an answer waits for it and
    then sees the answered status) and ``receipts.apply_receipt`` decides, the same "never
    backwards" decision as SMS and pager receipts (``only_after_send``: a queued, failed or
    cancelled push is left alone)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    row = session.exec(
        select(Notification)
        .where(
            col(Notification.id) == notification_id,
            col(Notification.channel) == Channel.PUSH.value,
        )
        .with_for_update()
    ).first()
    if row is None:
        raise LookupError(f"no push notification {notification_id}")
    staff = session.get(Staff, row.staff_id)
    name = staff.display_name if staff is not None else "the person"
    state = NotificationState(
        status=row.status,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        answered_at=row.answered_at,
        failed_at=row.failed_at,
        error=row.error,
    )
    decision = apply_receipt(
        state,
        Receipt(ReceiptKind.DELIVERED),
        channel=Channel.PUSH,
        person=name,
        now=now,
        only_after_send=True,
    )
    if decision.changed:
        row.status = decision.state.status
        row.delivered_at = decision.state.delivered_at
        session.add(row)
    if decision.effect is Effect.ADVANCED:
        write_entries(
            session,
            row.incident_id,
            [
                TimelineEntry(
                    kind=KIND_DELIVERED,
                    actor=ACTOR,
                    at=now,
                    message=f"Push notification reached the device of {name}",
                    data={
                        "notification_id": str(notification_id),
                        "staff_id": str(row.staff_id),
                        "channel": Channel.PUSH.value,
                    },
                )
            ],
        )
    return ReceiptResult(_OUTCOMES[decision.effect], notification_id, row.status, row.delivered_at)


#: What the decision means for the service worker's answer.
_OUTCOMES: dict[Effect, ReceiptOutcome] = {
    Effect.ADVANCED: ReceiptOutcome.DELIVERED,  # was sent, now delivered
    Effect.FILLED: ReceiptOutcome.ALREADY,  # read or answered: only the arrival time filled
    Effect.DUPLICATE: ReceiptOutcome.ALREADY,
    Effect.UNCHANGED: ReceiptOutcome.ALREADY,
    Effect.IGNORED: ReceiptOutcome.NOT_APPLICABLE,  # queued, failed or cancelled
    Effect.FAILED: ReceiptOutcome.NOT_APPLICABLE,  # a delivered receipt never fails a row
}
