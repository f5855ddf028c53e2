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

A status never moves backwards: only a ``sent`` push notification becomes ``delivered``
(a single ``UPDATE ... WHERE status = 'sent'``, so a receipt racing an answer cannot undo
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

import sqlalchemy as sa
from sqlmodel import Session, col

from healthguard.incidents.lifecycle import TimelineEntry
from healthguard.incidents.timeline import write_entries
from healthguard.models import Staff
from healthguard.models.notifications import Channel, Notification, NotificationStatus
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
#: States after ``sent`` in which the message evidently reached the person.
_LATER = (
    NotificationStatus.DELIVERED.value,
    NotificationStatus.READ.value,
    NotificationStatus.ANSWERED.value,
)


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
    ``LookupError`` when there is no such push notification. The caller commits."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    is_push = sa.and_(
        col(Notification.id) == notification_id, col(Notification.channel) == Channel.PUSH.value
    )
    moved = session.execute(
        sa.update(Notification)
        .where(is_push, col(Notification.status) == NotificationStatus.SENT.value)
        .values(status=NotificationStatus.DELIVERED.value, delivered_at=now)
        .returning(col(Notification.incident_id), col(Notification.staff_id))
        .execution_options(synchronize_session=False)
    ).first()
    if moved is not None:
        incident_id, staff_id = moved
        staff = session.get(Staff, staff_id)
        name = staff.display_name if staff is not None else "the person"
        write_entries(
            session,
            incident_id,
            [
                TimelineEntry(
                    kind=KIND_DELIVERED,
                    actor=ACTOR,
                    at=now,
                    message=f"Push notification reached the device of {name}",
                    data={
                        "notification_id": str(notification_id),
                        "staff_id": str(staff_id),
                        "channel": Channel.PUSH.value,
                    },
                )
            ],
        )
        return ReceiptResult(
            ReceiptOutcome.DELIVERED, notification_id, NotificationStatus.DELIVERED.value, now
        )
    # Already further along: keep the status, fill in a missing delivered_at only.
    session.execute(
        sa.update(Notification)
        .where(
            is_push,
            col(Notification.status).in_(_LATER),
            col(Notification.delivered_at).is_(None),
        )
        .values(delivered_at=now)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(
        sa.select(col(Notification.status), col(Notification.delivered_at)).where(is_push)
    ).first()
    if row is None:
        raise LookupError(f"no push notification {notification_id}")
    status, delivered_at = row
    outcome = ReceiptOutcome.ALREADY if status in _LATER else ReceiptOutcome.NOT_APPLICABLE
    return ReceiptResult(outcome, notification_id, status, delivered_at)
