"""Delivery receipts end to end, on a real Postgres and Redis, through the real HTTP app:

- SMS: a notification sent through the worker (``RecordingSmsProvider``, the only stand-in:
  the paid provider) gets the provider's Twilio-style status callback at
  ``POST /api/v1/notifications/sms/status`` (integration key, ``notify:sms_inbound``):
  delivered (timeline, live update, a duplicate is idempotent), undelivered with a retryable
  code (the next SMS attempt is inserted and sent by the worker), failed with a permanent
  code (falls back to the pager, which the worker pages); unknown ids 404 and are logged,
  bad bodies 422 naming the field, no key or a key without the scope the fixed 404 of a
  refused caller; Twilio's ``X-Twilio-Signature`` (signed for the public URL) instead of a
  key: a valid one is recorded, a tampered parameter, the wrong URL or token and a missing
  signature are refused alike (audited, logged, counted) and record nothing;
- WCTP: a page sent through a local WCTP 1.3 gateway (an HTTP server on 127.0.0.1) asks for
  delivery notification; the gateway's ``wctp-StatusInfo`` built from the page it received
  comes back at ``POST /api/v1/notifications/wctp?key=...`` and is answered with a
  ``wctp-Confirmation``: delivered, then a late failure ignored; a ``returned`` page pages
  again; wrong keys (audited), unknown ids, unreadable and entity-declaring documents are
  refused.

Retry delays are short (an injected policy); every wait is bounded (``wait_until``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from authsupport import (
    CheckedClient,
    assert_error,
    audit_rows_after,
    last_audit_id,
    new_integration_key,
)
from rq import Queue, SimpleWorker
from rq_scheduler import Scheduler
from test_notify_delivery_real import (
    FAST,
    HttpReceiver,
    make_incident,
    make_staff,
    messages,
    rows_of,
    wctp_success,
)
from testsupport import env_override

import workers.notify
from healthguard.api import build_api
from healthguard.api.sms_auth import REFUSED
from healthguard.db import session_scope
from healthguard.models.notifications import Notification
from healthguard.notify.channels.registry import build_channels, config_from_settings
from healthguard.notify.channels.sms import RecordingSmsProvider
from healthguard.notify.delivery import DeliveryContext
from healthguard.notify.service import Recipient, alerts_queue_name, notify_people
from healthguard.realtime.events import ChangeEvent
from healthguard.runtime.embedded import wait_until
from healthguard.settings import get_settings
from workers.run import TimerScheduler

pytestmark = pytest.mark.integration

WAIT = 20.0
CALLBACK_KEY = "wctp-callback-key-0123456789abcdef"
SMS_STATUS = "/api/v1/notifications/sms/status"
WCTP_STATUS = "/api/v1/notifications/wctp"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Rig:
    client: CheckedClient
    conn: redis.Redis
    sms: RecordingSmsProvider
    gateway: HttpReceiver
    sms_key: dict[str, str]
    other_key: dict[str, str]
    pubsub: Any

    def drain(self, until: Callable[[], bool]) -> None:
        """Move due timed jobs and run a burst worker on the alerts queue until ``until()``."""
        name = alerts_queue_name()
        scheduler = TimerScheduler(queue_name=name, connection=self.conn)

        def step() -> bool:
            scheduler.enqueue_jobs()
            worker = SimpleWorker([Queue(name, connection=self.conn)], connection=self.conn)
            worker.work(burst=True, logging_level="WARNING")
            return until()

        assert wait_until(step, WAIT, interval=0.05), "the deliveries did not finish in time"

    def sms_status(self, key: dict[str, str] | None = None, **fields: str) -> httpx.Response:
        return self.client.post(
            SMS_STATUS, data=fields, headers={**FORM, **(self.sms_key if key is None else key)}
        )

    def wctp(self, document: bytes, key: str | None = CALLBACK_KEY) -> httpx.Response:
        params = {"key": key} if key is not None else {}
        return self.client.post(
            WCTP_STATUS, content=document, params=params, headers={"Content-Type": "text/xml"}
        )

    def wait_for_event(self, kind: str, staff_id: uuid.UUID) -> None:
        def seen() -> bool:
            while (message := self.pubsub.get_message(timeout=0.05)) is not None:
                if message["type"] == "message":
                    event = ChangeEvent.from_json(message["data"])
                    if event.kind == kind and event.entity_id == str(staff_id):
                        return True
            return False

        assert wait_until(seen, WAIT), f"no {kind} live update for {staff_id}"


@pytest.fixture(scope="module")
def keyed(seeded: dict[str, int]) -> Iterator[None]:
    with env_override(HEALTHGUARD_WCTP_CALLBACK_KEY=CALLBACK_KEY):
        yield


@pytest.fixture
def rig(keyed: None, redis_url: str) -> Iterator[Rig]:
    conn = redis.Redis.from_url(redis_url)
    name = alerts_queue_name()
    Queue(name, connection=conn).empty()
    scheduler = Scheduler(queue_name=name, connection=conn)
    for job in scheduler.get_jobs():
        scheduler.cancel(job)
    gateway = HttpReceiver()
    gateway.routes["/wctp"] = (200, {"Content-Type": "text/xml"}, wctp_success())
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(get_settings().realtime_channel)
    pubsub.get_message(timeout=5)
    settings = get_settings().model_copy(
        update={
            "wctp_url": gateway.url("/wctp"),
            "wctp_sender_id": "healthguard",
            "wctp_notify_when_delivered": True,
        }
    )
    sms = RecordingSmsProvider()
    registry = build_channels(
        config_from_settings(settings),
        publish=workers.notify.in_app_publisher(conn),
        sms_provider=sms,
    )
    workers.notify.use_context(
        DeliveryContext(
            registry=registry, redis=conn, settings=settings, rand=lambda: 0.5, policies=FAST
        )
    )
    _, sms_key = new_integration_key("sms provider receipts", ["notify:sms_inbound"])
    _, other_key = new_integration_key("monitor gateway receipts", ["ingest:vitals"])
    try:
        with CheckedClient(build_api()) as client:
            yield Rig(
                client,
                conn,
                sms,
                gateway,
                {"X-API-Key": sms_key},
                {"X-API-Key": other_key},
                pubsub,
            )
    finally:
        workers.notify.use_context(None)
        pubsub.close()
        gateway.close()
        conn.close()


# --- helpers ---------------------------------------------------------------------------------


def person_and_incident(name: str, rule: list[dict[str, Any]], **contact: Any) -> tuple[Any, Any]:
    with session_scope() as session:
        nurse = make_staff(session, name, {"high": rule}, **contact)
        incident = make_incident(session, "P1", "B2")
        return nurse.id, incident.id


def notify(staff_id: uuid.UUID, incident_id: uuid.UUID) -> None:
    with session_scope() as session:
        from healthguard.models import Incident

        incident = session.get(Incident, incident_id)
        assert incident is not None
        notify_people(
            session, incident, [Recipient(staff_id, "assignee")], key="k", now=datetime.now(UTC)
        )


def row(incident_id: uuid.UUID, channel: str, attempt: int = 1) -> Notification:
    return next(r for r in rows_of(incident_id) if (r.channel, r.attempt) == (channel, attempt))


def on(incident_id: uuid.UUID, channel: str) -> list[Notification]:
    return [r for r in rows_of(incident_id) if r.channel == channel]


def status_info(message_id: str, kind: str, text: str = "") -> bytes:
    """The wctp-StatusInfo a gateway posts back about our page ``message_id``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE wctp-Operation SYSTEM "http://dtd.wctp.org/wctp-dtd-v1r3.dtd">\n'
        '<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-StatusInfo>'
        f'<wctp-ResponseHeader responseToMessageID="{message_id}" '
        f'responseTimestamp="{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}">'
        '<wctp-Originator senderID="healthguard"/>'
        f'<wctp-MessageControl messageID="{message_id}"/>'
        '<wctp-Recipient recipientID="PG5150"/>'
        f'</wctp-ResponseHeader><wctp-Notification type="{kind}">{text}</wctp-Notification>'
        "</wctp-StatusInfo></wctp-Operation>"
    ).encode()


