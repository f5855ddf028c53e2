"""The notifications API on a real Postgres and Redis: your notification list and marking one
read, answering in the app (the same 409 as the incident routes when it no longer applies),
answer links (the page never spends the link; the button does, once; forged, tampered,
expired and replayed links are refused and change nothing), SMS replies from the provider's
integration key, Web Push subscriptions and the VAPID public key; with permissions, scopes
and audit records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from authsupport import (
    CheckedClient,
    assert_error,
    audit_rows_after,
    bearer,
    fresh_tokens,
    incident_row,
    last_audit_id,
    new_integration_key,
    open_incident_in,
    record_notification,
    sign_in,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select
from testsupport import env_override

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.incidents.timeline import read_timeline
from healthguard.models import Incident, Patient, Staff, User, Ward
from healthguard.models.oncall import PushSubscription, UsedAnswerToken
from healthguard.notify import reply_codes, tokens
from healthguard.notify.channels.webpush import generate_vapid_keys
from healthguard.notify.delivery import answer_link_secret, answer_links
from healthguard.patients.phi import display_names
from healthguard.settings import get_settings

pytestmark = pytest.mark.integration

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Person:
    staff_id: uuid.UUID
    username: str
    e164: str
    headers: dict[str, str]


@dataclass
class Api:
    client: CheckedClient
    sms_key: dict[str, str]
    other_key: dict[str, str]

    def person(self, role: str = "nurse", ward: str = "CARD") -> Person:
        """A fresh staff member with an account and an access token: nobody else notifies
        them, so each test sees only its own notifications."""
        n = next(_numbers)
        tag = uuid.uuid4().hex[:8]
        phone = f"+44 7911 2{n:05d}"
        with session_scope() as session:
            ward_id = session.exec(select(Ward.id).where(Ward.code == ward)).one()
            staff = Staff(
                display_name=f"Api Tester {tag}", role="nurse", home_ward_id=ward_id, phone=phone
            )
            session.add(staff)
            session.flush()
            session.add(User(username=f"api.{tag}", role=role, staff_id=staff.id))
            staff_id = staff.id
        access, _ = fresh_tokens(f"api.{tag}")
        return Person(staff_id, f"api.{tag}", phone.replace(" ", ""), bearer(access))

    def sms(self, sender: str, text: str, key: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(
            "/api/v1/notifications/sms-inbound",
            json={"from": sender, "text": text},
            headers=self.sms_key if key is None else key,
        )


@pytest.fixture(scope="module")
def api(seeded: dict[str, int]) -> Iterator[Api]:
    with CheckedClient(build_api()) as client:
        _, sms_key = new_integration_key("sms provider", ["notify:sms_inbound"])
        _, other_key = new_integration_key("monitor gateway", ["ingest:vitals"])
        yield Api(client, {"X-API-Key": sms_key}, {"X-API-Key": other_key})


def answered_vias(incident: str) -> list[tuple[str, str, str]]:
    with session_scope() as session:
        return [
            (e.actor, e.data["via"], e.data["outcome"])
            for e in read_timeline(session, uuid.UUID(incident))
            if e.kind == "answered"
        ]


def notify(person: Person, incident: str, channel: str = "sms", status: str = "sent") -> str:
    return str(record_notification(person.staff_id, incident, channel, status))


def card(title: str, priority: str = "P2", bed: str = "B4") -> str:
    return open_incident_in("CARD", bed, title, priority)


# --- your notifications -------------------------------------------------------------------------


def test_mine_lists_your_notifications_with_the_incident_and_the_unread_count(api: Api) -> None:
    nurse, other = api.person(), api.person()
    first = card("List: first", priority="P1", bed="B1")
    second = card("List: second", bed="B2")
    sms = notify(nurse, first, "sms")
    push = notify(nurse, second, "push", status="delivered")
    read = notify(nurse, second, "email", status="read")
    notify(nurse, second, "voice", status="queued")  # not sent yet: not listed
    notify(other, first)  # someone else's

    response = api.client.get("/api/v1/notifications/mine", headers=nurse.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unread"] == 2
    listed = {n["id"]: n for n in body["notifications"]}
    assert set(listed) == {sms, push, read}
    item = listed[sms]
    number = incident_row(first).number
    assert (item["incident_id"], item["incident_number"], item["priority"]) == (first, number, "P1")
    assert (item["ward"], item["bed"], item["incident_status"]) == ("CARD", "B1", "triggered")
    assert (item["channel"], item["status"], item["unread"]) == ("sms", "sent", True)
    assert listed[read]["unread"] is False
    assert [n["id"] for n in body["notifications"]][-1] == sms  # newest first

    unread = api.client.get(
        "/api/v1/notifications/mine",
        params={"unread_only": True, "limit": 1},
        headers=nurse.headers,
    ).json()
    assert unread["unread"] == 2 and [n["id"] for n in unread["notifications"]] == [push]


def test_mine_without_a_staff_member_is_empty_and_needs_credentials(api: Api) -> None:
    admin = bearer(sign_in(api.client, "admin")["access_token"])
    response = api.client.get("/api/v1/notifications/mine", headers=admin)
    assert response.status_code == 200
    assert response.json() == {
        "unread": 0,
        "unread_incidents": 0,
        "highest_unread_priority": None,
        "notifications": [],
    }
    assert_error(api.client.get("/api/v1/notifications/mine"), 401, "unauthorized")


def test_read_marks_your_own_and_answers_404_for_anyone_elses(api: Api) -> None:
    nurse, other = api.person(), api.person()
    incident = card("Read: one")
    mine = notify(nurse, incident, "push")

    assert_error(
        api.client.post(f"/api/v1/notifications/{mine}/read", headers=other.headers),
        404,
        "not_found",
    )
    assert_error(
        api.client.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=nurse.headers),
        404,
        "not_found",
    )
    response = api.client.post(f"/api/v1/notifications/{mine}/read", headers=nurse.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["unread"]) == ("read", False)
    assert response.json()["read_at"] is not None
    assert api.client.get("/api/v1/notifications/mine", headers=nurse.headers).json()["unread"] == 0
    again = api.client.post(f"/api/v1/notifications/{mine}/read", headers=nurse.headers)
    assert again.status_code == 200 and again.json()["read_at"] == response.json()["read_at"]


# --- answering in the app -------------------------------------------------------------------------


def answer(api: Api, person: Person, incident: str, action: str, **extra: Any) -> httpx.Response:
    return api.client.post(
        "/api/v1/notifications/answer",
        json={"incident_id": incident, "action": action, **extra},
        headers=person.headers,
    )


def test_answer_in_the_app_acknowledges_once_then_409_as_the_incident_routes(api: Api) -> None:
    first, second = api.person(), api.person()
    incident = card("App: acknowledge")
    notify(first, incident, "in_app")
    notify(second, incident, "push")
    mark = last_audit_id()

    done = answer(api, first, incident, "acknowledge")

    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["outcome"], body["action"], body["via"], body["status"]) == (
        "done",
        "acknowledge",
        "app",
        "acknowledged",
    )
    assert body["incident_number"] == incident_row(incident).number
    assert incident_row(incident).acknowledged_by == first.username

    late = answer(api, second, incident, "acknowledge", via="push")

    error = assert_error(late, 409, "illegal_transition")
    assert error["current_status"] == "acknowledged"
    assert "start" in error["allowed_actions"]
    assert f"already acknowledged by {first.username} at " in error["message"]
    charge = bearer(sign_in(api.client, "charge.card")["access_token"])
    same = api.client.post(f"/api/v1/incidents/{incident}/acknowledge", headers=charge)
    assert assert_error(same, 409, "illegal_transition")["message"] == error["message"]
    assert incident_row(incident).version == 2
    assert answered_vias(incident) == [
        (first.username, "app", "done"),
        (second.username, "push", "no_longer_applies"),
    ]
    audit = [(r.action, r.actor, r.outcome) for r in audit_rows_after(mark)]
    assert ("incident.acknowledged", first.username, "success") in audit
    assert ("incident.acknowledged", second.username, "failure") in audit


def test_answer_needs_a_notification_the_permission_and_good_input(api: Api) -> None:
    nurse = api.person()
    incident = card("App: refusals")
    assert_error(answer(api, nurse, incident, "acknowledge"), 404, "not_found")

    auditor = bearer(sign_in(api.client, "auditor")["access_token"])
    refused = api.client.post(
        "/api/v1/notifications/answer",
        json={"incident_id": incident, "action": "acknowledge"},
        headers=auditor,
    )
    assert "incidents:acknowledge" in assert_error(refused, 403, "forbidden")["message"]

    notify(nurse, incident)
    bad = assert_error(answer(api, nurse, incident, "resolve"), 422, "invalid_request")
    assert "action" in bad["message"]
    via = assert_error(
        answer(api, nurse, incident, "acknowledge", via="sms"), 422, "invalid_request"
    )
    assert "via" in via["message"]
    missing = api.client.post(
        "/api/v1/notifications/answer", json={"action": "acknowledge"}, headers=nurse.headers
    )
    assert "incident_id" in assert_error(missing, 422, "invalid_request")["message"]
    assert_error(
        api.client.post(
            "/api/v1/notifications/answer", json={"incident_id": incident, "action": "ack"}
        ),
        401,
        "unauthorized",
    )
    assert incident_row(incident).status == "triggered"


def test_a_push_button_escalates(api: Api) -> None:
    nurse = api.person()
    incident = card("App: escalate from push", priority="P1")
    notify(nurse, incident, "push")
    step_before = incident_row(incident).escalation_step

    done = answer(api, nurse, incident, "escalate", via="push")

    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "done"
    assert "next step" in done.json()["message"]
    assert incident_row(incident).escalation_step == step_before + 1
    assert answered_vias(incident) == [(nurse.username, "push", "done")]


# --- answer links ---------------------------------------------------------------------------------


def link_token(person: Person, incident: str, action: str = "acknowledge", **kw: Any) -> str:
    """What an email's link carries (healthguard.notify.delivery builds the links)."""
    now = kw.pop("now", datetime.now(UTC))
    ttl = kw.pop("ttl", timedelta(minutes=15))
    secret = kw.pop("secret", answer_link_secret())
    return tokens.issue(secret, incident, person.staff_id, action, now, ttl)


