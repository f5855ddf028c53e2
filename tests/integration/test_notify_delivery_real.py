"""Deliveries end to end: ``notify_people`` -> the alerts queue -> a real in-process RQ
SimpleWorker running ``workers.notify.deliver`` -> real channels on 127.0.0.1:

- e-mail to a real SMTP server (aiosmtpd), with a signed answer link;
- SMS through ``RecordingSmsProvider`` (the only stand-in: the paid provider);
- pager through a local WCTP gateway and, in another test, the signed JSON webhook;
- Web Push to a local push-service receiver (201, then 410: subscription deleted);
- in-app: a ``notification.created`` change event on the realtime Redis channel.

Failures: an SMTP server that is down (retries with backoff through rq-scheduler, then the
fallback channel), a push subscription that is gone; the stop rule (acknowledged incident);
throttles (a flapping P3 source, a P0 that is never held); the sweep of lost jobs. Retry
delays are made short with an injected policy (the production schedule is unit-tested in
tests/unit/test_notify_retry.py); every wait is bounded (``wait_until``).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mailsupport import Mailbox, smtp_server
from rq import Queue, SimpleWorker
from rq_scheduler import Scheduler
from sqlmodel import Session as DbSession
from sqlmodel import col, select
from testsupport import free_port, quiet_incident

import workers.notify
from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import Incident, IncidentEvent
from healthguard.models.notifications import Channel, Notification
from healthguard.models.oncall import PushSubscription
from healthguard.models.staff import Staff
from healthguard.notify import digests
from healthguard.notify.channels.registry import build_channels, config_from_settings
from healthguard.notify.channels.sms import RecordingSmsProvider, SmsProviderError
from healthguard.notify.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from healthguard.notify.channels.webpush import generate_vapid_keys
from healthguard.notify.delivery import (
    EARLY_TOLERANCE,
    DeliveryContext,
    answer_link_secret,
    incident_short_code,
)
from healthguard.notify.retry import RetryPolicy
from healthguard.notify.service import Recipient, alerts_queue_name, notify_people
from healthguard.notify.throttle import DEFAULT_LIMITS, ThrottleLimit
from healthguard.notify.tokens import AnswerAction, VerifiedToken, verify
from healthguard.realtime.events import ChangeEvent
from healthguard.runtime.embedded import wait_until
from healthguard.settings import Settings, get_settings
from workers.run import TimerScheduler

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
WAIT = 20.0  # upper bound of every wait
PUBLIC_URL = "https://hg.test"
WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789"
# Short, deterministic retries (rand() = 0.5: no jitter): 1 s, then 2 s; 3 attempts.
FAST = {p: RetryPolicy(1.0, 2.0, 4.0, 3) for p in ("P0", "P1", "P2", "P3", "P4")}
ALL_AT_ONCE = [
    {"channel": c, "delay_seconds": 0} for c in ("in_app", "push", "email", "sms", "pager")
]


# --- local servers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """A real HTTP server on a free loopback port; ``routes`` answer by path prefix."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                receiver.received.put(request)
                status, headers, body = next(
                    (
                        answer
                        for prefix, answer in receiver.routes.items()
                        if self.path.startswith(prefix)
                    ),
                    (404, {}, b""),
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def requests_to(self, prefix: str) -> list[Received]:
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        for item in found:  # put them back for other lookups
            self.received.put(item)
        return [r for r in found if r.path.startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def wctp_success() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-Confirmation>'
        b'<wctp-Success successCode="200" successText="Accepted"/>'
        b"</wctp-Confirmation></wctp-Operation>"
    )


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.routes["/wctp"] = (200, {"Content-Type": "text/xml"}, wctp_success())
    receiver.routes["/webhook"] = (200, {"Content-Type": "application/json"}, b'{"id":"wh-1"}')
    receiver.routes["/push/ok"] = (201, {"Location": "https://push.test/m/1"}, b"")
    receiver.routes["/push/gone"] = (410, {}, b"")
    try:
        yield receiver
    finally:
        receiver.close()


# --- the delivery context and the worker ----------------------------------------------------


@dataclass
class Harness:
    conn: redis.Redis
    sms: RecordingSmsProvider
    settings: Settings
    pubsub: Any

    def drain(self, until: Callable[[], bool], timeout: float = WAIT) -> None:
        """Run the scheduler's due-job move and a burst worker on the alerts queue until
        ``until()`` holds."""
        name = alerts_queue_name()
        scheduler = TimerScheduler(queue_name=name, connection=self.conn)

        def step() -> bool:
            scheduler.enqueue_jobs()
            worker = SimpleWorker([Queue(name, connection=self.conn)], connection=self.conn)
            worker.work(burst=True, logging_level="WARNING")
            return until()

        assert wait_until(step, timeout, interval=0.05), "the deliveries did not finish in time"

    def events(self) -> list[ChangeEvent]:
        found = []
        while (message := self.pubsub.get_message(timeout=0.2)) is not None:
            if message["type"] == "message":
                found.append(ChangeEvent.from_json(message["data"]))
        return found


@pytest.fixture
def harness(
    seeded: dict[str, int], redis_url: str, smtp: tuple[Mailbox, int], http: HttpReceiver
) -> Iterator[Callable[..., Harness]]:
    conn = redis.Redis.from_url(redis_url)
    name = alerts_queue_name()
    Queue(name, connection=conn).empty()
    scheduler = Scheduler(queue_name=name, connection=conn)
    for job in scheduler.get_jobs():
        scheduler.cancel(job)
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(get_settings().realtime_channel)
    pubsub.get_message(timeout=5)
    vapid = generate_vapid_keys()

    def make(**overrides: Any) -> Harness:
        settings = get_settings().model_copy(
            update={
                "public_url": PUBLIC_URL,
                "smtp_host": LOOPBACK,
                "smtp_port": smtp[1],
                "smtp_security": "none",
                "smtp_from": "HealthGuard Ops <healthguard@hospital.example>",
                "smtp_timeout_seconds": 5.0,
                "wctp_url": http.url("/wctp"),
                "wctp_sender_id": "healthguard",
                "webhook_url": http.url("/webhook"),
                "webhook_secret": WEBHOOK_SECRET,
                "vapid_private_key": vapid.private_key_b64,
                "vapid_subject": "mailto:ops@hospital.example",
                "push_timeout_seconds": 5.0,
                **overrides,
            }
        )
        sms = RecordingSmsProvider()
        registry = build_channels(
            config_from_settings(settings),
            publish=workers.notify.in_app_publisher(conn),
            sms_provider=sms,
        )
        assert registry.available == frozenset(registry.channels)
        workers.notify.use_context(
            DeliveryContext(
                registry=registry, redis=conn, settings=settings, rand=lambda: 0.5, policies=FAST
            )
        )
        return Harness(conn, sms, settings, pubsub)

    try:
        yield make
    finally:
        workers.notify.use_context(None)
        pubsub.close()
        conn.close()


# --- data helpers --------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def add_push(session: DbSession, staff_id: uuid.UUID, endpoint: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    session.add(
        PushSubscription(
            staff_id=staff_id, endpoint=endpoint, p256dh=b64url(public), auth=b64url(os.urandom(16))
        )
    )


