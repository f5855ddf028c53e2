"""Web Push in the browser, server side, on a real Postgres and Redis: the payload the
service worker receives for a real incident, the push receipt (a ``sent`` push notification
becomes ``delivered``; a status never moves backwards; forged tokens are refused) and the
JSON answer a notification's button gets from ``POST /answer``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from authsupport import (
    CheckedClient,
    assert_error,
    audit_rows_after,
    incident_row,
    last_audit_id,
    open_incident_in,
    record_notification,
)
from pushsupport import payload_for
from sqlmodel import select

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.incidents.timeline import read_timeline
from healthguard.models import Notification, Staff, User, Ward
from healthguard.notify.push_receipts import (
    ReceiptOutcome,
    receipt_token,
    record_push_receipt,
    verify_receipt_token,
)

pytestmark = pytest.mark.integration

RECEIPTS = "/api/v1/notifications/push-receipts"


@pytest.fixture(scope="module", autouse=True)
def database(seeded: dict[str, int]) -> dict[str, int]:
    return seeded


@pytest.fixture(scope="module")
def client(database: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(build_api()) as client:
        yield client


def nurse() -> tuple[uuid.UUID, str]:
    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        ward_id = session.exec(select(Ward.id).where(Ward.code == "CARD")).one()
        staff = Staff(display_name=f"Push Tester {tag}", role="nurse", home_ward_id=ward_id)
        session.add(staff)
        session.flush()
        session.add(User(username=f"push.{tag}", role="nurse", staff_id=staff.id))
        return staff.id, f"push.{tag}"


def stored(notification_id: uuid.UUID) -> Notification:
    with session_scope() as session:
        row = session.get(Notification, notification_id)
        assert row is not None
        session.expunge(row)
        return row


def push_notification(status: str = "sent", priority: str = "P1") -> tuple[uuid.UUID, str]:
    staff_id, _ = nurse()
    incident = open_incident_in("CARD", "B3", f"Push: {uuid.uuid4().hex[:6]}", priority)
    return record_notification(staff_id, incident, "push", status), incident


# --- the payload -------------------------------------------------------------------------------


def test_the_payload_of_a_real_incident_is_ready_for_the_service_worker() -> None:
    notification_id, incident = push_notification(priority="P1")
    payload = payload_for(notification_id)

    number = incident_row(incident).number
    assert payload["title"].startswith("P1 Emergency: ")  # the priority once, not "[P1] P1"
    assert "bed B3" in payload["title"]
    assert payload["tag"] == f"incident-{incident}"
    assert payload["requireInteraction"] is True and payload["renotify"] is True
    assert payload["open"] == "/my"
    assert f"#{number}" in payload["body"]
    assert "Secondary alarm" in payload["body"]
    assert "token=" not in payload["body"]  # the links are the buttons, not body text
    assert [a["action"] for a in payload["actions"]] == ["ack", "escalate", "decline"]
    for item in payload["actions"]:
        url = urlsplit(item["url"])
        assert url.path == "/answer" and len(parse_qs(url.query)["token"][0]) == 84
    assert verify_receipt_token(payload["receipt"]) == notification_id


# --- the receipt service -----------------------------------------------------------------------


def test_a_sent_push_becomes_delivered_once_with_a_timeline_entry() -> None:
    notification_id, incident = push_notification()
    first = datetime.now(UTC)
    with session_scope() as session:
        result = record_push_receipt(session, notification_id, first)
    assert result.outcome is ReceiptOutcome.DELIVERED
    row = stored(notification_id)
    assert (row.status, row.delivered_at) == ("delivered", first)

    with session_scope() as session:
        again = record_push_receipt(session, notification_id, first + timedelta(seconds=5))
        entries = [e for e in read_timeline(session, uuid.UUID(incident))]
    assert again.outcome is ReceiptOutcome.ALREADY
    assert stored(notification_id).delivered_at == first  # the first arrival is kept
    delivered = [e for e in entries if e.kind == "notification.delivered"]
    assert len(delivered) == 1 and "reached the device" in delivered[0].message


@pytest.mark.parametrize("status", ["read", "answered"])
def test_read_and_answered_stay_and_only_gain_the_arrival_time(status: str) -> None:
    notification_id, _ = push_notification(status=status)
    now = datetime.now(UTC)
    with session_scope() as session:
        result = record_push_receipt(session, notification_id, now)
    assert (result.outcome, result.status) == (ReceiptOutcome.ALREADY, status)
    row = stored(notification_id)
    assert (row.status, row.delivered_at) == (status, now)


@pytest.mark.parametrize("status", ["queued", "failed", "cancelled"])
def test_a_push_that_was_not_sent_is_left_alone(status: str) -> None:
    notification_id, _ = push_notification(status=status)
    with session_scope() as session:
        result = record_push_receipt(session, notification_id, datetime.now(UTC))
    assert result.outcome is ReceiptOutcome.NOT_APPLICABLE
    row = stored(notification_id)
    assert (row.status, row.delivered_at) == (status, None)


def test_only_push_notifications_take_receipts() -> None:
    staff_id, _ = nurse()
    incident = open_incident_in("CARD", "B3", "Push: an SMS")
    sms = record_notification(staff_id, incident, "sms", "sent")
    with session_scope() as session, pytest.raises(LookupError):
        record_push_receipt(session, sms, datetime.now(UTC))
    assert stored(sms).status == "sent"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "%%%%",
        receipt_token(uuid.uuid4(), b"k" * 32),  # signed with another key
    ],
)
def test_forged_or_damaged_receipt_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="push receipt token"):
        verify_receipt_token(token)


def test_a_token_for_another_notification_does_not_verify() -> None:
    genuine = receipt_token(uuid.uuid4())
    raw = genuine[:21] + ("A" if genuine[21] != "A" else "B") + genuine[22:]
    with pytest.raises(ValueError):
        verify_receipt_token(raw)


# --- the receipt route -------------------------------------------------------------------------


def test_the_route_marks_delivered_and_a_replay_changes_nothing(client: CheckedClient) -> None:
    notification_id, _ = push_notification()
    token = receipt_token(notification_id)

    response = client.post(RECEIPTS, json={"token": token})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["status"]) == ("delivered", "delivered")
    arrived = stored(notification_id).delivered_at
    assert arrived is not None

    replay = client.post(RECEIPTS, json={"token": token}).json()
    assert (replay["outcome"], replay["status"]) == ("already", "delivered")
    assert stored(notification_id).delivered_at == arrived


def test_the_route_refuses_a_forged_token_and_audits_it(client: CheckedClient) -> None:
    notification_id, _ = push_notification()
    forged = receipt_token(notification_id, b"x" * 32)
    before = last_audit_id()

    error = assert_error(client.post(RECEIPTS, json={"token": forged}), 400, "invalid_token")

    assert error["fields"][0]["field"] == "token"
    assert stored(notification_id).status == "sent"
    refused = [r for r in audit_rows_after(before) if r.action == "token.refused"]
    assert [r.record_type for r in refused] == ["push_receipt"]


@pytest.mark.parametrize(
    ("body", "field"), [({}, "token"), ({"token": "x" * 201}, "token"), ({"token": 5}, "token")]
)
def test_bad_receipt_input_names_the_field(client: CheckedClient, body: dict, field: str) -> None:
    error = assert_error(client.post(RECEIPTS, json=body), 422, "invalid_request")
    assert field in {f["field"] for f in error["fields"]}


def test_a_receipt_for_a_notification_that_is_gone_is_404(client: CheckedClient) -> None:
    assert_error(
        client.post(RECEIPTS, json={"token": receipt_token(uuid.uuid4())}), 404, "not_found"
    )


# --- a notification's button: POST /answer as JSON ------------------------------------------


def button(client: CheckedClient, url: str) -> tuple[int, dict]:
    token = parse_qs(urlsplit(url).query)["token"][0]
    response = client.post(
        "/answer", data={"token": token, "via": "push"}, headers={"Accept": "application/json"}
    )
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, response.json()


def test_a_button_answers_as_json_via_push_then_refuses_a_replay(client: CheckedClient) -> None:
    first, incident = push_notification()
    second_staff, _ = nurse()
    second = record_notification(second_staff, incident, "push", "sent")
    mine, theirs = payload_for(first), payload_for(second)

    status, body = button(client, mine["actions"][0]["url"])
    assert status == 200, body
    assert (body["outcome"], body["code"]) == ("done", "acknowledged")
    assert body["action"] == "acknowledge"
    assert incident_row(incident).status == "acknowledged"
    with session_scope() as session:
        vias = [
            e.data["via"]
            for e in read_timeline(session, uuid.UUID(incident))
            if e.kind == "answered"
        ]
    assert vias == ["push"]

    status, body = button(client, theirs["actions"][0]["url"])
    assert status == 200 and body["outcome"] == "no_longer_applies", body
    assert "already acknowledged by push." in body["message"]

    status, body = button(client, mine["actions"][0]["url"])
    assert status == 410 and (body["outcome"], body["code"]) == ("refused", "already_used")


def test_a_button_with_an_unknown_via_names_the_field(client: CheckedClient) -> None:
    response = client.post(
        "/answer", data={"token": "x", "via": "fax"}, headers={"Accept": "application/json"}
    )
    error = assert_error(response, 422, "invalid_request")
    assert "via" in {f["field"] for f in error["fields"]}