def page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "noindex" in response.headers["x-robots-tag"]
    assert "secondary alarm" in response.text.lower()
    return response.text


def used(token: str) -> bool:
    verified = tokens.verify(answer_link_secret(), token, datetime.now(UTC))
    assert isinstance(verified, tokens.VerifiedToken)
    with session_scope() as session:
        return session.get(UsedAnswerToken, verified.jti) is not None


def test_delivery_links_open_the_answer_page(api: Api) -> None:
    nurse = api.person()
    incident = card("Link: from delivery")
    notify(nurse, incident, "email")
    links = answer_links(
        get_settings(), uuid.UUID(incident), nurse.staff_id, "P2", datetime.now(UTC)
    )
    assert links.acknowledge is not None
    path = links.acknowledge.removeprefix(get_settings().url.rstrip("/"))
    text = page(api.client.get(path), 200)
    assert f"Acknowledge incident #{incident_row(incident).number}?" in text


def test_the_page_shows_the_incident_with_initials_only_and_does_not_spend_the_link(
    api: Api,
) -> None:
    nurse = api.person()
    incident = card("Link: SpO2 87 %", priority="P1", bed="B3")
    notify(nurse, incident, "email")
    token = link_token(nurse, incident)
    with session_scope() as session:
        row = session.get(Incident, uuid.UUID(incident))
        assert row is not None and row.patient_id is not None
        patient = session.get(Patient, row.patient_id)
        assert patient is not None
        given, family = display_names(patient.id, patient.given_name_enc, patient.family_name_enc)
    assert given and family

    for _ in range(2):  # a mail scanner, then the person
        text = page(api.client.get("/answer", params={"token": token}), 200)
    number = incident_row(incident).number
    assert f"Acknowledge incident #{number}?" in text
    assert f"{given[0].upper()}.{family[0].upper()}." in text
    for name in (given, family):
        assert not re.search(rf"\b{re.escape(name)}\b", text), name
    assert "P1 Emergency" in text and "CARD, bed B3" in text and "Link: SpO2 87 %" in text
    assert re.search(r'<form method="post" action="/answer">', text)
    assert f'name="token" value="{token}"' in text
    assert not used(token)
    assert incident_row(incident).status == "triggered"

    done = page(api.client.post("/answer", data={"token": token}), 200)

    assert f"Done: #{number} acknowledged" in done
    assert incident_row(incident).acknowledged_by == nurse.username
    assert answered_vias(incident) == [(nurse.username, "link", "done")]
    assert used(token)