def make_staff(
    session: DbSession, name: str, rules: dict[str, Any] | None = None, **contact: Any
) -> Staff:
    staff = Staff(display_name=name, role="nurse", notification_rules=rules, **contact)
    session.add(staff)
    session.flush()
    return staff


def make_incident(
    session: DbSession, priority: str = "P1", bed: str = "B1", ward: str = "CARD"
) -> Incident:
    """An incident whose own escalation is undone: the test asks for every notification."""
    incident = open_incident(
        session,
        title="NEWS2 8: RR 26, SpO2 90",
        priority=priority,
        now=datetime.now(UTC),
        ward_code=ward,
        bed_label=bed,
        dedup_key=f"test-{uuid.uuid4()}",
    )
    return quiet_incident(session, incident)


def rows_of(incident_id: uuid.UUID) -> list[Notification]:
    with DbSession(get_engine()) as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.incident_id == incident_id)
                .order_by(col(Notification.created_at), col(Notification.attempt))
            ).all()
        )


def messages(incident_id: uuid.UUID) -> list[str]:
    with DbSession(get_engine()) as session:
        events = session.exec(
            select(IncidentEvent)
            .where(
                IncidentEvent.incident_id == incident_id,
                col(IncidentEvent.kind).startswith("notification."),
            )
            .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
        ).all()
        return [e.message for e in events]