def confirmation(response: httpx.Response) -> tuple[str, int, str]:
    """(Success or Failure, code, text) of our wctp-Confirmation answer."""
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    root = ET.fromstring(response.content)
    assert root.tag == "wctp-Operation" and root.get("wctpVersion") == "wctp-dtd-v1r3"
    (element,) = list(root.find("wctp-Confirmation") or [])
    if element.tag == "wctp-Success":
        return "success", int(element.get("successCode", "0")), element.get("successText", "")
    return "failure", int(element.get("errorCode", "0")), element.get("errorText", "")


def page_sent(rig: Rig, count: int = 1) -> list[ET.Element]:
    """The SubmitRequests the gateway received (waits for ``count``)."""
    assert wait_until(lambda: len(rig.gateway.requests_to("/wctp")) >= count, WAIT)
    return [ET.fromstring(r.body) for r in rig.gateway.requests_to("/wctp")]


# --- SMS ---------------------------------------------------------------------------------------


def test_sms_delivered_receipt_moves_the_notification_forward_once(rig: Rig) -> None:
    staff_id, incident_id = person_and_incident(
        "Sister Jones", [{"channel": "sms", "delay_seconds": 0}], phone="+44 7700 900301"
    )
    notify(staff_id, incident_id)
    rig.drain(lambda: len(rig.sms.sent) == 1)
    sid = rig.sms.sent[0].message_id
    assert row(incident_id, "sms").status == "sent"

    progress = rig.sms_status(MessageSid=sid, MessageStatus="sent")
    assert progress.status_code == 200, progress.text
    assert (progress.json()["outcome"], progress.json()["status"]) == ("unchanged", "sent")

    response = rig.sms_status(MessageSid=sid, MessageStatus="delivered")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["status"]) == ("advanced", "delivered")
    stored = row(incident_id, "sms")
    assert stored.status == "delivered" and stored.delivered_at is not None
    assert messages(incident_id).count("SMS delivered to Sister Jones") == 1
    rig.wait_for_event("notification.delivered", staff_id)

    again = rig.client.post(
        SMS_STATUS,
        json={"MessageSid": sid, "MessageStatus": "delivered"},
        headers=rig.sms_key,
    )
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "duplicate"
    assert row(incident_id, "sms").delivered_at == stored.delivered_at
    assert messages(incident_id).count("SMS delivered to Sister Jones") == 1

    late = rig.sms_status(MessageSid=sid, MessageStatus="failed", ErrorCode="30003")
    assert late.status_code == 200, late.text
    assert late.json()["outcome"] == "ignored" and "ignored" in late.json()["message"]
    assert row(incident_id, "sms").status == "delivered"
    assert len(on(incident_id, "sms")) == 1  # no retry after a delivered SMS


