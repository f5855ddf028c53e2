"""The notify service: "notify these people about this incident" -> tracked notifications.

One function per action, each taking the caller's session (the caller commits; nothing here
commits), so the rows, their timeline entries and the change that caused them are one
transaction:

- ``notify_people``: plan each person's deliveries (``rules.plan_deliveries`` on their
  contact methods, notification rules and time zone, ``healthguard.notify.contacts``), insert
  one ``Notification`` per planned delivery (status queued, ``due_at``), write one timeline
  entry per person, and once the transaction commits enqueue ``workers.notify.deliver`` on
  the ``alerts`` queue (at once when due now, else through rq-scheduler at ``due_at``).
  Idempotent: rows are inserted with ``ON CONFLICT DO NOTHING`` on the unique
  ``(escalation_key, staff_id, channel, attempt)``, so the same ``key`` twice creates nothing
  (and writes no second timeline entry).
- ``cancel_pending``: the incident was acknowledged or resolved: every queued notification
  not yet being sent is cancelled (reminders survive an acknowledgement, not a resolution).
- ``mark_read`` / ``mark_answered``: the person saw / answered; answering stops their
  pending deliveries for that incident.
- ``my_notifications``: a person's own list and unread counts (``GET
  /api/v1/notifications/mine`` reads it).

Notifications are secondary alarms: the bedside monitor stays the primary alarm. A person
nothing outside the app can reach still gets the in-app notification and the timeline says
so ("in-app only"), so the escalation can move on.

Conventions kept in the rows (no extra columns):

- ``reason`` starts with ``REMINDER_PREFIX`` for a reminder (``reminder=True``): an
  acknowledged incident does not cancel it, a resolved one does;
- a rule that uses the same channel twice for one person (SMS at 0 s and again at 300 s)
  stores the later occurrences under ``<key>~2``, ``<key>~3`` (the unique key has no room for
  a second attempt 1 on the same channel).

Timeline kinds written here and by ``healthguard.notify.delivery`` start with
``notification.`` (``healthguard.incidents.metrics`` counts the distinct ``notification_id``
of their data as the incident's notifications, so only entries about a send attempt carry
that key; plans and cancellations use ``notification_ids``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col

from healthguard.db import after_commit
from healthguard.incidents.lifecycle import TimelineEntry
from healthguard.incidents.timeline import write_entries
from healthguard.models.hospital import Bed, Ward
from healthguard.models.incidents import DONE_STATUSES, Incident
from healthguard.models.notifications import Channel, Notification, NotificationStatus
from healthguard.models.staff import Staff
from healthguard.notify.contacts import load_person
from healthguard.notify.rules import DeliveryPlan, PlannedDelivery, plan_deliveries

__all__ = [
    "ACTOR",
    "DELIVER_FUNC",
    "KIND_CANCELLED",
    "KIND_PLANNED",
    "KIND_UNREACHABLE",
    "REMINDER_PREFIX",
    "MyNotificationRow",
    "MyNotifications",
    "Recipient",
    "alerts_queue_name",
    "cancel_pending",
    "delivery_job_id",
    "describe_schedule",
    "enqueue_delivery",
    "is_reminder",
    "mark_answered",
    "mark_read",
    "my_notifications",
    "notification_rows",
    "notify_people",
]

log = logging.getLogger(__name__)

ACTOR = "system"
DELIVER_FUNC = "workers.notify.deliver"
REMINDER_PREFIX = "Reminder: "
KIND_PLANNED = "notification.planned"
KIND_UNREACHABLE = "notification.unreachable"
KIND_CANCELLED = "notification.cancelled"
KIND_READ = "notification.read"
KIND_ANSWERED = "notification.answered"
ANSWERS = ("acknowledge", "escalate", "decline")
#: RQ keeps a finished delivery job's result this long (seconds); the row is the record.
JOB_RESULT_TTL = 60

_REASON_MAX = 500
_SHORT_LABELS: dict[Channel, str] = {
    Channel.IN_APP: "in-app",
    Channel.PUSH: "push",
    Channel.SMS: "SMS",
    Channel.VOICE: "voice call",
    Channel.EMAIL: "email",
    Channel.PAGER: "pager",
}


@dataclass(frozen=True)
class Recipient:
    """A person to notify and why ("charge nurse on shift in ICU")."""

    staff_id: uuid.UUID
    reason: str


def is_reminder(notification: Notification) -> bool:
    return notification.reason.startswith(REMINDER_PREFIX)


def alerts_queue_name() -> str:
    """The RQ queue of notification deliveries (``workers.queues.ALERTS``)."""
    from workers.queues import ALERTS

    return ALERTS


def delivery_job_id(notification_id: uuid.UUID | str) -> str:
    """The RQ job id of a notification's delivery (RQ ids take no ``:``)."""
    return f"notify-deliver-{notification_id}"