def none_queued(incident_id: uuid.UUID) -> Callable[[], bool]:
    return lambda: all(r.status != "queued" for r in rows_of(incident_id))


def notify(
    staff_id: uuid.UUID,
    incident_id: uuid.UUID,
    key: str = "k",
    *,
    reminder: bool = False,
    reason: str = "assignee",
) -> list[uuid.UUID]:
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return notify_people(
            session,
            incident,
            [Recipient(staff_id, reason)],
            key=key,
            now=datetime.now(UTC),
            reminder=reminder,
        )


# --- tests ---------------------------------------------------------------------------------


def test_every_channel_delivers_through_the_worker(
    harness: Callable[..., Harness], smtp: tuple[Mailbox, int], http: HttpReceiver
) -> None:
    h = harness()
    mailbox = smtp[0]
    before = len(mailbox.messages)
    with session_scope() as session:
        nurse = make_staff(
            session,
            "Sister Jones",
            {"high": ALL_AT_ONCE},
            phone="+44 7700 900123",
            email="sister.jones@hospital.example",
            pager_id="PG4242",
        )
        add_push(session, nurse.id, http.url(f"/push/ok/{uuid.uuid4()}"))
        incident = make_incident(session, "P1", "B1")  # Harold Whitfield's bed
        staff_id, incident_id = nurse.id, incident.id
    ids = notify(staff_id, incident_id, reason="charge nurse on shift in Cardiology")
    assert len(ids) == 5
    h.drain(none_queued(incident_id))

    rows = {r.channel: r for r in rows_of(incident_id)}
    assert {c: r.status for c, r in rows.items()} == dict.fromkeys(
        ("in_app", "push", "email", "sms", "pager"), "sent"
    )
    assert all(r.sent_at is not None for r in rows.values())
    assert rows["sms"].provider_message_id == h.sms.sent[0].message_id

    # E-mail: the priority in the subject, a secondary alarm, a working answer link, no name.
    assert wait_until(lambda: len(mailbox.messages) > before, WAIT)
    mail = mailbox.messages[-1]
    assert mail["To"] == "sister.jones@hospital.example"
    assert "P1" in mail["Subject"] and "Emergency" in mail["Subject"]
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Secondary alarm" in text
    assert "Patient: H.W." in text and "Whitfield" not in text and "Harold" not in text
    prefix = f"{PUBLIC_URL}/answer?token="
    links = [line.split(": ", 1)[1] for line in text.splitlines() if prefix in line]
    assert len(links) == 3
    token = links[0].removeprefix(prefix)
    verified = verify(answer_link_secret(h.settings), token, datetime.now(UTC))
    assert isinstance(verified, VerifiedToken)
    assert (verified.action, verified.incident_id, verified.staff_id) == (
        AnswerAction.ACKNOWLEDGE,
        incident_id,
        staff_id,
    )

    # SMS: the recording provider (paid service) got one text with the reply code.
    (sms,) = h.sms.sent
    assert (sms.kind, sms.to) == ("sms", "+447700900123")
    assert f"Reply 1 ACK, 2 ESC, 3 DECLINE + {incident_short_code(incident_id)}" in sms.text
    assert "Whitfield" not in sms.text and "Secondary alarm" in sms.text

    # Pager through the WCTP gateway; push to the push service.
    (page,) = http.requests_to("/wctp")
    assert b'recipientID="PG4242"' in page.body
    (push,) = http.requests_to("/push/ok")
    assert push.headers["content-encoding"] == "aes128gcm"

    # In-app: the live update for the person.
    events = h.events()
    assert any(e.kind == "notification.created" and e.entity_id == str(staff_id) for e in events)

    timeline = messages(incident_id)
    assert timeline[0] == (
        "Notified Sister Jones (charge nurse on shift in Cardiology): "
        "in-app + push + SMS + email + pager now"
    )
    for sent in ("In-app", "Push", "Email", "SMS", "Pager"):
        assert f"{sent} sent to Sister Jones" in timeline