def test_sms_undelivered_receipt_retries_through_the_worker(rig: Rig) -> None:
    staff_id, incident_id = person_and_incident(
        "Dr Patel", [{"channel": "sms", "delay_seconds": 0}], phone="+44 7700 900302"
    )
    notify(staff_id, incident_id)
    rig.drain(lambda: len(rig.sms.sent) == 1)
    sid = rig.sms.sent[0].message_id

    response = rig.sms_status(MessageSid=sid, MessageStatus="undelivered", ErrorCode="30003")

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["next_action"]) == ("failed", "retry")
    first = row(incident_id, "sms")
    assert first.status == "failed" and first.failed_at is not None
    assert first.error == "SMS not delivered: handset unreachable (error 30003)"
    timeline = messages(incident_id)
    assert any(
        m.startswith("SMS to Dr Patel failed: handset unreachable (error 30003). SMS attempt 1")
        and "retrying in 1 s" in m
        for m in timeline
    ), timeline
    rig.wait_for_event("notification.failed", staff_id)
    # The next attempt is a row of its own, sent by the worker after the backoff.
    rig.drain(lambda: len(rig.sms.sent) == 2)
    second = row(incident_id, "sms", attempt=2)
    assert second.status == "sent" and second.provider_message_id == rig.sms.sent[1].message_id

    duplicate = rig.sms_status(MessageSid=sid, MessageStatus="undelivered", ErrorCode="30003")
    assert duplicate.json()["outcome"] == "duplicate"
    assert len(on(incident_id, "sms")) == 2  # a repeated failure plans nothing more


