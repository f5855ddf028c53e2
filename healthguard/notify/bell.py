"""The notification bell: a person's notifications as a nurse reads them, and "Mark read".

Two parts:

- pure (no I/O, the clock and time zone passed in): :func:`bell_snapshot` turns
  ``healthguard.notify.service.my_notifications`` into the bell's rows, one per alarm
  (incident), newest first, with the priority in words and its IEC 60601-1-8 colour, the
  channels and each one's state (sent, delivered, read, answered, failed) and the time in the
  hospital's local time; the unread count is of alarms (incidents with an unread
  notification), the highest unread priority, and the key of the newest unread P0/P1 (the
  browser sounds the alarm tone once per key);
- :func:`mark_my_notifications_read`, the one service function behind the bell's "Mark
  read" / "Mark all read" and ``POST /api/v1/notifications/{id}/read`` /
  ``POST /api/v1/notifications/mine/read-all``: it marks only the caller's own notifications
  read (anybody else's id: :class:`NotYours`, nothing changed), through the receipts' "never
  backwards" decision (``healthguard.notify.receipts.apply_receipt`` with a ``read``
  receipt: an answered notification stays answered), writes one ``notification.read``
  timeline entry per incident, and once the transaction commits publishes
  ``notification.read`` for the person so every browser of theirs updates.

A notification that reached the person on several channels (in-app, push, SMS) is one alarm:
"Mark read" on the alarm marks all of its unread notifications read. Notifications are
secondary alarms; the bedside monitor stays the primary alarm.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from healthguard.db import after_commit
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.incidents.timeline import write_entries
from healthguard.models.notifications import Channel, Notification, NotificationStatus
from healthguard.notify import delivery
from healthguard.notify.contacts import load_person
from healthguard.notify.receipts import NotificationState, Receipt, ReceiptKind, apply_receipt
from healthguard.notify.service import UNREAD_STATUSES, MyNotificationRow, MyNotifications
from healthguard.realtime.events import ChangeEvent

__all__ = [
    "MAX_ITEMS",
    "TONE_PRIORITIES",
    "BellItem",
    "BellSnapshot",
    "MarkedRead",
    "NotYours",
    "bell_snapshot",
    "local_time",
    "mark_my_notifications_read",
]

#: The bell lists at most this many alarms (the newest).
MAX_ITEMS = 20
#: Priorities whose new unread notification sounds the alarm tone in the browser.
TONE_PRIORITIES = frozenset({"P0", "P1"})
KIND_READ = "notification.read"

CHANNEL_WORDS = {
    "in_app": "in-app",
    "push": "push",
    "sms": "SMS",
    "voice": "voice call",
    "email": "email",
    "pager": "pager",
}
INCIDENT_STATUS_WORDS = {
    "triggered": "Not acknowledged",
    "acknowledged": "Acknowledged",
    "in_progress": "In progress",
    "resolved": "Resolved",
    "closed": "Closed",
}


@dataclass
class BellItem:
    """One alarm in the bell: an incident and my notifications about it."""

    incident_id: str = ""
    number: int = 0
    title: str = ""
    priority: str = ""
    priority_label: str = ""  # "P1 Emergency": the priority in words, never colour alone
    colour: str = "cyan"  # IEC 60601-1-8: red (P0/P1), yellow (P2), cyan (P3/P4)
    flashing: bool = False
    where: str = ""  # "ICU · bed 4 · J.S." (patient initials only, when known)
    channels: str = ""  # "in-app: delivered · SMS: sent · push: failed"
    status: str = ""  # "Unread", "Read", "You answered: acknowledge", "Not delivered"
    incident_status: str = ""  # "Not acknowledged", "Acknowledged"...
    at: str = ""  # the newest notification's time, hospital local time
    unread: bool = False


@dataclass(frozen=True)
class BellSnapshot:
    unread: int  # alarms (incidents) with an unread notification
    unread_notifications: int
    top_priority: str  # the highest unread priority, "" when nothing is unread
    # "<incident id>/<notification id>" of the newest unread P0/P1 notification, "" when
    # none (the browser sounds each key once, and an incident once per 20 s: assets/bell.js)
    tone_key: str
    items: list[BellItem] = field(default_factory=list)


def local_time(at: datetime, zone: ZoneInfo, now: datetime) -> str:
    """``14:32`` today (in the hospital's time zone), else ``3 Dec 14:32``."""
    local = at.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


def _when(row: MyNotificationRow) -> datetime:
    n = row.notification
    return n.sent_at or n.created_at


def _group_status(rows: Sequence[MyNotificationRow]) -> str:
    if any(r.unread for r in rows):
        return "Unread"
    answered = [r.notification.answer for r in rows if r.notification.answer]
    if answered:
        return f"You answered: {answered[0]}"
    if any(r.notification.read_at is not None for r in rows):
        return "Read"
    if all(r.notification.status == NotificationStatus.FAILED.value for r in rows):
        return "Not delivered"
    return "Closed"  # cancelled before it reached you


def _channels(rows: Sequence[MyNotificationRow]) -> str:
    """Each channel once (its newest notification's state), newest first."""
    seen: dict[str, str] = {}
    for r in rows:
        word = CHANNEL_WORDS.get(r.notification.channel, r.notification.channel)
        seen.setdefault(word, r.notification.status)
    return " · ".join(f"{word}: {status}" for word, status in seen.items())


def bell_snapshot(
    found: MyNotifications,
    zone: ZoneInfo,
    now: datetime,
    patients: Mapping[str, str] | None = None,
) -> BellSnapshot:
    """The bell from ``my_notifications`` (rows newest first): one item per incident, at most
    MAX_ITEMS; ``patients``: incident id -> patient initials, where known."""
    patients = patients or {}
    groups: dict[uuid.UUID, list[MyNotificationRow]] = {}
    for row in found.rows:
        groups.setdefault(row.incident.id, []).append(row)
    items: list[BellItem] = []
    for rows in list(groups.values())[:MAX_ITEMS]:
        first = rows[0]
        incident = first.incident
        style = PRIORITY_STYLES.get(incident.priority, PRIORITY_STYLES["P4"])
        where = [
            first.ward or "Hospital-wide",
            f"bed {first.bed}" if first.bed else "",
            patients.get(str(incident.id), ""),
        ]
        unread = any(r.unread for r in rows)
        items.append(
            BellItem(
                incident_id=str(incident.id),
                number=int(incident.number or 0),
                title=incident.title,
                priority=incident.priority,
                priority_label=style.label,
                colour=style.colour,
                flashing=style.flashing and unread,
                where=" · ".join(p for p in where if p),
                channels=_channels(rows),
                status=_group_status(rows),
                incident_status=INCIDENT_STATUS_WORDS.get(incident.status, incident.status),
                at=local_time(max(_when(r) for r in rows), zone, now),
                unread=unread,
            )
        )
    tone = next(
        (
            f"{r.incident.id}/{r.notification.id}"
            for r in found.rows
            if r.unread and r.incident.priority in TONE_PRIORITIES
        ),
        "",
    )
    return BellSnapshot(
        unread=found.unread_incidents,
        unread_notifications=found.unread,
        top_priority=found.highest_unread_priority or "",
        tone_key=tone,
        items=items,
    )


# --- Mark read ----------------------------------------------------------------------------------


class NotYours(LookupError):
    """Some of the notifications (or the incident) are not the caller's: nothing changed."""


@dataclass(frozen=True)
class MarkedRead:
    marked: int  # notifications newly marked read
    incident_ids: list[uuid.UUID]  # the incidents they were about


def _unread(row: Notification) -> bool:
    return row.status in UNREAD_STATUSES and row.read_at is None and row.answered_at is None


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


def _publish_after_commit(session: Session, staff_id: uuid.UUID) -> None:
    event = ChangeEvent(kind=KIND_READ, entity_id=str(staff_id))

    def send() -> None:
        from healthguard.realtime import publish_change
        from workers.queues import redis_connection

        publish_change(redis_connection(), event)

    after_commit(session, send)


def mark_my_notifications_read(
    session: Session,
    staff_id: uuid.UUID,
    now: datetime,
    *,
    notification_ids: Sequence[uuid.UUID] | None = None,
    incident_id: uuid.UUID | None = None,
) -> MarkedRead:
    """Mark the person's own notifications read: these ``notification_ids`` (each must be
    theirs), or all of theirs about ``incident_id`` (they must have one), or every unread one
    of theirs (neither given). Only unread ones change (sent or delivered, neither read nor
    answered); the status moves by the receipts' rule and never backwards. Raises
    :class:`NotYours` naming what is not theirs, before changing anything. The caller
    commits; the change event is published after the commit."""
    if notification_ids is not None and incident_id is not None:
        raise ValueError("give notification_ids or incident_id, not both")
    mine = col(Notification.staff_id) == staff_id
    stmt = select(Notification).where(mine).order_by(col(Notification.created_at))
    if notification_ids is not None:
        wanted = set(notification_ids)
        rows = list(session.exec(stmt.where(col(Notification.id).in_(wanted)).with_for_update()))
        missing = wanted - {r.id for r in rows}
        if missing:
            names = ", ".join(sorted(str(m) for m in missing))
            raise NotYours(f"notification_id: no such notification of yours ({names})")
    elif incident_id is not None:
        rows = list(
            session.exec(stmt.where(col(Notification.incident_id) == incident_id).with_for_update())
        )
        if not rows:
            raise NotYours(f"incident_id: you have no notification about incident {incident_id}")
    else:
        rows = list(
            session.exec(
                stmt.where(
                    col(Notification.status).in_(UNREAD_STATUSES),
                    col(Notification.read_at).is_(None),
                    col(Notification.answered_at).is_(None),
                ).with_for_update()
            )
        )
    person = load_person(session, staff_id)
    name = person.name if person is not None else str(staff_id)
    by_incident: dict[uuid.UUID, list[Notification]] = {}
    for row in rows:
        if not _unread(row):
            continue
        decision = apply_receipt(
            _state(row), Receipt(ReceiptKind.READ), channel=row.channel, person=name, now=now
        )
        if not decision.changed:
            continue
        new = decision.state
        if row.channel != Channel.IN_APP.value:
            # Seen in the app proves the in-app delivery only, not the SMS's or the pager's.
            new = replace(new, delivered_at=row.delivered_at)
        row.status, row.read_at, row.delivered_at = new.status, new.read_at, new.delivered_at
        session.add(row)
        by_incident.setdefault(row.incident_id, []).append(row)
    for incident, marked in by_incident.items():
        labels = ", ".join(dict.fromkeys(CHANNEL_WORDS.get(r.channel, r.channel) for r in marked))
        entry = delivery.timeline_entry(
            KIND_READ,
            now,
            f"{name} marked the alarm read in HealthGuard ({labels})",
            staff_id=str(staff_id),
            notification_ids=[str(r.id) for r in marked],
            via="app",
        )
        write_entries(session, incident, [entry])
    if by_incident:
        session.flush()
        _publish_after_commit(session, staff_id)
    count = sum(len(v) for v in by_incident.values())
    return MarkedRead(count, list(by_incident))