def test_pager_through_the_signed_webhook(
    harness: Callable[..., Harness], http: HttpReceiver
) -> None:
    h = harness(pager_transport="webhook")
    with session_scope() as session:
        nurse = make_staff(
            session,
            "Dr Webhook",
            {"high": [{"channel": "pager", "delay_seconds": 0}]},
            pager_id="PG777",
        )
        incident = make_incident(session, "P0", "B2", "ICU")
        staff_id, incident_id = nurse.id, incident.id
    notify(staff_id, incident_id)
    h.drain(none_queued(incident_id))
    (request,) = http.requests_to("/webhook")
    assert verify_signature(
        WEBHOOK_SECRET,
        timestamp=request.headers[TIMESTAMP_HEADER.lower()],
        body=request.body,
        signature=request.headers[SIGNATURE_HEADER.lower()],
    )
    payload = json.loads(request.body)
    assert payload["recipient"] == "PG777" and payload["priority"] == "P0"
    assert payload["secondary_alarm"] is True
    pager = next(r for r in rows_of(incident_id) if r.channel == "pager")
    assert (pager.status, pager.provider_message_id) == ("sent", "wh-1")
    assert "Pager sent to Dr Webhook" in messages(incident_id)


def test_smtp_down_retries_with_backoff_then_falls_back(
    harness: Callable[..., Harness],
) -> None:
    h = harness(smtp_port=free_port())  # nothing listens there: connection refused
    with session_scope() as session:
        nurse = make_staff(
            session,
            "Nurse Mail",
            {
                "high": [
                    {"channel": "in_app", "delay_seconds": 0},
                    {"channel": "email", "delay_seconds": 0},
                    {"channel": "sms", "delay_seconds": 600},
                ]
            },
            phone="+44 7700 900124",
            email="nurse.mail@hospital.example",
        )
        incident = make_incident(session, "P1", "B3")
        staff_id, incident_id = nurse.id, incident.id
    notify(staff_id, incident_id)
    h.drain(lambda: len(h.sms.sent) == 1 and none_queued(incident_id)())

    rows = rows_of(incident_id)
    emails = sorted((r for r in rows if r.channel == "email"), key=lambda r: r.attempt)
    assert [(r.attempt, r.status) for r in emails] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert all("SMTP relay" in (r.error or "") for r in emails)
    # Backoff: 1 s after the first failure, 2 s after the second (no jitter with rand 0.5).
    for earlier, later, wait in ((emails[0], emails[1], 1.0), (emails[1], emails[2], 2.0)):
        assert earlier.failed_at is not None and later.due_at is not None
        assert later.due_at - earlier.failed_at == timedelta(seconds=wait)
        assert later.sent_at is None and later.failed_at is not None
        assert later.failed_at >= later.due_at - EARLY_TOLERANCE  # not before its due time
        assert later.failed_at > earlier.failed_at
    # The planned SMS (at +600 s) was brought forward and sent at once.
    (sms_row,) = [r for r in rows if r.channel == "sms"]
    assert sms_row.status == "sent" and sms_row.sent_at is not None
    assert emails[2].failed_at is not None and sms_row.sent_at >= emails[2].failed_at
    assert sms_row.sent_at - emails[2].failed_at < timedelta(seconds=60)

    timeline = messages(incident_id)
    failures = [m for m in timeline if m.startswith("Email to Nurse Mail: ")]
    assert len(failures) == 3
    assert "attempt 1 of 3 failed" in failures[0] and "retrying in 1 s" in failures[0]
    assert "attempt 2 of 3 failed" in failures[1] and "retrying in 2 s" in failures[1]
    assert "Email failed 3 times" in failures[2]
    assert "texting instead (the planned SMS brought forward)" in failures[2]
    assert timeline.index(failures[2]) < timeline.index("SMS sent to Nurse Mail")