def enqueue_delivery(
    notification_id: uuid.UUID,
    due_at: datetime | None,
    now: datetime,
    job_id: str | None = None,
) -> None:
    """Put ``workers.notify.deliver(notification_id)`` on the alerts queue: at once when it is
    due (at ``now`` or before, or before the wall clock), else as a timed job at ``due_at``
    (``workers.queues.schedule_jobs``: rq-scheduler, precise to the millisecond). Call after
    the commit that stored the row (``after_commit``). ``job_id``: default
    ``delivery_job_id``; give another one to run a row again while its first job may still
    be scheduled or running."""
    from workers.queues import TimedJob, get_queue, schedule_jobs

    job_id = job_id or delivery_job_id(notification_id)
    if due_at is None or due_at <= max(now, datetime.now(UTC)):
        get_queue(alerts_queue_name()).enqueue(
            DELIVER_FUNC, str(notification_id), job_id=job_id, result_ttl=JOB_RESULT_TTL
        )
    else:
        schedule_jobs(
            [TimedJob(job_id, DELIVER_FUNC, (str(notification_id),), due_at, alerts_queue_name())]
        )


def _unschedule(ids: Sequence[uuid.UUID]) -> None:
    """Forget the timed jobs of cancelled notifications (optional: a job that runs anyway
    finds its row cancelled and does nothing)."""
    from workers.queues import cancel_jobs

    try:
        cancel_jobs([delivery_job_id(i) for i in ids])
    except Exception:
        log.warning("could not unschedule %d cancelled notification job(s)", len(ids))


def _enqueue_all(items: list[tuple[uuid.UUID, datetime | None]], now: datetime) -> None:
    for notification_id, due_at in items:
        try:
            enqueue_delivery(notification_id, due_at, now)
        except Exception:  # the sweep (workers.notify.sweep_due) sends it a moment later
            log.exception("could not enqueue notification %s; the sweep will", notification_id)


def _clip(text: str, limit: int = _REASON_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _seconds(delta: timedelta) -> str:
    return f"{round(delta.total_seconds())} s"  # timers are in seconds (DESIGN.md)


def describe_schedule(deliveries: Sequence[PlannedDelivery], now: datetime) -> str:
    """ "in-app + push now, SMS at 30 s, voice call at 60 s"."""
    groups: dict[timedelta, list[str]] = {}
    for d in deliveries:
        label = _SHORT_LABELS[d.channel]
        names = groups.setdefault(max(timedelta(0), d.due_at - now), [])
        if label not in names:
            names.append(label)
    parts = []
    for offset in sorted(groups):
        joined = " + ".join(groups[offset])
        parts.append(
            f"{joined} now" if offset == timedelta(0) else f"{joined} at {_seconds(offset)}"
        )
    return ", ".join(parts)


def _row_keys(key: str, deliveries: Sequence[PlannedDelivery]) -> list[str]:
    seen: dict[Channel, int] = {}
    keys = []
    for d in deliveries:
        seen[d.channel] = seen.get(d.channel, 0) + 1
        n = seen[d.channel]
        keys.append(key if n == 1 else f"{key}~{n}")
    return keys


def _insert(session: Session, rows: list[dict[str, Any]]) -> list[tuple[uuid.UUID, datetime]]:
    if not rows:
        return []
    table = Notification.__table__  # type: ignore[attr-defined]
    stmt = (
        pg_insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["escalation_key", "staff_id", "channel", "attempt"])
        .returning(table.c.id, table.c.due_at)
    )
    return [(row[0], row[1]) for row in session.execute(stmt).all()]


