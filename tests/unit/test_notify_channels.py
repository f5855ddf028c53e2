"""Notification channels, the pure parts: message building and the secondary-alarm notice,
delivery results, e-mail rendering, WCTP XML building and parsing, webhook signatures,
Web Push payloads and VAPID keys, E.164 numbers, the SMS/voice/in-app adapters with
in-process providers, and the registry."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from healthguard.models.notifications import Channel, NotificationStatus
from healthguard.notify.channels.base import (
    MAX_SHORT_TEXT_CHARS,
    SECONDARY_ALARM_NOTICE,
    SHORT_SECONDARY_ALARM_NOTICE,
    AnswerLinks,
    DeliveryResult,
    OutgoingMessage,
    compose_message,
    http_status_retryable,
    http_url_host,
    message_payload,
    safe_error,
    strip_secondary_alarm,
    with_secondary_alarm,
)
from healthguard.notify.channels.base import Channel as ChannelProtocol
from healthguard.notify.channels.email import (
    EmailChannel,
    EmailConfig,
    build_email,
    email_text,
    parse_address,
    smtp_reply_retryable,
    subject_for,
)
from healthguard.notify.channels.in_app import InAppChannel, in_app_event
from healthguard.notify.channels.registry import (
    ChannelsConfig,
    ChannelUnavailable,
    build_channels,
    config_from_settings,
    parse_enabled,
)
from healthguard.notify.channels.sms import (
    ConsoleSmsProvider,
    InvalidPhoneNumber,
    RecordingSmsProvider,
    SmsChannel,
    SmsProviderError,
    VoiceChannel,
    normalise_e164,
    spoken_text,
)
from healthguard.notify.channels.wctp import (
    WCTP_VERSION,
    WctpAnswerError,
    WctpChannel,
    WctpConfig,
    WctpConfirmation,
    build_submit_request,
    confirmation_outcome,
    parse_confirmation,
)
from healthguard.notify.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    WebhookConfig,
    sign,
    signed_headers,
    verify_signature,
    webhook_body,
)
from healthguard.notify.channels.webpush import (
    DEFAULT_TTL_SECONDS,
    MAX_PAYLOAD_BYTES,
    WebPushChannel,
    WebPushConfig,
    generate_vapid_keys,
    load_vapid_key,
    public_key_b64,
    push_headers,
    push_payload,
)

pytestmark = pytest.mark.unit

LINKS = AnswerLinks(
    ack="https://hg.example/a/tok1", escalate="https://hg.example/e/tok2", decline=None
)


def make_message(address: Any = "nurse@hospital.example", **overrides: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "notification_id": uuid.UUID("11111111-1111-4111-8111-111111111111"),
        "incident_id": uuid.UUID("22222222-2222-4222-8222-222222222222"),
        "staff_id": uuid.UUID("33333333-3333-4333-8333-333333333333"),
        "priority": "P1",
        "title": "NEWS2 8 in Ward 3 bed 12",
        "body": "Respiratory rate 28/min, SpO2 89 %.",
        "address": address,
        "links": LINKS,
    }
    values.update(overrides)
    return compose_message(**values)


# --- the message and the secondary-alarm notice ------------------------------------------


def test_compose_message_states_secondary_alarm_everywhere() -> None:
    message = make_message()
    assert message.body == f"Respiratory rate 28/min, SpO2 89 %.\n\n{SECONDARY_ALARM_NOTICE}"
    assert message.body.endswith(SECONDARY_ALARM_NOTICE)
    assert message.short_text == f"[P1] NEWS2 8 in Ward 3 bed 12 {SHORT_SECONDARY_ALARM_NOTICE}"
    assert message.main_body == "Respiratory rate 28/min, SpO2 89 %."


def test_secondary_alarm_notice_is_added_once() -> None:
    once = with_secondary_alarm("Heart rate 140.")
    assert with_secondary_alarm(once) == once
    assert once.count(SECONDARY_ALARM_NOTICE) == 1
    assert strip_secondary_alarm(once) == "Heart rate 140."
    assert with_secondary_alarm("") == SECONDARY_ALARM_NOTICE


def test_short_text_is_cut_to_160_with_the_notice_kept() -> None:
    message = make_message(title="Ward 3 bed 12 " + "x" * 190)
    assert len(message.short_text) == MAX_SHORT_TEXT_CHARS
    assert message.short_text.endswith(SHORT_SECONDARY_ALARM_NOTICE)
    assert "..." in message.short_text
    assert message.short_text.isascii()
    custom = make_message(short_text="P0 ARREST\nW3 B12")
    assert custom.short_text == f"P0 ARREST W3 B12 {SHORT_SECONDARY_ALARM_NOTICE}"


SMS_FROM_COMPOSER = (
    "P1 Emergency: W7B bed 12, NEWS2 8. Secondary alarm: check the bedside monitor. "
    "Reply 1 ACK, 2 ESC, 3 DECLINE + 4821"
)


def test_texts_that_already_state_it_pass_through_unchanged() -> None:
    body = f"P1 Emergency: Ward 7B, bed 12.\nAcknowledge: {LINKS.ack}\n\n"
    body += "Secondary alarm: check the bedside monitor."
    spoken = "Priority one. This is a secondary alarm. Check the bedside monitor."
    message = make_message(body=body, short_text=SMS_FROM_COMPOSER, spoken_text=spoken)
    assert message.short_text == SMS_FROM_COMPOSER  # the reply codes are kept
    assert message.body == body
    assert message.spoken_text == spoken
    assert SECONDARY_ALARM_NOTICE not in message.body
    text = email_text(message)
    assert text.count(str(LINKS.ack)) == 1  # already in the body: not repeated
    assert f"Escalate: {LINKS.escalate}" in text
    assert SECONDARY_ALARM_NOTICE not in text and "check the bedside monitor" in text
    provider = RecordingSmsProvider()
    call = make_message(address="+447700900123", spoken_text=spoken)
    assert VoiceChannel(provider).send(call).ok
    assert provider.sent[0].text == spoken


def test_spoken_text_without_the_statement_gets_the_notice() -> None:
    message = make_message(spoken_text="Priority one, ward 3 bed 12.")
    assert message.spoken_text is not None
    assert message.spoken_text.endswith(SECONDARY_ALARM_NOTICE)


def test_title_is_flattened_to_one_line() -> None:
    message = make_message(title="NEWS2 8\r\nBcc: evil@example.com")
    assert message.title == "NEWS2 8 Bcc: evil@example.com"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"body": "no notice"}, "body must state it is a secondary alarm"),
        ({"short_text": "x" * 161}, "longer than 160"),
        ({"short_text": "no notice"}, "short_text must state it is a secondary alarm"),
        ({"spoken_text": "Priority one."}, "spoken_text must state it is a secondary alarm"),
        ({"priority": "P9"}, "priority"),
        ({"title": "two\nlines"}, "one line"),
        ({"title": "  "}, "title is empty"),
    ],
)
def test_outgoing_message_refuses_broken_invariants(change: dict[str, Any], problem: str) -> None:
    good = make_message()
    values: dict[str, Any] = {
        "notification_id": good.notification_id,
        "incident_id": good.incident_id,
        "staff_id": good.staff_id,
        "priority": good.priority,
        "title": good.title,
        "body": good.body,
        "short_text": good.short_text,
        "address": good.address,
    }
    values.update(change)
    with pytest.raises(ValueError, match=problem):
        OutgoingMessage(**values)


def test_message_payload_is_json_ready() -> None:
    payload = message_payload(make_message())
    assert json.loads(json.dumps(payload)) == payload
    assert payload["links"] == {"ack": LINKS.ack, "escalate": LINKS.escalate}
    assert payload["secondary_alarm"] is True
    assert payload["body"].endswith(SECONDARY_ALARM_NOTICE)
    assert "address" not in payload


# --- delivery results ----------------------------------------------------------------------


def test_delivery_result_constructors_and_invariants() -> None:
    assert DeliveryResult.sent("m1").status is NotificationStatus.SENT
    assert DeliveryResult.delivered().ok
    failed = DeliveryResult.failed("boom", retryable=True)
    assert failed.status is NotificationStatus.FAILED and failed.retryable and not failed.ok
    with pytest.raises(ValueError):
        DeliveryResult(NotificationStatus.FAILED)  # no error text
    with pytest.raises(ValueError):
        DeliveryResult(NotificationStatus.SENT, retryable=True)
    with pytest.raises(ValueError):
        DeliveryResult(NotificationStatus.QUEUED)


def test_errors_are_redacted_one_line_and_short() -> None:
    text = safe_error("login as bob with hunter2 failed\r\nsecond line" + "x" * 400, ["hunter2"])
    assert "hunter2" not in text and "***" in text
    assert "\n" not in text and "\r" not in text
    assert len(text) == 300
    result = DeliveryResult.failed("token s3cr3t refused", retryable=False, secrets=["s3cr3t"])
    assert result.error == "token *** refused"


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
        (301, False),
    ],
)
def test_http_status_retryable(code: int, retryable: bool) -> None:
    assert http_status_retryable(code) is retryable


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://gw.hospital.example/wctp", "gw.hospital.example"),
        ("http://127.0.0.1:8080/x", "127.0.0.1"),
        ("ftp://gw.example/", None),
        ("javascript:alert(1)", None),
        ("http://", None),
        ("http://[::1", None),
        ("", None),
    ],
)
def test_http_url_host(url: str, host: str | None) -> None:
    assert http_url_host(url) == host


# --- e-mail --------------------------------------------------------------------------------


def test_email_subject_body_and_headers() -> None:
    message = make_message()
    email = build_email(message, "HealthGuard Ops <hg@hospital.example>", "<id@hospital.example>")
    assert subject_for(message) == "[P1] NEWS2 8 in Ward 3 bed 12"
    assert email["Subject"] == "[P1] NEWS2 8 in Ward 3 bed 12"
    assert email["To"] == "nurse@hospital.example"
    assert email["Importance"] == "high"
    assert email["Auto-Submitted"] == "auto-generated"
    text = email.get_content()
    assert text == email_text(message)
    assert f"Acknowledge: {LINKS.ack}" in text
    assert f"Escalate: {LINKS.escalate}" in text
    assert "Decline" not in text
    assert text.rstrip().endswith(SECONDARY_ALARM_NOTICE)
    assert text.index("Respiratory rate") < text.index("Acknowledge") < text.index("Secondary")


def test_low_priority_email_is_not_flagged_important() -> None:
    email = build_email(make_message(priority="P3"), "hg@hospital.example", "<i@h.example>")
    assert email["Importance"] is None


@pytest.mark.parametrize(
    "address", ["", "nurse", "a@b", "a@b.example, c@d.example", "x\r\n@h.example", "<a@b.c>"]
)
def test_email_addresses_are_checked(address: str) -> None:
    with pytest.raises(ValueError, match="e-mail address"):
        parse_address(address)


def test_bad_email_address_is_a_permanent_address_problem() -> None:
    channel = EmailChannel(EmailConfig(host="127.0.0.1", from_address="hg@hospital.example"))
    result = channel.send(make_message(address="not-an-address"))
    assert result.status is NotificationStatus.FAILED
    assert result.permanent_address_problem and not result.retryable


@pytest.mark.parametrize(
    ("code", "retryable"), [(421, True), (450, True), (451, True), (550, False), (554, False)]
)
def test_smtp_4xx_retry_5xx_do_not(code: int, retryable: bool) -> None:
    assert smtp_reply_retryable(code) is retryable


def test_email_config_is_checked() -> None:
    with pytest.raises(ValueError, match="username and password"):
        EmailChannel(EmailConfig(host="h", from_address="hg@h.example", username="u"))
    with pytest.raises(ValueError, match="e-mail address"):
        EmailChannel(EmailConfig(host="h", from_address="HealthGuard"))
    assert "hunter2" not in repr(
        EmailConfig(host="h", from_address="a@b.example", username="u", password="hunter2")
    )


# --- WCTP ----------------------------------------------------------------------------------

SUBMITTED = datetime(2025, 3, 1, 12, 30, 5, tzinfo=UTC)


def test_submit_request_has_the_wctp_1_3_structure() -> None:
    document = build_submit_request(
        sender_id="healthguard",
        recipient_id="4471",
        message_id="abc123",
        text="[P1] NEWS2 8",
        submitted_at=SUBMITTED,
        security_code="pw",
        high_priority=True,
    )
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE wctp-Operation')
    root = ET.fromstring(document)
    assert root.tag == "wctp-Operation" and root.get("wctpVersion") == WCTP_VERSION
    header = root.find("wctp-SubmitRequest/wctp-SubmitHeader")
    assert header is not None and header.get("submitTimestamp") == "2025-03-01T12:30:05"
    assert [child.tag for child in header] == [
        "wctp-Originator",
        "wctp-MessageControl",
        "wctp-Recipient",
    ]  # the order the DTD requires
    originator, control, recipient = list(header)
    assert originator.attrib == {"senderID": "healthguard", "securityCode": "pw"}
    assert control.get("messageID") == "abc123"
    assert control.get("notifyWhenDelivered") == "true"
    assert control.get("allowResponse") == "true"
    assert control.get("deliveryPriority") == "HIGH"
    assert recipient.get("recipientID") == "4471"
    assert root.findtext("wctp-SubmitRequest/wctp-Payload/wctp-Alphanumeric") == "[P1] NEWS2 8"


def test_submit_request_escapes_user_text() -> None:
    nasty = 'Bed </wctp-Alphanumeric><x a="1"> & "quoted" \x07bell'
    recipient = 'p"><evil/>'
    document = build_submit_request(
        sender_id="hg",
        recipient_id=recipient,
        message_id="m",
        text=nasty,
        submitted_at=SUBMITTED,
    )
    root = ET.fromstring(document)
    assert root.find(".//x") is None and root.find(".//evil") is None
    assert root.findtext(".//wctp-Alphanumeric") == nasty.replace("\x07", "")
    recipient_element = root.find(".//wctp-Recipient")
    assert recipient_element is not None and recipient_element.get("recipientID") == recipient
    originator = root.find(".//wctp-Originator")
    assert originator is not None and "securityCode" not in originator.attrib


def test_submit_request_refuses_bad_ids() -> None:
    with pytest.raises(ValueError, match="recipient id is empty"):
        build_submit_request(
            sender_id="hg", recipient_id=" ", message_id="m", text="t", submitted_at=SUBMITTED
        )
    with pytest.raises(ValueError, match="longer than 128"):
        build_submit_request(
            sender_id="hg", recipient_id="9" * 129, message_id="m", text="t", submitted_at=SUBMITTED
        )


def confirmation(inner: str) -> bytes:
    return (
        '<?xml version="1.0"?><wctp-Operation wctpVersion="wctp-dtd-v1r3">'
        f"<wctp-Confirmation>{inner}</wctp-Confirmation></wctp-Operation>"
    ).encode()


def test_parse_success_and_failure_confirmations() -> None:
    ok = parse_confirmation(confirmation('<wctp-Success successCode="200" successText="Queued"/>'))
    assert ok == WctpConfirmation(success=True, code=200, text="Queued")
    bad = parse_confirmation(
        confirmation('<wctp-Failure errorCode="403" errorText="Invalid recipientID"/>')
    )
    assert bad == WctpConfirmation(success=False, code=403, text="Invalid recipientID")
    body_text = parse_confirmation(
        confirmation('<wctp-Failure errorCode="604">down</wctp-Failure>')
    )
    assert body_text.text == "down"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"<html>502 Bad Gateway</html", "not well-formed"),
        (b"<html><body>hi</body></html>", "not a <wctp-Operation>"),
        (b'<wctp-Operation wctpVersion="x"/>', "no <wctp-Confirmation>"),
        (confirmation(""), "neither"),
        (confirmation('<wctp-Failure errorCode="abc"/>'), "not a number"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><wctp-Operation/>',
            "entities",
        ),
    ],
)
def test_unreadable_answers_are_refused(answer: bytes, problem: str) -> None:
    with pytest.raises(WctpAnswerError, match=problem):
        parse_confirmation(answer)


@pytest.mark.parametrize(
    ("code", "retryable", "address"),
    [
        (300, False, False),
        (301, False, False),
        (303, False, False),
        (304, True, False),
        (401, False, False),
        (402, False, False),
        (403, False, True),
        (404, False, True),
        (411, False, False),
        (500, False, False),
        (503, False, False),
        (600, True, False),
        (604, True, False),
        (605, True, False),
        (999, True, False),
    ],
)
def test_wctp_error_code_mapping(code: int, retryable: bool, address: bool) -> None:
    outcome = confirmation_outcome(WctpConfirmation(success=False, code=code, text=""))
    assert outcome == (retryable, address)


def test_wctp_channel_refuses_unusable_pager_ids_without_sending() -> None:
    channel = WctpChannel(WctpConfig(url="http://127.0.0.1:9/wctp", sender_id="hg"))
    result = channel.send(make_message(address=""))
    assert result.permanent_address_problem and not result.retryable
    with pytest.raises(ValueError, match="http"):
        WctpChannel(WctpConfig(url="ftp://gw", sender_id="hg"))


# --- webhook -------------------------------------------------------------------------------

SECRET = "a-shared-secret-of-some-length"


def test_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, body) == f"sha256={expected}"
    headers = signed_headers(SECRET, body, 1700000000, "n1")
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers[TIMESTAMP_HEADER] == "1700000000"


def test_verify_signature_checks_body_timestamp_and_age() -> None:
    body = b'{"a":1}'
    good = sign(SECRET, 1700000000, body)

    def check(secret: str, payload: bytes) -> bool:
        return verify_signature(
            secret, timestamp="1700000000", body=payload, signature=good, now=1700000100.0
        )

    assert check(SECRET, body)
    assert not check(SECRET, b'{"a":2}')
    assert not check("another-secret-xxxxxxxx", body)
    assert not verify_signature(
        SECRET, timestamp="1700000001", body=body, signature=good, now=1700000100.0
    )  # the timestamp is signed too
    assert not verify_signature(
        SECRET, timestamp="1700000000", body=body, signature=good, now=1700000000.0 + 301
    )  # too old
    assert not verify_signature(SECRET, timestamp="x", body=body, signature=good)


def test_webhook_body() -> None:
    body = json.loads(webhook_body(make_message(address="pager-4471"), "pager-4471", 1700000000))
    assert body["recipient"] == "pager-4471"
    assert body["sent_at"] == 1700000000
    assert body["priority"] == "P1"
    assert body["links"]["ack"] == LINKS.ack
    assert body["body"].endswith(SECONDARY_ALARM_NOTICE)


def test_webhook_config_is_checked_and_bad_urls_fail_cleanly() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        WebhookChannel(WebhookConfig(secret="short"))
    with pytest.raises(ValueError, match="http"):
        WebhookChannel(WebhookConfig(secret=SECRET, url="file:///etc/passwd"))
    channel = WebhookChannel(WebhookConfig(secret=SECRET))  # per-person URL
    result = channel.send(make_message(address="javascript:alert(1)"))
    assert result.permanent_address_problem and not result.retryable
    assert SECRET not in repr(channel.config)


# --- Web Push ------------------------------------------------------------------------------


def test_generated_vapid_keys_load_in_every_form() -> None:
    keys = generate_vapid_keys()
    for form in (keys.private_key_pem, keys.private_key_b64):
        assert public_key_b64(load_vapid_key(form)) == keys.public_key_b64
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), _b64decode(keys.public_key_b64)
    )
    assert public.key_size == 256
    assert keys.private_key_b64 not in repr(keys)


def test_unreadable_or_wrong_curve_vapid_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="VAPID"):
        load_vapid_key("not a key")
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        load_vapid_key(p384.decode())


def _b64decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(("priority", "sticky"), [("P0", True), ("P1", True), ("P2", False)])
def test_push_payload(priority: str, sticky: bool) -> None:
    message = make_message(priority=priority)
    payload = push_payload(message)
    assert payload["requireInteraction"] is sticky
    assert payload["tag"] == f"incident-{message.incident_id}"
    assert payload["title"] == f"[{priority}] NEWS2 8 in Ward 3 bed 12"
    assert payload["actions"] == [
        {"action": "ack", "title": "Acknowledge", "url": LINKS.ack},
        {"action": "escalate", "title": "Escalate", "url": LINKS.escalate},
    ]
    assert payload["body"].endswith(SECONDARY_ALARM_NOTICE)
    assert payload["incident_id"] == str(message.incident_id)


def test_oversized_push_body_falls_back_to_the_short_text() -> None:
    message = make_message(body="x" * 5000)
    payload = push_payload(message)
    assert payload["body"] == message.short_text
    assert len(json.dumps(payload).encode()) < MAX_PAYLOAD_BYTES


def test_push_ttl_and_urgency_per_priority() -> None:
    keys = generate_vapid_keys()
    channel = WebPushChannel(
        WebPushConfig(
            vapid_private_key=keys.private_key_pem,
            vapid_subject="mailto:ops@hospital.example",
            ttl_seconds={"P4": 60},
        )
    )
    assert channel.public_key == keys.public_key_b64
    assert channel.ttl_for("P0") == DEFAULT_TTL_SECONDS["P0"] == 600
    assert channel.ttl_for("P4") == 60
    assert DEFAULT_TTL_SECONDS["P0"] < DEFAULT_TTL_SECONDS["P2"] < DEFAULT_TTL_SECONDS["P3"]
    assert push_headers("P0", "abc")["Urgency"] == "high"
    assert push_headers("P2", "abc")["Urgency"] == "normal"
    assert push_headers("P4", "abc") == {"Urgency": "low", "Topic": "abc"}
    with pytest.raises(ValueError, match="subject"):
        WebPushChannel(WebPushConfig(vapid_private_key=keys.private_key_b64, vapid_subject="ops"))
    with pytest.raises(ValueError, match="unknown priorities"):
        WebPushChannel(
            WebPushConfig(
                vapid_private_key=keys.private_key_b64,
                vapid_subject="mailto:ops@hospital.example",
                ttl_seconds={"P7": 1},
            )
        )


@pytest.mark.parametrize(
    "subscription",
    [
        "https://push.example/abc",
        {"endpoint": "https://push.example/abc"},
        {"endpoint": "ftp://push.example/abc", "keys": {"p256dh": "AA", "auth": "AA"}},
        {"endpoint": "https://push.example/abc", "keys": {"p256dh": "AA"}},
        {"endpoint": "https://push.example/abc", "keys": {"p256dh": "!!!", "auth": "AA"}},
        {"endpoint": "https://push.example/abc", "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
    ],
)
def test_malformed_subscriptions_fail_as_address_problems(subscription: Any) -> None:
    keys = generate_vapid_keys()
    channel = WebPushChannel(
        WebPushConfig(
            vapid_private_key=keys.private_key_b64, vapid_subject="mailto:ops@hospital.example"
        )
    )
    result = channel.send(make_message(address=subscription))
    assert result.status is NotificationStatus.FAILED
    assert result.permanent_address_problem and not result.retryable


# --- SMS and voice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("+447700900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+6834001", "+6834001"),
    ],
)
def test_e164_numbers_are_accepted(raw: str, normalised: str) -> None:
    assert normalise_e164(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("07700 900123", "must start with \\+"),
        ("00447700900123", "must start with \\+"),
        ("+44 7700 9OO123", "only digits"),
        ("+0447700900123", "never starts with 0"),
        ("+4412", "7 to 15 digits"),
        ("+4477009001234567", "7 to 15 digits"),
        ("", "must start with \\+"),
    ],
)
def test_non_e164_numbers_are_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason) as caught:
        normalise_e164(raw)
    assert "E.164" in str(caught.value) and "+447700900123" in str(caught.value)


def test_sms_channel_sends_the_short_text_to_the_normalised_number() -> None:
    provider = RecordingSmsProvider()
    message = make_message(address="+44 7700 900123")
    result = SmsChannel(provider).send(message)
    assert result.status is NotificationStatus.SENT
    assert [(s.kind, s.to, s.text) for s in provider.sent] == [
        ("sms", "+447700900123", message.short_text)
    ]
    assert result.provider_message_id == provider.sent[0].message_id


def test_voice_channel_reads_the_title_and_the_notice() -> None:
    provider = RecordingSmsProvider()
    message = make_message(address="+447700900123", priority="P0")
    assert VoiceChannel(provider).send(message).ok
    (call,) = provider.sent
    assert call.kind == "call" and call.text == spoken_text(message)
    assert "priority 0" in call.text and message.title in call.text
    assert SECONDARY_ALARM_NOTICE in call.text


def test_sms_provider_failures_become_results() -> None:
    provider = RecordingSmsProvider(
        failure=SmsProviderError("number barred", retryable=False, permanent_address_problem=True)
    )
    channel = SmsChannel(provider)
    refused = channel.send(make_message(address="+447700900123"))
    assert refused.status is NotificationStatus.FAILED
    assert refused.permanent_address_problem and not refused.retryable
    assert refused.error is not None and "number barred" in refused.error

    provider.failure = SmsProviderError("rate limited", retryable=True)
    assert channel.send(make_message(address="+447700900123")).retryable

    provider.failure = None
    provider.time_out = True
    timed_out = VoiceChannel(provider).send(make_message(address="+447700900123"))
    assert timed_out.retryable and timed_out.error is not None and "in time" in timed_out.error
    assert provider.sent == []


def test_invalid_number_never_reaches_the_provider() -> None:
    provider = RecordingSmsProvider()
    result = SmsChannel(provider).send(make_message(address="07700 900123"))
    assert result.permanent_address_problem and not result.retryable
    assert result.error is not None and "E.164" in result.error
    assert provider.sent == []


def test_console_provider_writes_a_clear_line() -> None:
    stream = io.StringIO()
    channel = SmsChannel(ConsoleSmsProvider(stream=stream))
    message = make_message(address="+447700900123")
    assert channel.send(message).ok
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert "not sent" in line and "+447700900123" in line and message.short_text in line


def test_console_provider_can_log(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.sms")
    with caplog.at_level(logging.INFO, logger="test.sms"):
        assert (
            VoiceChannel(ConsoleSmsProvider(logger=logger))
            .send(make_message(address="+447700900123"))
            .ok
        )
    assert "call" in caplog.text and "+447700900123" in caplog.text


# --- in-app --------------------------------------------------------------------------------


def test_in_app_publishes_the_event_and_answers_sent() -> None:
    published: list[dict[str, Any]] = []
    message = make_message(address="")
    result = InAppChannel(published.append).send(message)
    assert result.status is NotificationStatus.SENT
    assert published == [in_app_event(message)]
    assert published[0]["type"] == "notification"
    assert published[0]["incident_id"] == str(message.incident_id)


class FanOutDown(Exception):
    pass


def test_in_app_publisher_trouble_is_retryable_and_bugs_propagate() -> None:
    def down(event: dict[str, Any]) -> None:
        raise FanOutDown("redis unreachable")

    channel = InAppChannel(down, delivery_errors=(FanOutDown,))
    result = channel.send(make_message())
    assert result.retryable and result.error is not None and "redis unreachable" in result.error

    def buggy(event: dict[str, Any]) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        InAppChannel(buggy).send(make_message())


# --- registry ------------------------------------------------------------------------------


def test_registry_builds_enabled_configured_channels() -> None:
    keys = generate_vapid_keys()
    provider = RecordingSmsProvider()
    config = ChannelsConfig(
        enabled=frozenset(Channel),
        email=EmailConfig(host="127.0.0.1", from_address="hg@hospital.example"),
        wctp=WctpConfig(url="http://127.0.0.1:9/wctp", sender_id="hg"),
        web_push=WebPushConfig(
            vapid_private_key=keys.private_key_pem, vapid_subject="mailto:ops@hospital.example"
        ),
    )
    registry = build_channels(config, publish=lambda event: None, sms_provider=provider)
    assert registry.available == frozenset(Channel)
    assert registry.problems == {}
    for kind in Channel:
        channel = registry.get(kind)
        assert isinstance(channel, ChannelProtocol)
        assert channel.name is kind
        assert registry.get(kind.value) is channel
    assert isinstance(registry.get(Channel.PAGER), WctpChannel)
    assert registry.send(Channel.SMS, make_message(address="+447700900123")).ok
    assert len(provider.sent) == 1


def test_registry_reports_disabled_and_unconfigured_channels() -> None:
    config = ChannelsConfig(enabled=frozenset({Channel.IN_APP, Channel.EMAIL, Channel.PAGER}))
    registry = build_channels(config)
    assert registry.available == frozenset()
    with pytest.raises(ChannelUnavailable, match="sms channel is disabled"):
        registry.get(Channel.SMS)
    with pytest.raises(ChannelUnavailable, match="HEALTHGUARD_SMTP_HOST"):
        registry.get("email")
    with pytest.raises(ChannelUnavailable, match="HEALTHGUARD_WCTP_URL"):
        registry.get(Channel.PAGER)
    with pytest.raises(ChannelUnavailable, match="publisher"):
        registry.get(Channel.IN_APP)
    with pytest.raises(ChannelUnavailable, match="Unknown channel 'fax'"):
        registry.get("fax")
    result = registry.send(Channel.PUSH, make_message())
    assert result.status is NotificationStatus.FAILED and not result.retryable
    assert result.error is not None and "push channel is disabled" in result.error
    assert len(registry.describe()) == len(Channel)


def test_registry_reports_misconfigured_channels() -> None:
    config = ChannelsConfig(
        enabled=frozenset({Channel.PUSH}),
        web_push=WebPushConfig(vapid_private_key="garbage", vapid_subject="mailto:a@b.example"),
    )
    registry = build_channels(config)
    with pytest.raises(ChannelUnavailable, match="push channel is misconfigured: the VAPID"):
        registry.get(Channel.PUSH)


def test_pager_through_the_webhook() -> None:
    config = ChannelsConfig(
        enabled=frozenset({Channel.PAGER}),
        pager_transport="webhook",
        webhook=WebhookConfig(secret=SECRET, url="https://middleware.example/hook"),
    )
    channel = build_channels(config).get(Channel.PAGER)
    assert isinstance(channel, WebhookChannel) and channel.name is Channel.PAGER


@dataclass
class FakeSettings:
    notify_channels: list[str] = field(default_factory=lambda: ["in_app", "email", "pager"])
    smtp_host: str | None = "smtp.hospital.example"
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = "HealthGuard <hg@hospital.example>"
    smtp_timeout_seconds: float = 10.0
    wctp_url: str | None = None
    wctp_sender_id: str | None = None
    wctp_security_code: str | None = None
    wctp_timeout_seconds: float = 10.0
    wctp_notify_when_delivered: bool = True
    wctp_notify_when_read: bool = False
    pager_transport: str = "wctp"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout_seconds: float = 5.0
    vapid_private_key: str | None = None
    vapid_subject: str | None = None
    push_timeout_seconds: float = 10.0
    push_ttl_seconds: dict[str, int] = field(default_factory=dict)
    sms_provider: str = "none"


def test_config_from_settings() -> None:
    config = config_from_settings(FakeSettings())
    assert config.enabled == {Channel.IN_APP, Channel.EMAIL, Channel.PAGER}
    assert config.email is not None and config.email.host == "smtp.hospital.example"
    assert config.email.security == "starttls"
    assert config.wctp is None  # no URL: the registry will say what to set
    registry = build_channels(config, publish=lambda event: None)
    assert registry.available == {Channel.IN_APP, Channel.EMAIL}
    with pytest.raises(ChannelUnavailable, match="HEALTHGUARD_WCTP_URL"):
        registry.get(Channel.PAGER)

    console = config_from_settings(FakeSettings(notify_channels=["sms"], sms_provider="console"))
    assert build_channels(console).available == {Channel.SMS}
    with pytest.raises(ValueError, match="SMTP_SECURITY"):
        config_from_settings(FakeSettings(smtp_security="ssl"))
    with pytest.raises(ValueError, match="fax"):
        parse_enabled(["in_app", "fax"])