def test_sms_permanent_failure_falls_back_to_the_pager(rig: Rig) -> None:
    staff_id, incident_id = person_and_incident(
        "Nurse Landline",
        [{"channel": "sms", "delay_seconds": 0}, {"channel": "pager", "delay_seconds": 600}],
        phone="+44 7700 900303",
        pager_id="PG5150",
    )
    notify(staff_id, incident_id)
    rig.drain(lambda: len(rig.sms.sent) == 1)
    sid = rig.sms.sent[0].message_id
    assert row(incident_id, "pager").status == "queued"  # planned for +600 s

    response = rig.sms_status(MessageSid=sid, MessageStatus="failed", ErrorCode="30006")

    assert response.status_code == 200, response.text
    assert response.json()["next_action"] == "fall_back"
    assert any(
        m.startswith("SMS to Nurse Landline failed: landline or unreachable carrier")
        and "paging instead (the planned Pager brought forward)" in m
        for m in messages(incident_id)
    ), messages(incident_id)
    rig.drain(lambda: row(incident_id, "pager").status == "sent")
    (page,) = page_sent(rig)
    assert page.find("wctp-SubmitRequest/wctp-SubmitHeader/wctp-Recipient") is not None


def test_sms_status_refuses_unknown_ids_bad_bodies_and_wrong_keys(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="healthguard.api.receipts"):
        unknown = rig.sms_status(MessageSid="SMnever", MessageStatus="delivered")
    error = assert_error(unknown, 404, "not_found")
    assert "'SMnever'" in error["message"] and "Nothing was recorded" in error["message"]
    assert any("SMnever" in r.getMessage() for r in caplog.records)

    missing = rig.sms_status(MessageStatus="delivered")
    fields = assert_error(missing, 422, "invalid_request")["fields"]
    assert [f["field"] for f in fields] == ["MessageSid"]
    wrong = rig.sms_status(MessageSid="SM1", MessageStatus="lost")
    assert assert_error(wrong, 422, "invalid_request")["fields"][0]["field"] == "MessageStatus"
    not_json = rig.client.post(
        SMS_STATUS,
        content=b"{",
        headers={**rig.sms_key, "Content-Type": "application/json"},
    )
    assert assert_error(not_json, 422, "invalid_request")["fields"][0]["field"] == "body"

    # No key, or a key without the scope: the one fixed 404 of a refused caller (public
    # route, so that Twilio can call it with a signature instead), not the unknown-id 404.
    anonymous = rig.sms_status(key={}, MessageSid="SM1", MessageStatus="sent")
    refused = rig.sms_status(key=rig.other_key, MessageSid="SM1", MessageStatus="sent")
    assert (anonymous.status_code, anonymous.text) == (refused.status_code, refused.text)
    message = assert_error(refused, 404, "not_found")["message"]
    assert "notify:sms_inbound" in message and "Nothing was recorded" not in message


# --- Twilio signatures (X-Twilio-Signature instead of an integration key) ----------------------