def test_push_gone_removes_the_subscription_and_falls_back(
    harness: Callable[..., Harness], http: HttpReceiver
) -> None:
    h = harness()
    with session_scope() as session:
        nurse = make_staff(
            session,
            "Nurse Push",
            {
                "high": [
                    {"channel": "in_app", "delay_seconds": 0},
                    {"channel": "push", "delay_seconds": 0},
                    {"channel": "pager", "delay_seconds": 30},
                ]
            },
            pager_id="PG5150",
        )
        add_push(session, nurse.id, http.url(f"/push/gone/{uuid.uuid4()}"))
        incident = make_incident(session, "P1", "B4")
        staff_id, incident_id = nurse.id, incident.id
    notify(staff_id, incident_id)
    h.drain(lambda: none_queued(incident_id)() and len(http.requests_to("/wctp")) == 1)

    with DbSession(get_engine()) as session:
        left = session.exec(
            select(PushSubscription).where(PushSubscription.staff_id == staff_id)
        ).all()
    assert left == []
    status = {r.channel: r.status for r in rows_of(incident_id)}
    assert status == {"in_app": "sent", "push": "failed", "pager": "sent"}
    push_row = next(r for r in rows_of(incident_id) if r.channel == "push")
    assert "410" in (push_row.error or "")
    timeline = messages(incident_id)
    gone = next(m for m in timeline if m.startswith("Push to Nurse Push: "))
    assert "Push failed permanently" in gone and "paging instead" in gone
    assert "Push subscription removed" in gone
    assert "Pager sent to Nurse Push" in timeline


def test_an_acknowledged_incident_cancels_pending_deliveries_but_not_reminders(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    rule = {
        "high": [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 0}]
    }
    with session_scope() as session:
        nurse = make_staff(session, "Nurse Late", rule, phone="+44 7700 900125")
        incident = make_incident(session, "P1", "B5")
        staff_id, incident_id = nurse.id, incident.id
    notify(staff_id, incident_id, "step-1")
    # Acknowledged before the worker got to it (no cancel_pending call: the job checks).
    with session_scope() as session:
        session.execute(
            sa.update(Incident)
            .where(col(Incident.id) == incident_id)
            .values(status="acknowledged", acknowledged_at=datetime.now(UTC))
        )
    notify(staff_id, incident_id, "ack-timeout-1", reminder=True, reason="not resolved yet")
    h.drain(none_queued(incident_id))

    status = {(r.escalation_key, r.channel): r.status for r in rows_of(incident_id)}
    assert status == {
        ("step-1", "in_app"): "cancelled",
        ("step-1", "sms"): "cancelled",
        ("ack-timeout-1", "in_app"): "sent",
        ("ack-timeout-1", "sms"): "sent",
    }
    assert len(h.sms.sent) == 1  # the reminder only
    timeline = messages(incident_id)
    assert "SMS to Nurse Late not sent: the incident was acknowledged" in timeline
    assert "In-app to Nurse Late not sent: the incident was acknowledged" in timeline


def test_a_flapping_p3_source_is_throttled_and_a_p0_never_is(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    sms_now = [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 0}]
    with session_scope() as session:
        nurse = make_staff(
            session, "Nurse Flap", {"low": sms_now, "high": sms_now}, phone="+44 7700 900126"
        )
        low = [make_incident(session, "P3", "B6") for _ in range(8)]
        staff_id, low_ids = nurse.id, [i.id for i in low]
    for n, incident_id in enumerate(low_ids):
        notify(staff_id, incident_id, f"flap-{n}")
    h.drain(lambda: all(none_queued(i)() for i in low_ids))

    sms_rows = [r for i in low_ids for r in rows_of(i) if r.channel == "sms"]
    # Nothing accepted is lost: the 3 over the limit are held for the digest, not cancelled.
    assert sorted(r.status for r in sms_rows) == ["sent"] * 5 + ["throttled"] * 3
    assert len(h.sms.sent) == 5  # the SMS limit: 5 per 10 min
    assert all(r.status == "sent" for i in low_ids for r in rows_of(i) if r.channel == "in_app")
    held = [r for r in sms_rows if r.status == "throttled"]
    assert all(r.due_at is not None and r.error.startswith("Throttled: SMS") for r in held)  # type: ignore[union-attr]
    throttled = [m for i in low_ids for m in messages(i) if "throttled" in m]
    assert len(throttled) == 3
    assert throttled[0].startswith("SMS to Nurse Flap held: SMS throttled for P3")
    assert "held for a digest at" in throttled[0]

    # A P0 to the same person, whose SMS window is full, is sent every time.
    with session_scope() as session:
        high = [make_incident(session, "P0", "B7") for _ in range(3)]
        high_ids = [i.id for i in high]
    for n, incident_id in enumerate(high_ids):
        notify(staff_id, incident_id, f"arrest-{n}")
    h.drain(lambda: all(none_queued(i)() for i in high_ids))
    assert all(r.status == "sent" for i in high_ids for r in rows_of(i))
    assert len(h.sms.sent) == 8