def _plan_entry(
    name: str,
    recipient: Recipient,
    plan: DeliveryPlan,
    now: datetime,
    ids: list[uuid.UUID],
    key: str,
    reminder: bool,
    rules_problem: str | None,
) -> TimelineEntry:
    who = f"{name} ({recipient.reason})" if recipient.reason else name
    verb = "Reminded" if reminder else "Notified"
    data: dict[str, Any] = {
        "staff_id": str(recipient.staff_id),
        "notification_ids": [str(i) for i in ids],
        "escalation_key": key,
        "channels": [
            {"channel": d.channel.value, "due_at": d.due_at.isoformat()} for d in plan.deliveries
        ],
        "skipped": [s.reason for s in plan.skipped],
        "reminder": reminder,
    }
    if plan.unreachable:
        message = f"{verb} {who}: in-app only: {plan.unreachable_reason}"
        kind = KIND_UNREACHABLE
        data["unreachable"] = True
    else:
        message = f"{verb} {who}: {describe_schedule(plan.deliveries, now)}"
        kind = KIND_PLANNED
        if plan.quiet_hours_applied:
            message += " (quiet hours: in-app only for the rest)"
        if plan.quiet_hours_bypassed:
            message += f" (quiet hours bypassed for {plan.priority})"
    if rules_problem:
        message += f"; {rules_problem}"
    return TimelineEntry(kind=kind, actor=ACTOR, at=now, message=message, data=data)


def notify_people(
    session: Session,
    incident: Incident,
    recipients: Sequence[Recipient],
    *,
    key: str,
    now: datetime,
    reminder: bool = False,
) -> list[uuid.UUID]:
    """Plan and queue the notifications of ``recipients`` about ``incident`` (see the module
    docstring). ``key``: the idempotency key of this notification (the escalation step's
    ``Notify.key``). Returns the ids of the notifications created now (none on a repeat)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    created: list[uuid.UUID] = []
    to_enqueue: list[tuple[uuid.UUID, datetime | None]] = []
    entries: list[TimelineEntry] = []
    seen: set[uuid.UUID] = set()
    for recipient in recipients:
        if recipient.staff_id in seen:
            continue
        seen.add(recipient.staff_id)
        person = load_person(session, recipient.staff_id)
        if person is None:
            log.warning("notify: staff %s not found (key %s)", recipient.staff_id, key)
            entries.append(
                TimelineEntry(
                    kind=KIND_UNREACHABLE,
                    actor=ACTOR,
                    at=now,
                    message=f"Could not notify staff {recipient.staff_id}: no such person",
                    data={"staff_id": str(recipient.staff_id), "escalation_key": key},
                )
            )
            continue
        plan = plan_deliveries(
            person.rules, person.contacts, incident.priority, now, person.time_zone
        )
        prefix = REMINDER_PREFIX if reminder else ""
        rows = [
            {
                "id": uuid.uuid4(),
                "incident_id": incident.id,
                "staff_id": recipient.staff_id,
                "channel": d.channel.value,
                "status": NotificationStatus.QUEUED.value,
                "attempt": 1,
                "created_at": now,
                "escalation_key": row_key,
                "due_at": d.due_at,
                "reason": _clip(f"{prefix}{recipient.reason}; {d.reason}"),
            }
            for d, row_key in zip(plan.deliveries, _row_keys(key, plan.deliveries), strict=True)
        ]
        inserted = _insert(session, rows)
        if not inserted:
            continue  # this key was handled before: nothing new, nothing to say
        ids = [i for i, _ in inserted]
        created.extend(ids)
        to_enqueue.extend(inserted)
        entries.append(
            _plan_entry(person.name, recipient, plan, now, ids, key, reminder, person.rules_problem)
        )
    if entries:
        write_entries(session, incident.id, entries)
    if to_enqueue:
        items = sorted(to_enqueue, key=lambda item: item[1] or now)
        after_commit(session, lambda: _enqueue_all(items, now))
    return created


_CANCEL = sa.text(
    """
    UPDATE notifications AS n
       SET status = 'cancelled', error = :error
     WHERE n.id IN (
           SELECT id FROM notifications
            WHERE incident_id = :incident_id
              AND status = 'queued'
              AND (:include_reminders OR reason NOT LIKE :reminder_like)
              AND (CAST(:staff_id AS uuid) IS NULL OR staff_id = CAST(:staff_id AS uuid))
            FOR UPDATE SKIP LOCKED)
    RETURNING n.id, n.channel
    """
)


def _cancel(
    session: Session,
    incident_id: uuid.UUID,
    *,
    error: str,
    include_reminders: bool,
    staff_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, str]]:
    rows = session.execute(
        _CANCEL,
        {
            "error": _clip(error),
            "incident_id": incident_id,
            "include_reminders": include_reminders,
            "reminder_like": REMINDER_PREFIX.replace("%", r"\%") + "%",
            "staff_id": str(staff_id) if staff_id else None,
        },
    ).all()
    return [(row[0], row[1]) for row in rows]


def _names(channels: Sequence[str]) -> str:
    """The channels' labels, each once, in the order of ``Channel``."""
    order = list(Channel)
    found = sorted({Channel(c) for c in channels}, key=order.index)
    return ", ".join(_SHORT_LABELS[c] for c in found)