TWILIO_TOKEN = "twilio-auth-token-for-tests-0123"
PUBLIC_URL = "https://healthguard.hospital.example"


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """The documented algorithm, written out independently of the product's module:
    base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value, by name))."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()


def refused_count(route: str) -> float:
    return REFUSED.labels(route=route)._value.get()


def test_a_twilio_signed_status_callback_is_recorded_and_forgeries_are_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    staff_id, incident_id = person_and_incident(
        "Nurse Twilio", [{"channel": "sms", "delay_seconds": 0}], phone="+44 7700 900311"
    )
    notify(staff_id, incident_id)
    rig.drain(lambda: len(rig.sms.sent) == 1)
    sid = rig.sms.sent[0].message_id
    params = {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "MessageSid": sid,
        "MessageStatus": "delivered",
        "To": "+447700900311",
    }
    public = PUBLIC_URL + SMS_STATUS
    good = twilio_signature(TWILIO_TOKEN, public, params)

    def post(fields: dict[str, str], signature: str | None) -> httpx.Response:
        headers = dict(FORM) | ({"X-Twilio-Signature": signature} if signature else {})
        return rig.client.post(SMS_STATUS, data=fields, headers=headers)

    before, audit_from = refused_count("sms_status"), last_audit_id()
    with (
        env_override(HEALTHGUARD_TWILIO_AUTH_TOKEN=TWILIO_TOKEN, HEALTHGUARD_PUBLIC_URL=PUBLIC_URL),
        caplog.at_level(logging.WARNING, logger="healthguard.api.sms_auth"),
    ):
        refusals = [
            # a parameter changed after signing (a failure report turned into delivered...)
            post({**params, "To": "+447700900399"}, good),
            # signed for the URL the app sees behind the proxy, not the public one Twilio used
            post(params, twilio_signature(TWILIO_TOKEN, f"http://testserver{SMS_STATUS}", params)),
            # signed with another account's token
            post(params, twilio_signature("another-account-token-0000000000", public, params)),
            post(params, None),  # no signature, no key
        ]
        assert row(incident_id, "sms").status == "sent"  # nothing recorded
        accepted = post(params, good)

    bodies = {(r.status_code, r.text) for r in refusals}
    assert len(bodies) == 1, bodies  # the same answer, whatever was wrong
    assert "notify:sms_inbound" in assert_error(refusals[0], 404, "not_found")["message"]
    assert refused_count("sms_status") == before + 4
    denied = [r for r in audit_rows_after(audit_from) if r.action == "access.denied"]
    assert [r.details["signature"] for r in denied] == ["invalid", "invalid", "invalid", "missing"]
    assert {r.record_id for r in denied} == {f"POST {SMS_STATUS}"}
    assert sum("SMS webhook sms_status refused" in r.getMessage() for r in caplog.records) == 4

    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["outcome"], accepted.json()["status"]) == ("advanced", "delivered")
    stored = row(incident_id, "sms")
    assert stored.status == "delivered" and stored.delivered_at is not None


def test_without_a_twilio_token_no_signature_is_accepted(rig: Rig) -> None:
    """HEALTHGUARD_TWILIO_AUTH_TOKEN unset: even a signature made with an empty token (what
    a forger would try) is refused; the integration key still works."""
    params = {"MessageSid": "SMnone", "MessageStatus": "delivered"}
    signature = twilio_signature("", f"http://testserver{SMS_STATUS}", params)
    response = rig.client.post(
        SMS_STATUS, data=params, headers={**FORM, "X-Twilio-Signature": signature}
    )
    message = assert_error(response, 404, "not_found")["message"]
    assert "Nothing was recorded" not in message  # refused before the id was looked up


# --- WCTP --------------------------------------------------------------------------------------


def test_wctp_page_asks_for_delivery_and_the_gateways_status_info_is_recorded(rig: Rig) -> None:
    staff_id, incident_id = person_and_incident(
        "Sister Pager", [{"channel": "pager", "delay_seconds": 0}], pager_id="PG5150"
    )
    notify(staff_id, incident_id)
    rig.drain(lambda: row(incident_id, "pager").status == "sent")
    (page,) = page_sent(rig)
    control = page.find("wctp-SubmitRequest/wctp-SubmitHeader/wctp-MessageControl")
    assert control is not None and control.get("notifyWhenDelivered") == "true"
    message_id = control.get("messageID")
    assert message_id == row(incident_id, "pager").provider_message_id

    # The gateway reports delivery of the page it received.
    answer = rig.wctp(status_info(message_id, "delivered"))

    assert answer.status_code == 200, answer.text
    kind, code, text = confirmation(answer)
    assert (kind, code) == ("success", 200) and "delivered" in text
    assert row(incident_id, "pager").status == "delivered"
    assert "Pager delivered to Sister Pager" in messages(incident_id)
    rig.wait_for_event("notification.delivered", staff_id)

    # A read report moves it on; a late failure report is ignored and says so.
    assert confirmation(rig.wctp(status_info(message_id, "read")))[0] == "success"
    assert row(incident_id, "pager").status == "read"
    late = rig.wctp(status_info(message_id, "failed", "expired"))
    kind, code, text = confirmation(late)
    assert (late.status_code, kind) == (200, "success") and "ignored" in text
    assert row(incident_id, "pager").status == "read"
    assert len(on(incident_id, "pager")) == 1


def test_wctp_returned_page_is_paged_again(rig: Rig) -> None:
    staff_id, incident_id = person_and_incident(
        "Dr Returned", [{"channel": "pager", "delay_seconds": 0}], pager_id="PG5150"
    )
    notify(staff_id, incident_id)
    rig.drain(lambda: row(incident_id, "pager").status == "sent")
    (page,) = page_sent(rig)
    control = page.find("wctp-SubmitRequest/wctp-SubmitHeader/wctp-MessageControl")
    assert control is not None
    message_id = control.get("messageID", "")

    answer = rig.wctp(status_info(message_id, "returned", "Pager out of range"))

    assert confirmation(answer)[:2] == ("success", 200)
    assert row(incident_id, "pager").status == "failed"
    assert any(
        m.startswith("Pager to Dr Returned failed: Pager out of range. Pager attempt 1")
        for m in messages(incident_id)
    ), messages(incident_id)
    rig.drain(lambda: len(rig.gateway.requests_to("/wctp")) == 2)
    rig.drain(lambda: row(incident_id, "pager", attempt=2).status == "sent")
    second = row(incident_id, "pager", attempt=2)
    assert second.provider_message_id == second.id.hex != message_id


def test_wctp_refuses_wrong_keys_unknown_ids_and_unsafe_documents(rig: Rig) -> None:
    document = status_info(uuid.uuid4().hex, "delivered")
    mark = last_audit_id()
    for key in (None, "wrong-key-wrong-key-wrong"):
        refused = rig.wctp(document, key=key)
        assert refused.status_code == 404
        assert confirmation(refused)[:2] == ("failure", 402)
    audit = audit_rows_after(mark)
    assert [(r.action, r.outcome) for r in audit] == [("access.denied", "denied")] * 2
    assert all(CALLBACK_KEY not in str(r.details) for r in audit)

    unknown = rig.wctp(document)
    kind, code, text = confirmation(unknown)
    assert (unknown.status_code, kind, code) == (404, "failure", 403)
    assert "Nothing was recorded" in text

    garbled = rig.wctp(b"<wctp-Operation")
    assert (garbled.status_code, confirmation(garbled)[1]) == (422, 301)
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><wctp-Operation>&b;</wctp-Operation>'
    )
    unsafe = rig.wctp(laughs)
    assert (unsafe.status_code, confirmation(unsafe)[1]) == (422, 301)
    assert "entities" in confirmation(unsafe)[2]
    no_type = rig.wctp(document.replace(b' type="delivered"', b""))
    kind, code, text = confirmation(no_type)
    assert (no_type.status_code, code) == (422, 302) and "wctp-Notification/@type" in text