@pytest.mark.parametrize("job_lost", [False, True], ids=["scheduled", "lost-then-swept"])
def test_throttled_messages_go_out_as_one_digest_when_the_window_ends(
    harness: Callable[..., Harness], job_lost: bool
) -> None:
    """The digest job fires through rq-scheduler when the window ends; or, when that job was
    lost (a restarted scheduler), the sweep of overdue held messages sends it."""
    h = harness()
    # A short SMS window (2 per 8 s) so the digest is due within the test.
    window = timedelta(seconds=8)
    context = workers.notify.delivery_context()
    limits = {**DEFAULT_LIMITS, Channel.SMS: ThrottleLimit(2, window)}
    workers.notify.use_context(replace(context, limits=limits))
    sms_now = [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 0}]
    with session_scope() as session:
        phone = "+44 7700 900132" if job_lost else "+44 7700 900131"
        nurse = make_staff(session, "Nurse Digest", {"low": sms_now}, phone=phone)
        incidents = [make_incident(session, "P3", f"B{n + 1}") for n in range(5)]
        staff_id, ids = nurse.id, [i.id for i in incidents]
    for n, incident_id in enumerate(ids):
        notify(staff_id, incident_id, f"digest-{n}")
    h.drain(lambda: all(none_queued(i)() for i in ids))
    assert len(h.sms.sent) == 2
    held = [
        i for i in ids if any(r.channel == "sms" and r.status == "throttled" for r in rows_of(i))
    ]
    assert len(held) == 3
    # One held incident is acknowledged before the window ends: the digest skips it.
    acked = held[0]
    with session_scope() as session:
        session.execute(
            sa.update(Incident)
            .where(col(Incident.id) == acked)
            .values(status="acknowledged", acknowledged_at=datetime.now(UTC))
        )

    def digest_sent() -> bool:
        return any("digest sent" in m for m in messages(held[1]))

    if job_lost:
        scheduler = Scheduler(queue_name=alerts_queue_name(), connection=h.conn)
        jobs = [j for j in scheduler.get_jobs() if j.id.startswith("notify-digest-")]
        assert jobs  # the digest was scheduled for the end of the window
        for job in jobs:
            scheduler.cancel(job)

        def swept() -> bool:
            workers.notify.sweep_due(grace_seconds=0)
            return digest_sent()

        h.drain(swept, timeout=WAIT + window.total_seconds())
    else:
        h.drain(digest_sent, timeout=WAIT + window.total_seconds())
    assert len(h.sms.sent) == 3  # 2 sent at once, then one digest
    digest = h.sms.sent[-1].text
    assert digest.startswith("2 more alarms while you were throttled: P3 bed B")
    assert "(1 skipped)" in digest
    assert "Secondary alarm" in digest
    statuses = {i: [r.status for r in rows_of(i) if r.channel == "sms"] for i in held}
    assert statuses == {held[0]: ["cancelled"], held[1]: ["sent"], held[2]: ["sent"]}
    assert "SMS to Nurse Digest not sent in the digest: the incident was acknowledged" in (
        messages(acked)
    )
    for incident_id in held[1:]:
        assert (
            "SMS digest sent to Nurse Digest: 2 more alarms while you were throttled"
            in messages(incident_id)
        )

    # Idempotent: the job run twice more (and the sweep) sends nothing more.
    queue = Queue(alerts_queue_name(), connection=h.conn)
    for _ in range(2):
        queue.enqueue(workers.notify.send_digest, str(staff_id), "sms", 1)
    workers.notify.sweep_due(grace_seconds=0)
    h.drain(lambda: queue.count == 0)
    assert len(h.sms.sent) == 3


