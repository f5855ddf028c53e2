"""Recording a delivery receipt: the adapter between a provider's report and a notification.

``record_receipt(session, channel, provider_message_id, receipt, now)``, in the caller's
transaction (the caller commits; ``session_scope`` does):

1. find the notification by ``(channel, provider_message_id)`` (index
   ``ix_notifications_channel_provider_message_id``) and lock it (``SELECT ... FOR UPDATE``:
   two copies of the same report wait for each other, the second sees the first's result);
   none: :class:`UnknownMessage` (the API answers 404 and logs it; nothing is dropped
   silently);
2. ``receipts.apply_receipt`` decides (pure): the new status and timestamps, the timeline
   text, the note;
3. store the new state and write the timeline entry (``notification.delivered``,
   ``notification.read``; a failure is written by ``delivery.handle_failure``);
4. a **failed** receipt drives the same retry / fall-back as a failed send
   (``delivery.handle_failure``: ``retry.next_step``, the next attempt or the next channel
   row, the timeline entry), unless the notification is no longer needed (the incident was
   acknowledged or resolved, or the person answered: then the failure is recorded and the
   timeline says nothing more is sent);
5. after the commit: the new delivery jobs are enqueued and a change event
   ``notification.<delivered|read|failed>`` (entity: the person's staff id, the same live
   path as the in-app channel's ``notification.created``) reloads the person's "my alarms"
   list.

The retry and fall-back need the delivery context (the channel registry and the retry
policies): pass ``context``, or the process's own (``workers.notify.delivery_context``) is
used.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session, col, select

from healthguard.db import after_commit
from healthguard.incidents.timeline import write_entries
from healthguard.models.incidents import Incident
from healthguard.models.notifications import Channel, Notification
from healthguard.notify import delivery
from healthguard.notify.contacts import PersonContacts, load_person
from healthguard.notify.receipts import (
    Effect,
    NotificationState,
    Receipt,
    ReceiptDecision,
    apply_receipt,
)
from healthguard.realtime import ChangeEvent, publish_change

__all__ = [
    "ReceiptOutcome",
    "UnknownMessage",
    "find_notification",
    "record_receipt",
]

log = logging.getLogger(__name__)


class UnknownMessage(LookupError):
    """No notification on this channel carries the provider's message id."""

    def __init__(self, channel: Channel, provider_message_ids: tuple[str, ...]):
        ids = ", ".join(repr(i) for i in provider_message_ids)
        super().__init__(f"No {channel.value} notification has the provider message id {ids}.")
        self.channel = channel
        self.provider_message_ids = provider_message_ids


@dataclass(frozen=True)
class ReceiptOutcome:
    """What a receipt did (for the provider's answer and the log)."""

    notification_id: uuid.UUID
    incident_id: uuid.UUID
    status: str  # the notification's status now
    effect: Effect
    note: str
    next_action: str | None = None  # retry, fall_back, give_up (failed receipts only)
    next_notification_id: uuid.UUID | None = None


def find_notification(
    session: Session, channel: Channel, provider_message_ids: tuple[str, ...]
) -> Notification | None:
    """The notification on ``channel`` whose provider message id is one of
    ``provider_message_ids`` (the first that matches, in that order), locked for update."""
    ids = [i for i in provider_message_ids if i]
    if not ids:
        return None
    rows = session.exec(
        select(Notification)
        .where(
            Notification.channel == channel.value,
            col(Notification.provider_message_id).in_(ids),
        )
        .order_by(col(Notification.created_at).desc())
        .with_for_update()
    ).all()
    by_id = {row.provider_message_id: row for row in reversed(rows)}  # newest wins a clash
    if len(rows) > len(by_id):
        log.warning("receipt: several %s notifications share a provider id in %s", channel, ids)
    return next((by_id[i] for i in ids if i in by_id), None)


def _state(row: Notification) -> NotificationState:
    return NotificationState(
        status=row.status,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        answered_at=row.answered_at,
        failed_at=row.failed_at,
        error=row.error,
    )


def _store(row: Notification, state: NotificationState) -> None:
    row.status = state.status
    row.delivered_at = state.delivered_at
    row.read_at = state.read_at
    row.failed_at = state.failed_at
    row.error = state.error[:2000] if state.error else state.error