def test_a_replayed_link_is_refused_and_changes_nothing(api: Api) -> None:
    nurse = api.person()
    incident = card("Link: replay")
    notify(nurse, incident, "email")
    token = link_token(nurse, incident, "escalate")
    page(api.client.post("/answer", data={"token": token}), 200)
    version = incident_row(incident).version
    mark = last_audit_id()

    again = page(api.client.post("/answer", data={"token": token}), 410)
    shown = page(api.client.get("/answer", params={"token": token}), 410)

    assert "already used" in again and "Nothing was changed" in again
    assert "already used" in shown
    after = incident_row(incident)
    assert (after.version, after.escalation_step) == (version, 1)
    audit = audit_rows_after(mark)
    assert [(r.action, r.actor, r.outcome, r.details) for r in audit] == [
        ("token.refused", "anonymous", "denied", {"reason": "already_used"})
    ]
    assert audit[0].record_id == incident
    assert token not in str(audit[0].details)


def tampered(token: str) -> str:
    """The same token with its action changed from acknowledge to escalate (MAC kept)."""
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[1] = 2
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("kind", ["forged", "tampered", "damaged", "empty"])
def test_forged_tampered_and_damaged_links_are_refused(api: Api, kind: str) -> None:
    nurse = api.person()
    incident = card(f"Link: {kind}")
    notify(nurse, incident, "email")
    token = {
        "forged": lambda: link_token(nurse, incident, secret=os.urandom(32)),
        "tampered": lambda: tampered(link_token(nurse, incident)),
        "damaged": lambda: link_token(nurse, incident)[:-3],
        "empty": lambda: "",
    }[kind]()
    mark = last_audit_id()

    shown = page(api.client.get("/answer", params={"token": token}), 400)
    refused = page(api.client.post("/answer", data={"token": token}), 400)

    assert "This link cannot be used" in shown and "Nothing was changed" in refused
    assert incident_row(incident).version == 1
    assert answered_vias(incident) == []
    reason = "bad_signature" if kind in ("forged", "tampered") else "malformed"
    assert [(r.action, r.details["reason"]) for r in audit_rows_after(mark)] == [
        ("token.refused", reason)
    ]


