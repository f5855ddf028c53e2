"""Certification reminders end to end (``workers.oncall.certification_reminders``) against
real Postgres and Redis, a real SMTP server (aiosmtpd) and a real HTTP receiver for
Apprise's ``json://``, all on 127.0.0.1:

- a nurse whose ACLS expires in 7 days gets an e-mail naming the skill and the date, and
  the ward's charge nurses get one too; through a real RQ worker the first time, and a second
  run sends nothing;
- a person with no e-mail and an expired BLS is reached through Apprise (a broadcast naming
  them), the charge nurse by e-mail, "no longer counted" said;
- nobody reachable: a warning and an audit row saying so, once;
- an SMTP server that is down: not delivered, the mark released, the next run sends it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from authsupport import audit_rows_after, last_audit_id
from mailsupport import Mailbox, smtp_server
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from sqlmodel import col, select
from testsupport import free_port

import workers.notify
import workers.oncall as jobs
from healthguard.db import session_scope
from healthguard.models import Staff, StaffSkill, Ward
from healthguard.notify.channels.apprise_channel import AppriseConfig
from healthguard.notify.channels.base import SECONDARY_ALARM_NOTICE, ChannelKind
from healthguard.notify.channels.email import EmailConfig
from healthguard.notify.channels.registry import ChannelRegistry, ChannelsConfig, build_channels
from healthguard.notify.delivery import DeliveryContext
from healthguard.runtime.embedded import wait_until
from healthguard.settings import get_settings
from workers.queues import DEFAULT

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
WAIT = 20.0


# --- local servers ------------------------------------------------------------------------


class JsonReceiver:
    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.put(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def drain(self) -> list[dict[str, Any]]:
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def conn(seeded: dict[str, int], redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


_created: list[uuid.UUID] = []


@pytest.fixture(autouse=True)
def clean(conn: redis.Redis) -> Iterator[None]:
    """Every test starts with no reminder marks and none of the earlier tests' staff."""
    for key in conn.scan_iter("healthguard:oncall:certification-reminder:*"):
        conn.delete(key)
    yield
    if _created:
        with session_scope() as session:
            session.execute(sa.delete(Staff).where(col(Staff.id).in_(_created)))
        _created.clear()


# --- helpers ------------------------------------------------------------------------------


def local_today(now: datetime) -> date:
    return now.astimezone(ZoneInfo(get_settings().timezone)).date()


