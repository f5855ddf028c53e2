"""The notification bell's pure parts (healthguard.notify.bell): one row per alarm, newest
first, each channel's state in words, patient initials where known, the priority in words
and its IEC 60601-1-8 colour, the tone key (newest unread P0/P1), hospital local times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from healthguard.models import Incident, Notification
from healthguard.notify.bell import MAX_ITEMS, bell_snapshot, local_time
from healthguard.notify.service import MyNotificationRow, MyNotifications

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 13:00 in London (BST)


def incident(priority: str, number: int, status: str = "triggered") -> Incident:
    return Incident(
        id=uuid.uuid4(), number=number, title=f"Alarm {number}", priority=priority, status=status
    )


def row(
    inc: Incident,
    channel: str = "in_app",
    status: str = "sent",
    minutes_ago: int = 0,
    answer: str | None = None,
    ward: str | None = "ICU",
    bed: str | None = "4",
) -> MyNotificationRow:
    at = NOW - timedelta(minutes=minutes_ago)
    n = Notification(
        id=uuid.uuid4(),
        incident_id=inc.id,
        staff_id=uuid.uuid4(),
        channel=channel,
        status=status,
        created_at=at,
        sent_at=at,
        read_at=at if status in ("read", "answered") else None,
        answered_at=at if answer else None,
        answer=answer,
    )
    return MyNotificationRow(n, inc, ward, bed)


def found(rows: list[MyNotificationRow]) -> MyNotifications:
    unread = [r for r in rows if r.unread]
    highest = min((r.incident.priority for r in unread), default=None)
    return MyNotifications(len(unread), len({r.incident.id for r in unread}), highest, rows)


def test_one_row_per_alarm_newest_first_with_each_channels_state() -> None:
    p1, p3 = incident("P1", 12), incident("P3", 13)
    rows = [
        row(p3, "push", minutes_ago=1, ward=None, bed=None),
        row(p1, "sms", status="delivered", minutes_ago=2),
        row(p1, "in_app", minutes_ago=3),
        row(p1, "email", status="read", minutes_ago=4),
        row(p1, "pager", status="failed", minutes_ago=5),
    ]
    snap = bell_snapshot(found(rows), LONDON, NOW, {str(p1.id): "J.S."})

    assert (snap.unread, snap.unread_notifications, snap.top_priority) == (2, 3, "P1")
    assert [i.number for i in snap.items] == [13, 12]
    newest, alarm = snap.items
    assert newest.where == "Hospital-wide" and newest.colour == "cyan"
    assert not newest.flashing  # low priority: cyan, steady
    assert alarm.priority_label == "P1 Emergency" and alarm.colour == "red" and alarm.flashing
    assert alarm.where == "ICU · bed 4 · J.S."
    assert alarm.channels == "SMS: delivered · in-app: sent · email: read · pager: failed"
    assert alarm.status == "Unread" and alarm.unread
    assert alarm.incident_status == "Not acknowledged"
    assert alarm.at == "12:58"  # the newest of its notifications, in London time
    # The tone follows the newest unread P0/P1 notification, not the newest one (a P3).
    assert snap.tone_key == f"{rows[1].incident.id}/{rows[1].notification.id}"


def test_no_tone_and_no_flashing_once_read() -> None:
    p2, p1 = incident("P2", 1), incident("P1", 2)
    snap = bell_snapshot(found([row(p2), row(p1, status="read")]), LONDON, NOW)
    assert snap.tone_key == ""
    assert [(i.status, i.colour, i.flashing) for i in snap.items] == [
        ("Unread", "yellow", True),
        ("Read", "red", False),
    ]
    assert snap.top_priority == "P2"


def test_words_for_answered_failed_and_cancelled_alarms() -> None:
    answered, failed, cancelled = (
        incident("P1", 1, "acknowledged"),
        incident("P2", 2),
        incident("P3", 3, "resolved"),
    )
    rows = [
        row(answered, status="answered", answer="acknowledge"),
        row(failed, "sms", status="failed"),
        row(cancelled, "sms", status="cancelled"),
    ]
    items = bell_snapshot(found(rows), LONDON, NOW).items
    assert [(i.status, i.incident_status, i.unread) for i in items] == [
        ("You answered: acknowledge", "Acknowledged", False),
        ("Not delivered", "Not acknowledged", False),
        ("Closed", "Resolved", False),
    ]


def test_nothing_unread_and_an_empty_list() -> None:
    snap = bell_snapshot(found([]), LONDON, NOW)
    assert (snap.unread, snap.top_priority, snap.tone_key, snap.items) == (0, "", "", [])


def test_the_list_is_capped() -> None:
    rows = [row(incident("P4", n), minutes_ago=n) for n in range(MAX_ITEMS + 5)]
    items = bell_snapshot(found(rows), LONDON, NOW).items
    assert len(items) == MAX_ITEMS and items[0].number == 0


def test_local_time_is_the_hospitals_with_the_date_when_not_today() -> None:
    assert local_time(NOW, LONDON, NOW) == "13:00"
    assert local_time(NOW - timedelta(days=1), LONDON, NOW) == "30 Jun 13:00"
    winter = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    assert local_time(winter, LONDON, winter) == "23:30"
    assert local_time(winter, ZoneInfo("Europe/Berlin"), winter) == "00:30"