def test_a_post_without_a_token_is_refused(api: Api) -> None:
    text = page(api.client.post("/answer"), 400)
    assert "incomplete or damaged" in text


def test_an_expired_link_is_refused(api: Api) -> None:
    nurse = api.person()
    incident = card("Link: expired")
    notify(nurse, incident, "email")
    token = link_token(
        nurse, incident, now=datetime.now(UTC) - timedelta(hours=1), ttl=timedelta(minutes=15)
    )
    mark = last_audit_id()

    shown = page(api.client.get("/answer", params={"token": token}), 410)
    refused = page(api.client.post("/answer", data={"token": token}), 410)

    assert "expired" in shown and "expired" in refused
    assert incident_row(incident).status == "triggered"
    assert [(r.action, r.details["reason"]) for r in audit_rows_after(mark)] == [
        ("token.refused", "expired")
    ]


def test_a_link_that_no_longer_applies_is_a_clear_page(api: Api) -> None:
    first, second = api.person(), api.person()
    incident = card("Link: too late")
    notify(first, incident, "in_app")
    notify(second, incident, "email")
    token = link_token(second, incident)
    assert answer(api, first, incident, "acknowledge").status_code == 200

    text = page(api.client.post("/answer", data={"token": token}), 200)

    assert "no longer needed" in text
    assert f"already acknowledged by {first.username} at" in text
    assert incident_row(incident).acknowledged_by == first.username
    assert used(token)