def new_staff(
    name: str, skill: str, expires_on: date, *, email_address: str | None, role: str = "nurse"
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """(staff id, skill record id, display name) of an ICU staff member of this test."""
    with session_scope() as session:
        icu = session.exec(select(Ward).where(Ward.code == "ICU")).one()
        person = Staff(
            display_name=f"{name} {uuid.uuid4().hex[:6]}",
            role=role,
            home_ward_id=icu.id,
            email=email_address,
        )
        session.add(person)
        session.flush()
        record = StaffSkill(staff_id=person.id, skill=skill, expires_on=expires_on)
        session.add(record)
        session.flush()
        _created.append(person.id)
        return person.id, record.id, person.display_name


def icu_charge_nurse_emails() -> set[str]:
    with session_scope() as session:
        icu = session.exec(select(Ward).where(Ward.code == "ICU")).one()
        rows = session.exec(
            select(Staff.email).where(Staff.role == "charge_nurse", Staff.home_ward_id == icu.id)
        ).all()
    return {e for e in rows if e}


def registry(*, smtp_port: int | None = None, apprise_port: int | None = None) -> ChannelRegistry:
    enabled = {ChannelKind.IN_APP}
    email_config = None
    if smtp_port is not None:
        enabled.add(ChannelKind.EMAIL)
        email_config = EmailConfig(
            host=LOOPBACK,
            port=smtp_port,
            security="none",
            from_address="HealthGuard Ops <healthguard@hospital.example>",
            timeout=5,
        )
    return build_channels(
        ChannelsConfig(
            enabled=frozenset(enabled),
            email=email_config,
            apprise=(
                AppriseConfig(urls=(f"json://{LOOPBACK}:{apprise_port}/reminders",), timeout=5)
                if apprise_port is not None
                else None
            ),
        ),
        publish=lambda event: None,
    )


def subject(mail: EmailMessage) -> str:
    """The subject unfolded (a long one is folded onto the next line)."""
    return " ".join(str(mail["Subject"]).split())


def rows_for(record_id: uuid.UUID, since: int) -> list[Any]:
    return [r for r in audit_rows_after(since) if r.record_id == str(record_id)]


# --- tests --------------------------------------------------------------------------------


def test_seven_days_left_mails_the_nurse_and_charge_nurses_once(
    smtp: tuple[Mailbox, int], conn: redis.Redis
) -> None:
    mailbox, port = smtp
    now = datetime.now(UTC)
    expires = local_today(now) + timedelta(days=7)
    address = f"nina.{uuid.uuid4().hex[:6]}@hospital.example"
    _, record_id, name = new_staff("Nina Expiring", "ACLS", expires, email_address=address)
    before = last_audit_id()

    # The scheduled entry point, through a real RQ worker, with the notify worker's channels.
    workers.notify.use_context(DeliveryContext(registry=registry(smtp_port=port), redis=conn))
    try:
        queue_ = Queue(DEFAULT, connection=conn)
        job = queue_.enqueue("workers.oncall.certification_reminders")
        SimpleWorker([queue_], connection=conn).work(burst=True)
        assert job.get_status() == JobStatus.FINISHED, job.latest_result()
        assert str(record_id) in job.return_value()
    finally:
        workers.notify.use_context(None)

    assert wait_until(lambda: len(mailbox.to(address)) == 1, WAIT)
    [mail] = mailbox.to(address)
    assert subject(mail) == f"[P4] Your ACLS certificate expires in 7 days ({expires})"
    text = mail.get_content()
    assert f"ACLS certification expires on {expires} (in 7 days)" in text
    assert "not counted for P0 assignment" in text
    assert SECONDARY_ALARM_NOTICE in text and "This reminder concerns no patient." in text

    nurses = icu_charge_nurse_emails()
    assert nurses, "the demo ICU has charge nurses"
    for nurse in nurses:
        mails = [m for m in mailbox.to(nurse) if name in subject(m)]
        assert len(mails) == 1, nurse
        assert subject(mails[0]) == f"[P4] {name}'s ACLS certificate expires in 7 days ({expires})"

    [row] = rows_for(record_id, before)
    assert row.outcome == "reminded" and row.details["days_left"] == 7
    assert {e["outcome"] for e in row.details["reminders"]} == {"sent"}
    assert len(row.details["reminders"]) == 1 + len(nurses)

    # A second run the same day (and the next day, same stage) sends nothing more.
    again = datetime.now(UTC)
    assert str(record_id) not in jobs.certification_reminders(
        now=again, registry=registry(smtp_port=port)
    )
    assert str(record_id) not in jobs.certification_reminders(
        now=again + timedelta(days=1), registry=registry(smtp_port=port)
    )
    assert len(mailbox.to(address)) == 1
    assert rows_for(record_id, before) == [row]


def test_no_email_goes_through_apprise_and_the_charge_nurse_hears_it_expired(
    smtp: tuple[Mailbox, int], hook: JsonReceiver
) -> None:
    mailbox, port = smtp
    now = datetime.now(UTC)
    expired = local_today(now) - timedelta(days=2)
    _, record_id, name = new_staff("Omar Nomail", "BLS", expired, email_address=None)
    before = last_audit_id()

    channels = registry(smtp_port=port, apprise_port=hook.port)
    assert str(record_id) in jobs.certification_reminders(now=now, registry=channels)

    posted = [p for p in hook.drain() if name in p["title"]]
    assert len(posted) == 1
    assert posted[0]["title"] == f"[P4] For {name}: Your BLS certificate expired on {expired}"
    assert "you are not counted for P2 and P3 assignment" in posted[0]["message"]
    assert SECONDARY_ALARM_NOTICE in posted[0]["message"]

    for nurse in icu_charge_nurse_emails():
        [mail] = [m for m in mailbox.to(nurse) if name in subject(m)]
        assert subject(mail) == f"[P4] {name}'s BLS certificate expired on {expired}"
        assert f"{name} is not counted for P2 and P3 assignment" in mail.get_content()

    [row] = rows_for(record_id, before)
    assert row.outcome == "reminded" and row.details["counts_for_assignment"] is False
    holder = next(e for e in row.details["reminders"] if e["as"] == "holder")
    assert holder["channel"] == "apprise" and holder["tried"] == ["apprise"]

    assert str(record_id) not in jobs.certification_reminders(now=now, registry=channels)
    assert not [p for p in hook.drain() if name in p["title"]]


def test_nobody_reachable_is_a_warning_and_an_audit_row_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime.now(UTC)
    expires = local_today(now) + timedelta(days=20)
    _, record_id, name = new_staff("Una Reachable", "PALS", expires, email_address=None)
    before = last_audit_id()
    caplog.set_level(logging.WARNING, logger="workers.oncall")

    assert str(record_id) in jobs.certification_reminders(now=now, registry=registry())
    [row] = rows_for(record_id, before)
    assert row.outcome == "no_channel"
    [entry] = row.details["reminders"]
    assert entry["outcome"] == "no_channel" and "no e-mail address" in entry["error"]
    assert any(
        name in r.getMessage() and "no channel available" in r.getMessage() for r in caplog.records
    )

    assert str(record_id) not in jobs.certification_reminders(now=now, registry=registry())
    assert rows_for(record_id, before) == [row]


def test_smtp_down_is_retried_at_the_next_run(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    now = datetime.now(UTC)
    expires = local_today(now) + timedelta(days=14)
    address = f"rita.{uuid.uuid4().hex[:6]}@hospital.example"
    _, record_id, _ = new_staff("Rita Retry", "critical_care", expires, email_address=address)
    before = last_audit_id()

    down = registry(smtp_port=free_port())  # nobody listens there
    assert str(record_id) in jobs.certification_reminders(now=now, registry=down)
    [failed] = rows_for(record_id, before)
    assert failed.outcome == "not_delivered"
    assert failed.details["reminders"][0]["retry_next_run"] is True
    assert mailbox.to(address) == []

    assert str(record_id) in jobs.certification_reminders(
        now=now, registry=registry(smtp_port=port)
    )
    assert wait_until(lambda: len(mailbox.to(address)) == 1, WAIT)
    assert "critical_care certificate expires in 14 days" in subject(mailbox.to(address)[0])
