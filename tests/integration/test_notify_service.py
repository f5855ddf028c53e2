"""The notify service against the real Postgres and Redis: ``notify_people`` plans each
person's rows from their rule and contacts, writes the timeline, enqueues the delivery jobs
after the commit (on the alerts queue, or on rq-scheduler for later steps), and is
idempotent by key; ``cancel_pending``, ``mark_read`` and ``mark_answered``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis
import sqlalchemy as sa
from rq import Queue
from rq_scheduler import Scheduler
from sqlmodel import Session, col, select
from testsupport import quiet_incident

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import Incident, IncidentEvent
from healthguard.models.notifications import Notification
from healthguard.models.oncall import PushSubscription
from healthguard.models.staff import Staff
from healthguard.notify.contacts import rule_set_from_json
from healthguard.notify.service import (
    Recipient,
    alerts_queue_name,
    cancel_pending,
    delivery_job_id,
    mark_answered,
    mark_read,
    notify_people,
)
from workers.queues import SCHEDULED_JOBS

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(seeded: dict[str, int], redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    Queue(alerts_queue_name(), connection=client).empty()
    scheduler = Scheduler(queue_name=alerts_queue_name(), connection=client)
    for job in scheduler.get_jobs():
        scheduler.cancel(job)
    yield client
    client.close()


def make_staff(
    session: Session,
    name: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    pager_id: str | None = None,
    rules: dict[str, Any] | None = None,
    time_zone: str | None = None,
) -> Staff:
    staff = Staff(
        display_name=name,
        role="charge_nurse",
        phone=phone,
        email=email,
        pager_id=pager_id,
        notification_rules=rules,
        time_zone=time_zone,
    )
    session.add(staff)
    session.flush()
    return staff


def make_incident(session: Session, now: datetime, priority: str = "P1") -> Incident:
    """An incident whose own escalation is undone: the test asks for every notification."""
    return quiet_incident(
        session,
        open_incident(
            session,
            title="NEWS2 8: RR 26, SpO2 90",
            priority=priority,
            now=now,
            ward_code="ICU",
            bed_label=f"B{1 + uuid.uuid4().int % 6}",
            dedup_key=f"test-{uuid.uuid4()}",
        ),
    )


def rows_of(incident_id: uuid.UUID, staff_id: uuid.UUID | None = None) -> list[Notification]:
    with Session(get_engine()) as session:
        stmt = select(Notification).where(Notification.incident_id == incident_id)
        if staff_id is not None:
            stmt = stmt.where(Notification.staff_id == staff_id)
        return list(session.exec(stmt.order_by(col(Notification.due_at))).all())


def timeline(incident_id: uuid.UUID, prefix: str = "notification.") -> list[IncidentEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(IncidentEvent)
                .where(
                    IncidentEvent.incident_id == incident_id,
                    col(IncidentEvent.kind).startswith(prefix),
                )
                .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
            ).all()
        )


def queued_job_args(conn: redis.Redis) -> list[str]:
    return [job.args[0] for job in Queue(alerts_queue_name(), connection=conn).jobs]


def scheduled_at(conn: redis.Redis, notification_id: uuid.UUID) -> float | None:
    """When the delivery job is due on rq-scheduler (Unix seconds, float), None if not."""
    score = conn.zscore(SCHEDULED_JOBS, delivery_job_id(notification_id))
    return None if score is None else float(cast(float, score))


def offset(row: Notification, now: datetime) -> timedelta:
    assert row.due_at is not None
    return row.due_at - now


def due(row: Notification) -> float:
    assert row.due_at is not None
    return row.due_at.timestamp()


PHONE_ONLY_RULE = {
    "high": [
        {"channel": "in_app", "delay_seconds": 0},
        {"channel": "push", "delay_seconds": 0},
        {"channel": "sms", "delay_seconds": 30},
        {"channel": "voice", "delay_seconds": 60},
    ]
}


def test_rows_follow_the_persons_rule_and_jobs_are_enqueued_after_commit(
    conn: redis.Redis,
) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        nurse = make_staff(session, "Sister Jones", phone="+44 7700 900901", rules=PHONE_ONLY_RULE)
        incident = make_incident(session, now)
        ids = notify_people(
            session,
            incident,
            [Recipient(nurse.id, "charge nurse on shift in ICU")],
            key="esc:1:r0:s0",
            now=now,
        )
        # Nothing reaches the queue before the commit.
        assert queued_job_args(conn) == []
        nurse_id, incident_id = nurse.id, incident.id

    rows = rows_of(incident_id)
    assert {r.id for r in rows} == set(ids)
    planned = [(r.channel, offset(r, now), r.status, r.attempt) for r in rows]
    assert planned == [
        ("in_app", timedelta(0), "queued", 1),
        ("sms", timedelta(seconds=30), "queued", 1),
        ("voice", timedelta(seconds=60), "queued", 1),
    ]
    assert all(r.escalation_key == "esc:1:r0:s0" and r.staff_id == nurse_id for r in rows)
    assert all(r.reason.startswith("charge nurse on shift in ICU") for r in rows)

    (entry,) = timeline(incident_id)
    assert entry.kind == "notification.planned"
    assert entry.message == (
        "Notified Sister Jones (charge nurse on shift in ICU): "
        "in-app now, SMS at 30 s, voice call at 60 s"
    )
    assert any("Push skipped" in s for s in entry.data["skipped"])
    assert sorted(entry.data["notification_ids"]) == sorted(str(i) for i in ids)

    # Due now: on the alerts queue; later: on rq-scheduler at its due time.
    in_app = next(r for r in rows if r.channel == "in_app")
    assert queued_job_args(conn) == [str(in_app.id)]
    assert scheduled_at(conn, in_app.id) is None
    for row in rows:
        if row.channel != "in_app":
            assert scheduled_at(conn, row.id) == pytest.approx(due(row), abs=1e-3)


def test_the_same_key_twice_creates_nothing(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        nurse = make_staff(
            session, "Nurse Idem", phone="+44 7700 900902", email="idem@healthguard.example"
        )
        incident = make_incident(session, now, "P2")
        first = notify_people(
            session, incident, [Recipient(nurse.id, "assignee")], key="k1", now=now
        )
        incident_id, nurse_id = incident.id, nurse.id
    with session_scope() as session:
        again_incident = session.get(Incident, incident_id)
        assert again_incident is not None
        again = notify_people(
            session,
            again_incident,
            [Recipient(nurse_id, "assignee"), Recipient(nurse_id, "duplicate in the list")],
            key="k1",
            now=now + timedelta(seconds=5),
        )
    assert len(first) == 2  # P2 default: in-app now, SMS at 120 s (no push subscription)
    assert again == []
    assert len(rows_of(incident_id)) == 2
    assert len(timeline(incident_id)) == 1
    assert len(queued_job_args(conn)) == 1  # the in-app one, once

    # A new key (the next escalation step) is a new notification.
    with session_scope() as session:
        next_incident = session.get(Incident, incident_id)
        assert next_incident is not None
        later = notify_people(
            session, next_incident, [Recipient(nurse_id, "repeat")], key="k2", now=now
        )
    assert len(later) == 2 and len(rows_of(incident_id)) == 4


def test_default_rule_of_a_seeded_person_with_push(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        staff = session.exec(select(Staff).where(Staff.display_name == "Rachel Stein")).one()
        sub = PushSubscription(
            staff_id=staff.id,
            endpoint=f"https://push.example/{uuid.uuid4()}",
            p256dh="x",
            auth="y",
        )
        session.add(sub)
        incident = make_incident(session, now, "P1")
        notify_people(session, incident, [Recipient(staff.id, "charge nurse")], key="seed", now=now)
        incident_id, staff_id = incident.id, staff.id
        session.delete(sub)
    rows = rows_of(incident_id, staff_id)
    assert sorted((r.channel, int(offset(r, now).total_seconds())) for r in rows) == sorted(
        [("in_app", 0), ("push", 0), ("pager", 0), ("sms", 30), ("voice", 60)]
    )


def test_a_person_with_no_contact_method_gets_in_app_only(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        nobody = make_staff(session, "Agency Nurse")
        incident = make_incident(session, now, "P0")
        ids = notify_people(session, incident, [Recipient(nobody.id, "assignee")], key="u", now=now)
        incident_id = incident.id
    rows = rows_of(incident_id)
    assert [(r.id, r.channel) for r in rows] == [(ids[0], "in_app")]
    (entry,) = timeline(incident_id)
    assert entry.kind == "notification.unreachable"
    assert entry.message.startswith("Notified Agency Nurse (assignee): in-app only: ")
    assert "no contact method on file" in entry.message
    assert entry.data["unreachable"] is True


def test_unreadable_rules_fall_back_to_the_defaults_and_say_so(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        nurse = make_staff(
            session,
            "Nurse Typo",
            phone="+44 7700 900903",
            rules={"high": [{"channel": "carrier-pigeon", "delay_seconds": 0}]},
        )
        incident = make_incident(session, now, "P1")
        notify_people(session, incident, [Recipient(nurse.id, "assignee")], key="t", now=now)
        incident_id = incident.id
    assert {r.channel for r in rows_of(incident_id)} == {"in_app", "sms", "voice"}
    (entry,) = timeline(incident_id)
    assert "carrier-pigeon" in entry.message and "defaults are used" in entry.message


def test_quiet_hours_in_the_persons_zone_hold_a_p3_but_not_a_p1(conn: redis.Redis) -> None:
    now = datetime(2025, 1, 15, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    rules = {
        "low": [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 0}],
        "high": [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 0}],
        "quiet_hours": {"start": "22:00", "end": "07:00"},
    }
    assert rule_set_from_json(rules).quiet_hours is not None
    with session_scope() as session:
        nurse = make_staff(
            session, "Nurse Night", phone="+49 30 1234567", rules=rules, time_zone="Europe/Berlin"
        )
        low = make_incident(session, now, "P3")
        high = make_incident(session, now, "P1")
        notify_people(session, low, [Recipient(nurse.id, "assignee")], key="q3", now=now)
        notify_people(session, high, [Recipient(nurse.id, "assignee")], key="q1", now=now)
        low_id, high_id = low.id, high.id
    assert [r.channel for r in rows_of(low_id)] == ["in_app"]
    assert {r.channel for r in rows_of(high_id)} == {"in_app", "sms"}
    assert "quiet hours" in timeline(low_id)[0].message
    assert "quiet hours bypassed for P1" in timeline(high_id)[0].message


def test_acknowledgement_cancels_pending_but_keeps_reminders(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        nurse = make_staff(session, "Nurse Ack", phone="+44 7700 900904", rules=PHONE_ONLY_RULE)
        incident = make_incident(session, now, "P1")
        notify_people(session, incident, [Recipient(nurse.id, "assignee")], key="a", now=now)
        notify_people(
            session,
            incident,
            [Recipient(nurse.id, "ack timeout")],
            key="rem",
            now=now,
            reminder=True,
        )
        incident_id = incident.id
    with session_scope() as session:
        session.execute(
            sa.update(Incident)
            .where(col(Incident.id) == incident_id)
            .values(status="acknowledged", acknowledged_at=now)
        )
        count = cancel_pending(session, incident_id, now=now, reason="Acknowledged by Sister Jones")
    assert count == 3  # the first notification's in-app, SMS and voice call
    rows = rows_of(incident_id)
    status = {(r.escalation_key, r.channel): r.status for r in rows}
    assert status == {
        ("a", "in_app"): "cancelled",
        ("a", "sms"): "cancelled",
        ("a", "voice"): "cancelled",
        ("rem", "in_app"): "queued",
        ("rem", "sms"): "queued",
        ("rem", "voice"): "queued",
    }
    # Their timed jobs are unscheduled after the commit; the reminders' stay.
    for row in rows:
        if row.channel != "in_app":
            expected = None if row.escalation_key == "a" else pytest.approx(due(row), abs=1e-3)
            assert scheduled_at(conn, row.id) == expected
    entry = timeline(incident_id)[-1]
    assert entry.kind == "notification.cancelled"
    assert entry.message == (
        "Acknowledged by Sister Jones: 3 pending notifications cancelled (in-app, SMS, voice call)"
    )
    reminder_timeline = [e for e in timeline(incident_id) if e.data.get("reminder")]
    assert reminder_timeline[0].message.startswith("Reminded Nurse Ack (ack timeout)")

    # Resolved: the reminders go too.
    with session_scope() as session:
        session.execute(
            sa.update(Incident)
            .where(col(Incident.id) == incident_id)
            .values(status="resolved", resolved_at=now)
        )
        assert cancel_pending(session, incident_id, now=now, reason="Resolved") == 3
    assert {r.status for r in rows_of(incident_id)} == {"cancelled"}


def test_read_and_answered(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        nurse = make_staff(session, "Nurse Answer", phone="+44 7700 900905", rules=PHONE_ONLY_RULE)
        other = make_staff(session, "Someone Else")
        incident = make_incident(session, now, "P1")
        notify_people(session, incident, [Recipient(nurse.id, "assignee")], key="r", now=now)
        nurse_id, other_id, incident_id = nurse.id, other.id, incident.id
    in_app = next(r for r in rows_of(incident_id) if r.channel == "in_app")
    with session_scope() as session:  # as if the worker had sent it
        session.execute(
            sa.update(Notification)
            .where(col(Notification.id) == in_app.id)
            .values(status="sent", sent_at=now)
        )
    with session_scope() as session, pytest.raises(LookupError):
        mark_read(session, in_app.id, other_id, now)
    with session_scope() as session:
        assert mark_read(session, in_app.id, nurse_id, now + timedelta(seconds=3)) is True
    with session_scope() as session:
        assert mark_read(session, in_app.id, nurse_id, now + timedelta(seconds=9)) is False
    row = next(r for r in rows_of(incident_id) if r.id == in_app.id)
    assert row.status == "read" and row.read_at == now + timedelta(seconds=3)

    with session_scope() as session:
        with pytest.raises(ValueError):
            mark_answered(session, incident_id, nurse_id, "maybe", now)
        answered = mark_answered(
            session, incident_id, nurse_id, "acknowledge", now + timedelta(seconds=5)
        )
    assert answered == 1
    status = {r.channel: (r.status, r.answer) for r in rows_of(incident_id)}
    assert status == {
        "in_app": ("answered", "acknowledge"),
        "sms": ("cancelled", None),
        "voice": ("cancelled", None),
    }
    entry = timeline(incident_id)[-1]
    assert entry.kind == "notification.answered"
    assert entry.message == (
        "Nurse Answer answered: acknowledge: 2 pending notifications to them cancelled "
        "(SMS, voice call)"
    )


def test_unknown_person_is_on_the_timeline(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    ghost = uuid.uuid4()
    with session_scope() as session:
        incident = make_incident(session, now, "P2")
        assert notify_people(session, incident, [Recipient(ghost, "x")], key="g", now=now) == []
        incident_id = incident.id
    (entry,) = timeline(incident_id)
    assert entry.kind == "notification.unreachable" and str(ghost) in entry.message