def test_a_link_of_someone_who_can_no_longer_answer_is_refused(api: Api) -> None:
    nurse = api.person()
    incident = card("Link: disabled account")
    notify(nurse, incident, "email")
    token = link_token(nurse, incident)
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == nurse.username)).one()
        user.is_active = False
        session.add(user)

    text = page(api.client.post("/answer", data={"token": token}), 403)

    assert "Your answer was not accepted" in text and "disabled" in text
    assert incident_row(incident).status == "triggered"


# --- SMS replies ----------------------------------------------------------------------------------


def test_an_sms_reply_with_a_code_acknowledges_the_right_incident(api: Api) -> None:
    nurse = api.person()
    first = card("SMS: first", bed="B5")
    second = card("SMS: second", bed="B6")
    notify(nurse, first)
    notify(nurse, second)
    code = reply_codes.allocate(nurse.staff_id, uuid.UUID(first))  # the nurse's own code

    response = api.sms(nurse.e164, f"1 {code}")

    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply.startswith(f"Acknowledged: {code} (P2 CARD bed B5)") and len(reply) <= 160
    assert incident_row(first).acknowledged_by == nurse.username
    assert incident_row(second).status == "triggered"
    assert answered_vias(first) == [(nurse.username, "sms", "done")]


def test_an_sms_2_with_two_open_alarms_asks_which_code(api: Api) -> None:
    nurse = api.person()
    first = card("SMS: which one", bed="B7")
    second = card("SMS: or this one", bed="B8")
    notify(nurse, first)
    notify(nurse, second)
    mark = last_audit_id()

    response = api.sms(nurse.e164, "2")

    assert response.status_code == 200
    reply = response.json()["reply"]
    for incident in (first, second):
        assert reply_codes.allocate(nurse.staff_id, uuid.UUID(incident)) in reply
        assert incident_row(incident).escalation_step == 0
    assert "add the code" in reply and reply.endswith("Nothing was changed.")
    audit = audit_rows_after(mark)
    assert [(r.action, r.actor, r.details["reason"]) for r in audit] == [
        ("access.denied", "integration:sms provider", "ambiguous")
    ]


@pytest.mark.parametrize(
    ("sender", "text", "reason"),
    [
        ("+15550100999", "1 4821", "unknown_number"),
        ("SHORTCODE", "1", "not_e164"),
        (None, "%%%% ?? <script>", "not_understood"),
        (None, "", "empty"),
    ],
)
def test_unknown_numbers_and_garbage_answer_200_with_help_and_change_nothing(
    api: Api, sender: str | None, text: str, reason: str
) -> None:
    nurse = api.person()
    incident = card("SMS: garbage")
    notify(nurse, incident)
    mark = last_audit_id()

    response = api.sms(sender or nurse.e164, text)

    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply.endswith("Nothing was changed.") and len(reply) <= 160
    assert incident_row(incident).version == 1
    audit = audit_rows_after(mark)
    assert [(r.action, r.outcome, r.details["reason"]) for r in audit] == [
        ("access.denied", "denied", reason)
    ]