def test_a_failed_digest_is_tried_again_and_nothing_is_lost(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness()
    monkeypatch.setattr(digests, "DIGEST_RETRY_SECONDS", 1.0)
    window = timedelta(seconds=4)
    context = workers.notify.delivery_context()
    limits = {**DEFAULT_LIMITS, Channel.SMS: ThrottleLimit(1, window)}
    workers.notify.use_context(replace(context, limits=limits))
    sms_now = [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 0}]
    with session_scope() as session:
        nurse = make_staff(session, "Nurse Retry", {"low": sms_now}, phone="+44 7700 900133")
        incidents = [make_incident(session, "P4", f"B{n + 1}") for n in range(3)]
        staff_id, ids = nurse.id, [i.id for i in incidents]
    for n, incident_id in enumerate(ids):
        notify(staff_id, incident_id, f"retry-{n}")
    h.drain(lambda: all(none_queued(i)() for i in ids))
    assert len(h.sms.sent) == 1
    held = [i for i in ids if any(r.status == "throttled" for r in rows_of(i))]
    assert len(held) == 2

    h.sms.failure = SmsProviderError("provider busy", retryable=True)
    h.drain(
        lambda: any("digest to Nurse Retry failed" in m for m in messages(held[0])),
        timeout=WAIT + window.total_seconds(),
    )
    failed = next(m for m in messages(held[0]) if "digest to Nurse Retry failed" in m)
    assert failed.startswith("SMS digest to Nurse Retry failed: ")
    assert "trying again at" in failed
    assert all(
        r.status == "throttled" and "Digest failed" in (r.error or "")
        for i in held
        for r in rows_of(i)
        if r.channel == "sms"
    )  # still held: nothing lost

    h.sms.failure = None
    h.drain(lambda: any("digest sent" in m for m in messages(held[0])))
    assert len(h.sms.sent) == 2
    assert h.sms.sent[-1].text.startswith("2 more alarms while you were throttled: P4")
    assert all(r.status == "sent" for i in held for r in rows_of(i) if r.channel == "sms")


def test_no_contact_method_means_in_app_only(harness: Callable[..., Harness]) -> None:
    h = harness()
    with session_scope() as session:
        nobody = make_staff(session, "Agency Nurse")
        incident = make_incident(session, "P1", "B8")
        staff_id, incident_id = nobody.id, incident.id
    notify(staff_id, incident_id)
    h.drain(none_queued(incident_id))
    assert [(r.channel, r.status) for r in rows_of(incident_id)] == [("in_app", "sent")]
    timeline = messages(incident_id)
    assert timeline[0].startswith("Notified Agency Nurse (assignee): in-app only: ")
    assert "no contact method on file" in timeline[0]
    assert timeline[1] == "In-app sent to Agency Nurse"
    # The in-app channel's event goes out during the delivery; "sent" once it is committed,
    # so a screen reloading on it reads the notification as sent (the bell counts it).
    kinds = [e.kind for e in h.events() if e.entity_id == str(staff_id)]
    assert "notification.created" in kinds and "notification.sent" in kinds
    assert kinds.index("notification.sent") > kinds.index("notification.created")


def test_the_sweep_sends_what_a_lost_job_left_and_a_second_run_sends_nothing(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    rule = {"high": [{"channel": "sms", "delay_seconds": 0}]}
    with session_scope() as session:
        nurse = make_staff(session, "Nurse Lost", rule, phone="+44 7700 900127")
        incident = make_incident(session, "P1", "B2")
        staff_id, incident_id = nurse.id, incident.id
    ids = notify(staff_id, incident_id)
    Queue(alerts_queue_name(), connection=h.conn).empty()  # the jobs are lost
    assert workers.notify.sweep_due() == 0  # not overdue by 2 s yet
    later = datetime.now(UTC) + timedelta(seconds=3)
    assert workers.notify.sweep_due(now=later) == 2  # in-app and SMS
    assert workers.notify.sweep_due(now=later) == 0  # claimed: not enqueued twice
    h.drain(none_queued(incident_id))
    assert len(h.sms.sent) == 1
    # A duplicate job (replayed queue) does nothing.
    assert workers.notify.deliver(str(ids[-1])) == "nothing"
    assert len(h.sms.sent) == 1