def cancel_pending(
    session: Session,
    incident_id: uuid.UUID,
    *,
    now: datetime,
    reason: str,
    include_reminders: bool | None = None,
) -> int:
    """Cancel the incident's queued notifications that are not being sent right now (rows
    locked by a delivery job are left to it: it re-reads the incident and cancels itself).
    ``reason``: "the incident was acknowledged by jones". Reminders are kept unless the
    incident is resolved or closed (``include_reminders`` overrides). One timeline entry
    when anything was cancelled. Returns how many were cancelled."""
    if include_reminders is None:
        status = session.execute(
            sa.select(sa.column("status"))
            .select_from(sa.table("incidents"))
            .where(sa.column("id") == incident_id)
        ).scalar_one_or_none()
        include_reminders = status in DONE_STATUSES
    cancelled = _cancel(
        session, incident_id, error=f"Cancelled: {reason}", include_reminders=include_reminders
    )
    if cancelled:
        cancelled_ids = [i for i, _ in cancelled]
        after_commit(session, lambda: _unschedule(cancelled_ids))
        count = len(cancelled)
        plural = "s" if count > 1 else ""
        write_entries(
            session,
            incident_id,
            [
                TimelineEntry(
                    kind=KIND_CANCELLED,
                    actor=ACTOR,
                    at=now,
                    message=(
                        f"{reason}: {count} pending notification{plural} cancelled "
                        f"({_names([c for _, c in cancelled])})"
                    ),
                    data={"notification_ids": [str(i) for i, _ in cancelled], "reason": reason},
                )
            ],
        )
    return len(cancelled)


def _owned(session: Session, notification_id: uuid.UUID, staff_id: uuid.UUID) -> Notification:
    row = session.get(Notification, notification_id, with_for_update=True)
    if row is None or row.staff_id != staff_id:
        raise LookupError(f"notification {notification_id} not found for this person")
    return row


_SEEN = (
    NotificationStatus.SENT.value,
    NotificationStatus.DELIVERED.value,
)


def mark_read(
    session: Session, notification_id: uuid.UUID, staff_id: uuid.UUID, now: datetime
) -> bool:
    """The person saw the notification (opened it in the app, a read receipt). False when it
    was read already; ``LookupError`` when it is not theirs."""
    row = _owned(session, notification_id, staff_id)
    if row.read_at is not None:
        return False
    row.read_at = now
    if row.status in _SEEN:
        row.status = NotificationStatus.READ.value
    session.add(row)
    session.flush()
    return True