def record_receipt(
    session: Session,
    channel: Channel | str,
    provider_message_id: str | tuple[str, ...],
    receipt: Receipt,
    now: datetime,
    *,
    context: delivery.DeliveryContext | None = None,
) -> ReceiptOutcome:
    """Apply ``receipt`` to the notification with this provider message id (module
    docstring). ``provider_message_id`` may be several candidates (a WCTP report names the
    page in more than one place). Raises :class:`UnknownMessage` when none matches."""
    channel = Channel(channel)
    ids = (provider_message_id,) if isinstance(provider_message_id, str) else provider_message_id
    row = find_notification(session, channel, ids)
    if row is None:
        raise UnknownMessage(channel, ids)
    person = load_person(session, row.staff_id)
    name = person.name if person is not None else "a person no longer on file"
    decision = apply_receipt(_state(row), receipt, channel=channel, person=name, now=now)
    outcome = ReceiptOutcome(
        row.id, row.incident_id, decision.state.status, decision.effect, decision.note
    )
    if not decision.changed:
        log.info(
            "receipt for notification %s (%s %s): %s",
            row.id,
            channel.value,
            receipt.provider_status or receipt.kind.value,
            decision.note,
        )
        return outcome

    _store(row, decision.state)
    session.add(row)
    assert decision.timeline is not None
    jobs: list[delivery.Job] = []
    if decision.effect is Effect.FAILED:
        outcome = _after_failure(session, row, decision, receipt, person, now, jobs, context)
    else:
        data = {
            "notification_id": str(row.id),
            "staff_id": str(row.staff_id),
            "channel": channel.value,
            "attempt": row.attempt,
            "provider_message_id": row.provider_message_id,
            "provider_status": receipt.provider_status,
            "reported_at": receipt.at.isoformat() if receipt.at else None,
        }
        kind = f"notification.{receipt.kind.value}"  # notification.delivered / .read
        entry = delivery.timeline_entry(kind, now, decision.timeline, **data)
        write_entries(session, row.incident_id, [entry])
    if jobs:
        delivery.enqueue_after_commit(session, context or _context(), jobs)
    _publish_after_commit(session, row.staff_id, decision.state.status, context)
    return outcome


def _context() -> delivery.DeliveryContext:
    from workers.notify import delivery_context

    return delivery_context()


def _after_failure(
    session: Session,
    row: Notification,
    decision: ReceiptDecision,
    receipt: Receipt,
    person: PersonContacts | None,
    now: datetime,
    jobs: list[delivery.Job],
    context: delivery.DeliveryContext | None,
) -> ReceiptOutcome:
    """The retry / fall-back of a failure the provider reported (``handle_failure``), or
    nothing more when the notification is no longer needed."""
    headline = decision.timeline or "failed"
    reason = receipt.reason or "failed"
    outcome = ReceiptOutcome(
        row.id, row.incident_id, decision.state.status, decision.effect, decision.note
    )
    incident = session.get(Incident, row.incident_id)
    stop = delivery.stop_reason(session, incident, row) if incident is not None else "it is gone"
    if stop is not None or incident is None:
        entry = delivery.timeline_entry(
            delivery.KIND_FAILED,
            now,
            f"{headline}. Nothing more is sent: {stop}",
            notification_id=str(row.id),
            staff_id=str(row.staff_id),
            channel=row.channel,
            attempt=row.attempt,
            error=reason[:300],
            action="none",
        )
        write_entries(session, row.incident_id, [entry])
        return outcome
    step = delivery.handle_failure(
        session,
        context or _context(),
        row,
        incident_id=incident.id,
        priority=incident.priority,
        person=person,
        error=reason,
        retryable=receipt.retryable,
        now=now,
        enqueue=jobs,
        headline=headline,
    )
    return replace(
        outcome,
        next_action=step.action.value,
        next_notification_id=jobs[0][0] if jobs else None,
    )


def _publish_after_commit(
    session: Session,
    staff_id: uuid.UUID,
    status: str,
    context: delivery.DeliveryContext | None,
) -> None:
    event = ChangeEvent(kind=f"notification.{status}", entity_id=str(staff_id))

    def send() -> None:
        client = context.redis if context is not None else _context().redis
        publish_change(client, event)

    after_commit(session, send)