def test_sms_inbound_needs_the_scope_and_names_bad_fields(api: Api) -> None:
    """No key, a key without the scope and a person's token get one and the same 404 (the
    route is public so that Twilio can call it with a signature instead; which check
    failed is never told)."""
    nurse = api.person()
    refusals = [api.sms(nurse.e164, "1", key=key) for key in ({}, api.other_key, nurse.headers)]
    assert {(r.status_code, r.text) for r in refusals} == {
        (refusals[0].status_code, refusals[0].text)
    }
    refused = assert_error(refusals[0], 404, "not_found")
    assert "notify:sms_inbound" in refused["message"]
    missing = api.client.post(
        "/api/v1/notifications/sms-inbound", json={"text": "1"}, headers=api.sms_key
    )
    assert [f["field"] for f in assert_error(missing, 422, "invalid_request")["fields"]] == ["from"]


TWILIO_TOKEN = "twilio-auth-token-for-tests-4567"
PUBLIC_URL = "https://healthguard.hospital.example/"  # a trailing slash is fine
SMS_INBOUND = "/api/v1/notifications/sms-inbound"


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """The documented algorithm, independently of the product's module."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_a_twilio_signed_sms_reply_acknowledges_and_is_answered_in_twiml(api: Api) -> None:
    """Twilio posts the reply as a form, signed for the public URL; the answer is TwiML.
    A tampered body is refused like a missing key (404) and changes nothing."""
    nurse = api.person()
    incident = card("SMS: Twilio reply", bed="B3")
    notify(nurse, incident)
    code = reply_codes.allocate(nurse.staff_id, uuid.UUID(incident))
    params = {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": nurse.e164,
        "To": "+447700900000",
        "Body": f"1 {code}",
    }
    good = twilio_signature(
        TWILIO_TOKEN, "https://healthguard.hospital.example" + SMS_INBOUND, params
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    mark = last_audit_id()
    with env_override(
        HEALTHGUARD_TWILIO_AUTH_TOKEN=TWILIO_TOKEN, HEALTHGUARD_PUBLIC_URL=PUBLIC_URL
    ):
        tampered = api.client.post(
            SMS_INBOUND,
            data={**params, "Body": f"3 {code}"},  # decline instead of acknowledge
            headers={**form, "X-Twilio-Signature": good},
        )
        assert incident_row(incident).status == "triggered"
        response = api.client.post(
            SMS_INBOUND, data=params, headers={**form, "X-Twilio-Signature": good}
        )

    assert_error(tampered, 404, "not_found")
    refusals = [r for r in audit_rows_after(mark) if r.action == "access.denied"]
    assert [(r.record_id, r.details["signature"]) for r in refusals] == [
        (f"POST {SMS_INBOUND}", "invalid")
    ]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    reply = re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?><Response><Message>(.*)</Message></Response>',
        response.text,
    )
    assert reply is not None, response.text
    assert reply.group(1).startswith(f"Acknowledged: {code} (P2 CARD bed B3)")
    assert incident_row(incident).acknowledged_by == nurse.username
    assert answered_vias(incident) == [(nurse.username, "sms", "done")]


def test_the_sms_scope_can_be_given_to_an_integration_key(api: Api) -> None:
    admin = bearer(sign_in(api.client, "admin")["access_token"])
    created = api.client.post(
        "/api/v1/integration-keys",
        json={"name": "sms gateway 2", "scopes": ["notify:sms_inbound"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["scopes"] == ["notify:sms_inbound"]


# --- Web Push subscriptions and the VAPID key -----------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription(endpoint: str | None = None) -> dict[str, Any]:
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {
        "endpoint": endpoint or f"https://push.example.org/send/{uuid.uuid4().hex}",
        "expirationTime": None,
        "keys": {"p256dh": b64url(public), "auth": b64url(os.urandom(16))},
    }


def subscriptions_of(person: Person) -> list[PushSubscription]:
    with session_scope() as session:
        return list(
            session.exec(
                select(PushSubscription).where(PushSubscription.staff_id == person.staff_id)
            ).all()
        )


def test_push_subscriptions_are_yours_to_add_and_remove(api: Api) -> None:
    nurse, colleague = api.person(), api.person()
    body = subscription()
    mark = last_audit_id()
    url = "/api/v1/notifications/push-subscriptions"

    created = api.client.post(url, json=body, headers=nurse.headers)
    assert created.status_code == 201, created.text
    assert created.json()["endpoint"] == body["endpoint"]
    renewed = {**body, "keys": subscription()["keys"]}
    again = api.client.post(url, json=renewed, headers=nurse.headers)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    [row] = subscriptions_of(nurse)
    assert (row.p256dh, row.auth) == (renewed["keys"]["p256dh"], renewed["keys"]["auth"])

    not_theirs = api.client.request(
        "DELETE", url, json={"endpoint": body["endpoint"]}, headers=colleague.headers
    )
    assert_error(not_theirs, 404, "not_found")
    assert len(subscriptions_of(nurse)) == 1

    # A shared ward tablet: whoever subscribes on it last is notified on it.
    moved = api.client.post(url, json=renewed, headers=colleague.headers)
    assert moved.status_code == 200
    assert subscriptions_of(nurse) == [] and len(subscriptions_of(colleague)) == 1
    removed = api.client.request(
        "DELETE", url, json={"endpoint": body["endpoint"]}, headers=colleague.headers
    )
    assert removed.status_code == 204
    assert subscriptions_of(colleague) == []
    audit = [(r.action, r.actor, r.details["change"]) for r in audit_rows_after(mark)]
    assert audit == [
        ("user.updated", nurse.username, "push_subscription.added"),
        ("user.updated", nurse.username, "push_subscription.updated"),
        ("user.updated", colleague.username, "push_subscription.updated"),
        ("user.updated", colleague.username, "push_subscription.removed"),
    ]
    assert "from_staff_id" in audit_rows_after(mark)[2].details


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://push.example.org/x"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"keys": {"p256dh": "AAAA", "auth": b64url(os.urandom(16))}}, "keys.p256dh"),
        ({"keys": {"p256dh": "BN!x", "auth": b64url(os.urandom(16))}}, "keys.p256dh"),
        ({"auth_short": True}, "keys.auth"),
        ({"keys": None}, "keys"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_subscription_names_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    nurse = api.person()
    body = subscription()
    if change.pop("auth_short", False):
        body["keys"]["auth"] = b64url(os.urandom(8))
    body.update(change)
    response = api.client.post(
        "/api/v1/notifications/push-subscriptions", json=body, headers=nurse.headers
    )
    error = assert_error(response, 422, "invalid_request")
    assert field in [f["field"] for f in error["fields"]], error
    assert subscriptions_of(nurse) == []


def test_an_account_without_a_staff_member_cannot_subscribe(api: Api) -> None:
    admin = bearer(sign_in(api.client, "admin")["access_token"])
    response = api.client.post(
        "/api/v1/notifications/push-subscriptions", json=subscription(), headers=admin
    )
    assert (
        "not linked to a staff member" in assert_error(response, 422, "invalid_request")["message"]
    )


def test_the_vapid_public_key_when_configured_and_a_clear_404_when_not(api: Api) -> None:
    nurse = api.person()
    url = "/api/v1/notifications/vapid-public-key"
    with env_override(HEALTHGUARD_VAPID_PRIVATE_KEY=""):
        missing = assert_error(api.client.get(url, headers=nurse.headers), 404, "not_found")
    assert "HEALTHGUARD_VAPID_PRIVATE_KEY" in missing["message"]
    keys = generate_vapid_keys()
    with env_override(HEALTHGUARD_VAPID_PRIVATE_KEY=keys.private_key_b64):
        response = api.client.get(url, headers=nurse.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"public_key": keys.public_key_b64}
    with env_override(HEALTHGUARD_VAPID_PRIVATE_KEY="not a key"):
        broken = api.client.get(url, headers=nurse.headers)
    assert_error(broken, 503, "service_unavailable")
    assert_error(api.client.get(url), 401, "unauthorized")
