"""Delivery receipts, pure: what a report does to a notification's status and timestamps
(healthguard.notify.receipts), the SMS provider's status callbacks (Twilio-style) and WCTP
1.3 wctp-StatusInfo documents (healthguard.notify.channels.sms / .wctp), including XML that
declares entities (refused, never expanded)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.models.notifications import Channel, NotificationStatus
from healthguard.notify.channels.sms import (
    StatusCallbackError,
    parse_status_callback,
)
from healthguard.notify.channels.wctp import (
    WCTP_INVALID,
    WCTP_UNPARSABLE,
    WCTP_UNSUPPORTED_OPERATION,
    UnsafeXml,
    WctpAnswerError,
    WctpStatusError,
    build_confirmation,
    build_submit_request,
    parse_confirmation,
    parse_status_info,
    parse_xml,
)
from healthguard.notify.receipts import (
    STATUS_RANK,
    Effect,
    NotificationState,
    Receipt,
    ReceiptKind,
    apply_receipt,
)

pytestmark = pytest.mark.unit

SENT_AT = datetime(2026, 11, 26, 4, 0, 0, tzinfo=UTC)
NOW = SENT_AT + timedelta(seconds=30)
S = NotificationStatus


def sent() -> NotificationState:
    return NotificationState(status=S.SENT.value, sent_at=SENT_AT)


def apply(state: NotificationState, receipt: Receipt, channel: Channel = Channel.PAGER) -> Any:
    return apply_receipt(state, receipt, channel=channel, person="Sister Jones", now=NOW)


def delivered(at: datetime | None = None) -> Receipt:
    return Receipt(ReceiptKind.DELIVERED, at=at)


def failed(reason: str = "handset unreachable", retryable: bool = True) -> Receipt:
    return Receipt(ReceiptKind.FAILED, reason=reason, retryable=retryable)


# --- the pure decision ------------------------------------------------------------------------


def test_delivered_moves_sent_forward_with_the_providers_time() -> None:
    at = SENT_AT + timedelta(seconds=4)
    decision = apply(sent(), delivered(at))
    assert decision.effect is Effect.ADVANCED
    assert decision.state.status == "delivered"
    assert decision.state.delivered_at == at
    assert decision.timeline == "Pager delivered to Sister Jones"


def test_sms_failure_reads_like_the_timeline_and_records_the_reason() -> None:
    decision = apply_receipt(sent(), failed(), channel=Channel.SMS, person="Dr Patel", now=NOW)
    assert decision.effect is Effect.FAILED
    assert decision.timeline == "SMS to Dr Patel failed: handset unreachable"
    assert decision.state.status == "failed"
    assert decision.state.failed_at == NOW  # no provider time: now
    assert decision.state.error == "SMS not delivered: handset unreachable"


def test_read_fills_delivered_too() -> None:
    decision = apply(sent(), Receipt(ReceiptKind.READ))
    assert decision.state.status == "read"
    assert decision.state.read_at == NOW and decision.state.delivered_at == NOW
    assert decision.timeline == "Pager read by Sister Jones"


def test_late_delivered_after_answered_only_fills_delivered_at() -> None:
    answered = NotificationState(
        status=S.ANSWERED.value, sent_at=SENT_AT, read_at=NOW, answered_at=NOW
    )
    at = SENT_AT + timedelta(seconds=2)
    decision = apply(answered, delivered(at))
    assert decision.effect is Effect.FILLED
    assert decision.state.status == "answered"
    assert decision.state.delivered_at == at
    assert decision.timeline is not None and "already answered" in decision.timeline


def test_failed_after_delivered_is_ignored_and_says_so() -> None:
    state = apply(sent(), delivered()).state
    decision = apply(state, failed("expired"))
    assert decision.effect is Effect.IGNORED
    assert decision.state == state
    assert decision.timeline is None
    assert "ignored" in decision.note and "already delivered" in decision.note


def test_delivered_after_failed_is_recorded() -> None:
    state = apply(sent(), failed()).state
    decision = apply(state, delivered())
    assert decision.effect is Effect.ADVANCED
    assert decision.state.status == "delivered"
    assert decision.state.failed_at is not None  # the history stays
    assert decision.timeline is not None and "after a failure report" in decision.timeline


def test_a_second_failure_report_does_not_fail_the_row_again() -> None:
    state = apply(sent(), failed()).state
    assert apply(state, failed()).effect is Effect.DUPLICATE


def test_progress_and_cancelled_change_nothing() -> None:
    progress = apply(sent(), Receipt(ReceiptKind.ACCEPTED, provider_status="sending"))
    assert progress.effect is Effect.UNCHANGED and progress.state == sent()
    assert "sending" in progress.note
    cancelled = NotificationState(status=S.CANCELLED.value)
    assert apply(cancelled, delivered()).effect is Effect.IGNORED


def test_provider_times_are_clamped_between_sent_and_now() -> None:
    future = apply(sent(), delivered(NOW + timedelta(hours=1)))
    assert future.state.delivered_at == NOW
    before_sending = apply(sent(), delivered(SENT_AT - timedelta(minutes=5)))
    assert before_sending.state.delivered_at == SENT_AT


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Receipt(ReceiptKind.DELIVERED, at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_receipt(sent(), delivered(), channel="sms", person="x", now=datetime(2026, 1, 1))


# --- properties -------------------------------------------------------------------------------

times = st.datetimes(
    min_value=datetime(2026, 11, 26, 3, 0), max_value=datetime(2026, 11, 26, 5, 0)
).map(lambda d: d.replace(tzinfo=UTC))
optional_times = st.none() | times
receipts = st.builds(
    lambda kind, at, retryable: Receipt(
        kind, at=at, reason="no answer" if kind is ReceiptKind.FAILED else None, retryable=retryable
    ),
    st.sampled_from(ReceiptKind),
    optional_times,
    st.booleans(),
)
states = st.builds(
    NotificationState,
    status=st.sampled_from([s.value for s in NotificationStatus]),
    sent_at=optional_times,
    delivered_at=optional_times,
    read_at=optional_times,
    answered_at=optional_times,
    failed_at=optional_times,
)


@settings(max_examples=300)
@given(state=states, sequence=st.lists(receipts, min_size=1, max_size=6))
def test_status_never_regresses_and_set_times_never_change(
    state: NotificationState, sequence: list[Receipt]
) -> None:
    for receipt in sequence:
        decision = apply(state, receipt)
        new = decision.state
        assert STATUS_RANK[new.status] >= STATUS_RANK[state.status]
        for name in ("sent_at", "delivered_at", "read_at", "answered_at", "failed_at"):
            if getattr(state, name) is not None:
                assert getattr(new, name) == getattr(state, name), name
        assert decision.changed == (new != state)
        state = new


@settings(max_examples=300)
@given(state=states, receipt=receipts)
def test_the_same_receipt_twice_is_idempotent(state: NotificationState, receipt: Receipt) -> None:
    once = apply(state, receipt)
    twice = apply(once.state, receipt)
    assert twice.state == once.state
    assert not twice.changed
    assert twice.timeline is None  # a repeated report adds no timeline entry


# --- SMS status callbacks (Twilio-style) ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("queued", ReceiptKind.ACCEPTED),
        ("sent", ReceiptKind.ACCEPTED),
        ("delivered", ReceiptKind.DELIVERED),
        ("read", ReceiptKind.READ),
        ("undelivered", ReceiptKind.FAILED),
        ("failed", ReceiptKind.FAILED),
    ],
)
def test_twilio_statuses(status: str, kind: ReceiptKind) -> None:
    callback = parse_status_callback({"MessageSid": "SM123", "MessageStatus": status})
    assert callback.message_id == "SM123"
    assert callback.receipt.kind is kind


def test_twilio_error_codes_say_why_and_whether_to_retry() -> None:
    unreachable = parse_status_callback(
        {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    ).receipt
    assert unreachable.reason == "handset unreachable (error 30003)"
    assert unreachable.retryable
    landline = parse_status_callback(
        {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30006"}
    ).receipt
    assert not landline.retryable
    unknown = parse_status_callback(
        {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "99999"}
    ).receipt
    assert unknown.retryable and "99999" in (unknown.reason or "")


def test_twilio_carrier_time_is_used() -> None:
    receipt = parse_status_callback(
        {"SmsSid": "SM1", "SmsStatus": "delivered", "RawDlrDoneDate": "2611260421"}
    ).receipt
    assert receipt.at == datetime(2026, 11, 26, 4, 21, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"MessageStatus": "delivered"}, "MessageSid"),
        ({"MessageSid": "SM1"}, "MessageStatus"),
        ({"MessageSid": "SM1", "MessageStatus": "lost"}, "MessageStatus"),
        ({"MessageSid": "S M1", "MessageStatus": "sent"}, "MessageSid"),
        ({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "x1"}, "ErrorCode"),
        (
            {"MessageSid": "SM1", "MessageStatus": "sent", "RawDlrDoneDate": "soon"},
            "RawDlrDoneDate",
        ),
    ],
)
def test_bad_callbacks_name_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(StatusCallbackError) as caught:
        parse_status_callback(fields)
    assert caught.value.field == field


# --- WCTP wctp-StatusInfo ---------------------------------------------------------------------


def status_info(notification: str, header: str = 'responseToMessageID="abc123"') -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE wctp-Operation SYSTEM "http://dtd.wctp.org/wctp-dtd-v1r3.dtd">\n'
        '<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-StatusInfo>'
        f'<wctp-ResponseHeader {header} responseTimestamp="2026-11-26T04:00:05">'
        '<wctp-Originator senderID="healthguard"/>'
        '<wctp-MessageControl messageID="abc123"/>'
        '<wctp-Recipient recipientID="PG4242"/>'
        f"</wctp-ResponseHeader>{notification}</wctp-StatusInfo></wctp-Operation>"
    ).encode()


def test_wctp_delivered_status_info() -> None:
    info = parse_status_info(status_info('<wctp-Notification type="Delivered"/>'))
    assert info.message_ids == ("abc123",)
    assert info.recipient_id == "PG4242"
    assert info.receipt.kind is ReceiptKind.DELIVERED
    assert info.receipt.at == datetime(2026, 11, 26, 4, 0, 5, tzinfo=UTC)


def test_wctp_failure_carries_the_gateways_text() -> None:
    info = parse_status_info(
        status_info('<wctp-Notification type="returned">Pager out of range</wctp-Notification>')
    )
    assert info.receipt.kind is ReceiptKind.FAILED
    assert info.receipt.reason == "Pager out of range"


def test_wctp_tracking_number_is_a_candidate() -> None:
    info = parse_status_info(
        status_info('<wctp-Notification type="read"/>', header='trackingNumber="T-9"')
    )
    assert info.message_ids == ("abc123", "T-9")
    assert info.receipt.kind is ReceiptKind.READ


@pytest.mark.parametrize(
    ("document", "field", "code"),
    [
        (b"<wctp-Operation>", "body", WCTP_UNPARSABLE),
        (status_info('<wctp-Notification type="lost"/>'), "wctp-Notification/@type", WCTP_INVALID),
        (status_info("<wctp-Notification/>"), "wctp-Notification/@type", WCTP_INVALID),
        (status_info(""), "wctp-Notification", WCTP_INVALID),
        (
            b'<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-MessageReply/></wctp-Operation>',
            "wctp-StatusInfo",
            WCTP_UNSUPPORTED_OPERATION,
        ),
        (
            status_info('<wctp-Notification type="read"/>').replace(
                b"2026-11-26T04:00:05", b"yesterday"
            ),
            "wctp-ResponseHeader/@responseTimestamp",
            WCTP_INVALID,
        ),
    ],
)
def test_bad_status_info_names_the_element(document: bytes, field: str, code: int) -> None:
    with pytest.raises(WctpStatusError) as caught:
        parse_status_info(document)
    assert caught.value.field == field
    assert caught.value.code == code


def test_a_status_info_without_any_message_id_is_refused() -> None:
    document = (
        b'<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-StatusInfo>'
        b'<wctp-ResponseHeader responseTimestamp="2026-11-26T04:00:05"/>'
        b'<wctp-Notification type="delivered"/></wctp-StatusInfo></wctp-Operation>'
    )
    with pytest.raises(WctpStatusError, match="responseToMessageID"):
        parse_status_info(document)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<wctp-Operation>&lol2;</wctp-Operation>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<wctp-Operation>&xxe;</wctp-Operation>"
)


@pytest.mark.parametrize(
    "document", [BILLION_LAUGHS, EXTERNAL, BILLION_LAUGHS.decode().encode("utf-16")]
)
def test_entities_are_refused_never_expanded(document: bytes) -> None:
    with pytest.raises(UnsafeXml):
        parse_xml(document)
    with pytest.raises(WctpStatusError) as caught:
        parse_status_info(document)
    assert caught.value.code == WCTP_UNPARSABLE
    with pytest.raises(WctpAnswerError, match="entities"):
        parse_confirmation(document)


def test_parse_xml_reads_the_wctp_doctype_and_our_own_documents() -> None:
    document = build_submit_request(
        sender_id="healthguard",
        recipient_id="PG1",
        message_id="m1",
        text="[P1] <ICU> & bed 4",
        submitted_at=SENT_AT,
    )
    root = parse_xml(document)
    assert root.findtext("wctp-SubmitRequest/wctp-Payload/wctp-Alphanumeric") == (
        "[P1] <ICU> & bed 4"
    )


def test_confirmation_answers() -> None:
    ok = parse_confirmation(build_confirmation(200, "Receipt accepted"))
    assert ok.success and ok.code == 200 and ok.text == "Receipt accepted"
    refused = parse_confirmation(build_confirmation(403, 'Unknown <id> "x"'))
    assert not refused.success and refused.code == 403 and refused.text == 'Unknown <id> "x"'
    root = ET.fromstring(build_confirmation(200, "ok"))
    assert root.get("wctpVersion") == "wctp-dtd-v1r3"