def mark_answered(
    session: Session, incident_id: uuid.UUID, staff_id: uuid.UUID, answer: str, now: datetime
) -> int:
    """The person answered (``acknowledge``, ``escalate`` or ``decline``; by link, SMS reply
    or in the app): their notifications of the incident that reached them are marked
    answered and their pending ones cancelled (the stop rule), with one timeline entry.
    The action itself (acknowledging...) is the incident service's. Returns how many
    notifications were marked answered."""
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(ANSWERS)}")
    answered = session.execute(
        sa.update(Notification)
        .where(
            col(Notification.incident_id) == incident_id,
            col(Notification.staff_id) == staff_id,
            col(Notification.answered_at).is_(None),
            col(Notification.status).in_([*_SEEN, NotificationStatus.READ.value]),
        )
        .values(
            status=NotificationStatus.ANSWERED.value,
            answered_at=now,
            answer=answer,
            read_at=sa.func.coalesce(col(Notification.read_at), now),
        )
        .returning(col(Notification.id))
    ).all()
    cancelled = _cancel(
        session,
        incident_id,
        error=f"Cancelled: the person answered ({answer})",
        include_reminders=True,
        staff_id=staff_id,
    )
    if cancelled:
        cancelled_ids = [i for i, _ in cancelled]
        after_commit(session, lambda: _unschedule(cancelled_ids))
    if answered or cancelled:
        staff = session.get(Staff, staff_id)
        message = f"{staff.display_name if staff else staff_id} answered: {answer}"
        if cancelled:
            message += (
                f": {len(cancelled)} pending notification{'s' if len(cancelled) > 1 else ''} "
                f"to them cancelled ({_names([c for _, c in cancelled])})"
            )
        write_entries(
            session,
            incident_id,
            [
                TimelineEntry(
                    kind=KIND_ANSWERED,
                    actor=ACTOR,
                    at=now,
                    message=message,
                    data={
                        "staff_id": str(staff_id),
                        "answer": answer,
                        "answered_ids": [str(r[0]) for r in answered],
                        "notification_ids": [str(i) for i, _ in cancelled],
                    },
                )
            ],
        )
    return len(answered)


# --- a person's own notifications (GET /api/v1/notifications/mine) ------------------------------

#: Statuses of a notification that reached the person and that they have not opened yet.
UNREAD_STATUSES = (NotificationStatus.SENT.value, NotificationStatus.DELIVERED.value)


@dataclass(frozen=True)
class MyNotificationRow:
    """One notification with its incident, the incident's ward code and bed label."""

    notification: Notification
    incident: Incident
    ward: str | None
    bed: str | None

    @property
    def unread(self) -> bool:
        n = self.notification
        return n.status in UNREAD_STATUSES and n.read_at is None and n.answered_at is None


@dataclass(frozen=True)
class MyNotifications:
    unread: int  # notifications that reached the person and that they have not opened
    unread_incidents: int  # distinct incidents among those
    highest_unread_priority: str | None  # "P0".."P4", None when nothing is unread
    rows: list[MyNotificationRow]


def notification_rows() -> Any:
    """SELECT notification, incident, ward code, bed label (add the WHERE and ORDER BY)."""
    return (
        sa.select(Notification, Incident, col(Ward.code), col(Bed.label))
        .join(Incident, col(Incident.id) == col(Notification.incident_id))
        .join(Ward, col(Ward.id) == col(Incident.ward_id), isouter=True)
        .join(Bed, col(Bed.id) == col(Incident.bed_id), isouter=True)
    )


def my_notifications(
    session: Session, staff_id: uuid.UUID, *, limit: int = 50, unread_only: bool = False
) -> MyNotifications:
    """The person's notifications, newest first (queued ones, not sent yet, left out), and
    how many are unread (sent or delivered, neither opened nor answered): as notifications,
    as distinct incidents, and the highest unread priority (P0 is the highest)."""
    mine = col(Notification.staff_id) == staff_id
    unread = sa.and_(
        col(Notification.status).in_(UNREAD_STATUSES),
        col(Notification.read_at).is_(None),
        col(Notification.answered_at).is_(None),
    )
    count, incidents, highest = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(col(Notification.incident_id))),
            sa.func.min(col(Incident.priority)),  # "P0" < "P1" < ... < "P4"
        )
        .select_from(Notification)
        .join(Incident, col(Incident.id) == col(Notification.incident_id))
        .where(mine, unread)
    ).one()
    stmt = (
        notification_rows()
        .where(mine, col(Notification.status) != NotificationStatus.QUEUED.value)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    if unread_only:
        stmt = stmt.where(unread)
    rows = [MyNotificationRow(*row) for row in session.execute(stmt).all()]
    return MyNotifications(int(count), int(incidents), highest, rows)
