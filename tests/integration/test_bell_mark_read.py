"""Mark read, on a real Postgres and Redis: ``mark_my_notifications_read`` (the bell's and the
API's one function) marks only the caller's own notifications read, through the receipts'
never-backwards rule (an answered one stays answered), writes one ``notification.read``
timeline entry per incident, publishes ``notification.read`` for the person after the
commit; someone else's id is refused with nothing changed. The feed the bell shows
(``load_my_feed``) counts the same as ``GET /api/v1/notifications/mine``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from authsupport import CheckedClient, bearer, fresh_tokens, open_incident_in, record_notification
from sqlmodel import Session, col, select

from healthguard.api import build_api
from healthguard.db import get_engine, session_scope
from healthguard.models import IncidentEvent, Notification, Staff, User, Ward
from healthguard.notify.bell import NotYours, mark_my_notifications_read
from healthguard.realtime.events import ChangeEvent
from healthguard.settings import get_settings
from healthguard.ui.states.my_alarms import load_my_feed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(build_api()) as c:
        yield c


@pytest.fixture
def changes(seeded: dict[str, int], redis_url: str) -> Iterator[Any]:
    """A subscription to the realtime channel, made before anything is marked."""
    conn = redis.Redis.from_url(redis_url)
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(get_settings().realtime_channel)
    confirm = pubsub.get_message(timeout=5)
    assert confirm is None or confirm["type"] == "subscribe"
    yield pubsub
    pubsub.close()
    conn.close()


def events_for(pubsub: Any, staff_id: uuid.UUID, timeout: float = 10.0) -> list[ChangeEvent]:
    """The change events about this person, waiting up to ``timeout`` for the first."""
    found: list[ChangeEvent] = []
    message = pubsub.get_message(timeout=timeout)
    while message is not None:
        event = ChangeEvent.from_json(message["data"])
        if event.entity_id == str(staff_id):
            found.append(event)
        message = pubsub.get_message(timeout=0.2 if found else timeout)
    return found


def person() -> tuple[uuid.UUID, str]:
    """A fresh nurse with an account whom nobody else notifies."""
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        ward_id = session.exec(select(Ward.id).where(Ward.code == "CARD")).one()
        staff = Staff(display_name=f"Bell {tag}", role="nurse", home_ward_id=ward_id)
        session.add(staff)
        session.flush()
        session.add(User(username=f"bell.{tag}", role="nurse", staff_id=staff.id))
        return staff.id, f"bell.{tag}"


def rows_of(staff_id: uuid.UUID) -> dict[uuid.UUID, Notification]:
    with Session(get_engine()) as session:
        found = session.exec(select(Notification).where(Notification.staff_id == staff_id))
        return {r.id: r for r in found}


def read_entries(incident: str) -> list[IncidentEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(IncidentEvent)
                .where(
                    IncidentEvent.incident_id == uuid.UUID(incident),
                    IncidentEvent.kind == "notification.read",
                )
                .order_by(col(IncidentEvent.id))
            )
        )


def test_marking_my_alarm_read_writes_the_timeline_and_tells_my_browsers(changes: Any) -> None:
    nurse, _ = person()
    p1 = open_incident_in("CARD", "B1", "Bell: SpO2 88", "P1")
    in_app = record_notification(nurse, p1, "in_app")
    sms = record_notification(nurse, p1, "sms", status="delivered")
    answered = record_notification(nurse, p1, "push", status="answered")
    _, bell = load_my_feed(nurse)
    assert (bell.unread, bell.unread_notifications, bell.top_priority) == (1, 2, "P1")
    assert bell.tone_key in {f"{p1}/{in_app}", f"{p1}/{sms}"}

    with session_scope() as session:
        done = mark_my_notifications_read(
            session, nurse, datetime.now(UTC), incident_id=uuid.UUID(p1)
        )
    assert (done.marked, done.incident_ids) == (2, [uuid.UUID(p1)])

    rows = rows_of(nurse)
    assert rows[in_app].status == "read" and rows[in_app].read_at is not None
    assert rows[in_app].delivered_at is not None  # seen in the app: delivered in the app
    assert rows[sms].status == "read" and rows[sms].read_at is not None
    assert rows[answered].status == "answered"  # never backwards
    entries = read_entries(p1)
    assert len(entries) == 1
    assert "marked the alarm read" in entries[0].message
    assert sorted(entries[0].data["notification_ids"]) == sorted([str(in_app), str(sms)])
    assert entries[0].data["staff_id"] == str(nurse)
    assert [e.kind for e in events_for(changes, nurse)] == ["notification.read"]

    _, after = load_my_feed(nurse)
    assert (after.unread, after.top_priority, after.tone_key) == (0, "", "")
    assert after.items[0].status != "Unread"

    # Again: nothing unread, nothing written, nothing published.
    with session_scope() as session:
        again = mark_my_notifications_read(session, nurse, datetime.now(UTC))
    assert again.marked == 0
    assert len(read_entries(p1)) == 1


def test_someone_elses_notification_is_refused_and_nothing_changes(changes: Any) -> None:
    nurse, _ = person()
    other, _ = person()
    p2 = open_incident_in("CARD", "B2", "Bell: not yours", "P2")
    mine = record_notification(nurse, p2, "in_app")
    theirs = record_notification(other, p2, "in_app")

    with pytest.raises(NotYours, match="notification_id"), session_scope() as session:
        mark_my_notifications_read(
            session, nurse, datetime.now(UTC), notification_ids=[mine, theirs]
        )
    with pytest.raises(NotYours, match="incident_id"), session_scope() as session:
        mark_my_notifications_read(session, other, datetime.now(UTC), incident_id=uuid.uuid4())

    assert rows_of(nurse)[mine].status == "sent" and rows_of(nurse)[mine].read_at is None
    assert rows_of(other)[theirs].status == "sent" and rows_of(other)[theirs].read_at is None
    assert read_entries(p2) == []


def test_the_api_reads_through_the_same_function(client: CheckedClient) -> None:
    nurse, username = person()
    other, other_name = person()
    p1 = open_incident_in("CARD", "B3", "Bell: API", "P1")
    p3 = open_incident_in("CARD", "B4", "Bell: API review", "P3")
    one = record_notification(nurse, p1, "in_app")
    record_notification(nurse, p3, "push")
    theirs = record_notification(other, p1, "in_app")
    headers = bearer(fresh_tokens(username)[0])

    refused = client.post(f"/api/v1/notifications/{theirs}/read", headers=headers)
    assert refused.status_code == 404
    assert rows_of(other)[theirs].read_at is None

    mine = client.get("/api/v1/notifications/mine", headers=headers).json()
    _, bell = load_my_feed(nurse)
    assert (mine["unread"], mine["unread_incidents"]) == (bell.unread_notifications, bell.unread)

    assert (
        client.post(f"/api/v1/notifications/{one}/read", headers=headers).json()["unread"] is False
    )
    assert len(read_entries(p1)) == 1
    done = client.post("/api/v1/notifications/mine/read-all", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json() == {"marked": 1, "incident_ids": [p3]}
    assert client.get("/api/v1/notifications/mine", headers=headers).json()["unread"] == 0
    # The other person's stays unread.
    other_headers = bearer(fresh_tokens(other_name)[0])
    assert client.get("/api/v1/notifications/mine", headers=other_headers).json()["unread"] == 1
