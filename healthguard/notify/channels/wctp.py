"""Pagers and hospital communicators through a WCTP 1.3 gateway (Spok, Vocera, Ascom...).

WCTP (Wireless Communication Transfer Protocol, PCIA, DTD ``wctp-dtd-v1r3``) is XML over
HTTP POST (``Content-Type: text/xml``). We send one ``wctp-SubmitRequest`` per notification::

    <wctp-Operation wctpVersion="wctp-dtd-v1r3">
      <wctp-SubmitRequest>
        <wctp-SubmitHeader submitTimestamp="2025-01-01T12:00:00">
          <wctp-Originator senderID="healthguard" securityCode="..."/>
          <wctp-MessageControl messageID="<notification id hex>" allowResponse="true"
              notifyWhenDelivered="true" notifyWhenRead="false" deliveryPriority="HIGH"/>
          <wctp-Recipient recipientID="<pager id>"/>
        </wctp-SubmitHeader>
        <wctp-Payload><wctp-Alphanumeric>short text</wctp-Alphanumeric></wctp-Payload>
      </wctp-SubmitRequest>
    </wctp-Operation>

and read the gateway's ``wctp-Confirmation`` (``wctp-Success successCode=...`` or
``wctp-Failure errorCode=... errorText=...``). The XML is built with ElementTree, so the text
and ids are always escaped. ``deliveryPriority`` is HIGH for P0/P1, NORMAL otherwise.

How a confirmation maps to a :class:`DeliveryResult` (WCTP 1.3 code series):

=====  =============================================  =================================
code   meaning in WCTP 1.3                            result
=====  =============================================  =================================
2xx    accepted (210 deprecated version, 211-220       sent
       accepted with a warning)
300    operation not supported                        failed, not retryable
301    input cannot be parsed                         failed, not retryable
302    XML validation error                           failed, not retryable
303    version not supported                          failed, not retryable
304    cannot accept until messages are polled        failed, retryable
400s   content errors (sender id, security code,      failed, not retryable
       dates, message too long, MCR unsupported...)
403    invalid recipientID                            ... and permanent_address_problem
404    invalid authorizationCode for the recipient    ... and permanent_address_problem
500s   permanent message-processing errors (timed     failed, not retryable
       out, expired, sender disabled...)
600s   temporary errors (rate exceeded, 604 internal  failed, retryable
       server error, 605 service unavailable)
other  unknown code                                   failed, retryable (fail safe: a
                                                      repeated page beats a missed one)
=====  =============================================  =================================

The HTTP layer: a readable confirmation decides even with a non-2xx status (some gateways
answer 400 with a ``wctp-Failure``). Otherwise 408/429/5xx, timeouts and connection errors
are retryable; other 4xx not (wrong URL, authentication). A 2xx answer that is not a
readable confirmation is failed and retryable: the page may not have been accepted.

Delivery receipts. With ``notifyWhenDelivered="true"`` (``notify_when_delivered``, on by
default) and ``notifyWhenRead`` (``notify_when_read``, off by default: few pagers report
it) the gateway later posts a ``wctp-StatusInfo`` to the enterprise host address configured
at the gateway (WCTP carries no callback URL in the request; ours is
``{public URL}/api/v1/notifications/wctp?key=<HEALTHGUARD_WCTP_CALLBACK_KEY>``)::

    <wctp-Operation wctpVersion="wctp-dtd-v1r3">
      <wctp-StatusInfo>
        <wctp-ResponseHeader responseToMessageID="<our messageID>"
            responseTimestamp="2025-01-01T12:00:05">
          <wctp-Originator senderID="healthguard"/>
          <wctp-MessageControl messageID="<our messageID>"/>
          <wctp-Recipient recipientID="<pager id>"/>
        </wctp-ResponseHeader>
        <wctp-Notification type="delivered"/>
      </wctp-StatusInfo>
    </wctp-Operation>

:func:`parse_status_info` reads it: the message is found by ``responseToMessageID``, the
``messageID`` of ``wctp-MessageControl`` or a ``trackingNumber`` (on the header or the
notification), whichever names one of ours; ``type`` (any case) ``delivered`` and ``read``
are receipts, ``queued`` a progress report (nothing changes), ``failed``, ``returned`` and
``deleted`` a failure (the notification's text, if any, is the reason; a failure after
delivery is ignored by ``healthguard.notify.receipts``). We answer with a
``wctp-Confirmation`` (:func:`build_confirmation`): ``200`` accepted, ``301`` not
well-formed, ``302`` a required element or attribute missing or wrong, ``300`` not a
``wctp-StatusInfo``, ``402`` wrong key, ``403`` unknown message id.

Every XML document from a gateway is parsed by :func:`parse_xml`: expat through a tree
builder, DTD entity declarations refused (no entity expansion, no external entities), at
most 64 KiB.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn
from xml.parsers import expat

import httpx

from healthguard.notify.channels.base import (
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    http_status_retryable,
    http_url_host,
)
from healthguard.notify.receipts import Receipt, ReceiptKind

WCTP_VERSION = "wctp-dtd-v1r3"
WCTP_DOCTYPE = '<!DOCTYPE wctp-Operation SYSTEM "http://dtd.wctp.org/wctp-dtd-v1r3.dtd">'
MAX_ANSWER_BYTES = 64 * 1024
MAX_ID_CHARS = 128  # recipientID, senderID and messageID limits in the WCTP specification

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ADDRESS_ERRORS = frozenset({403, 404})
_RETRYABLE_PROTOCOL_ERRORS = frozenset({304})


@dataclass(frozen=True)
class WctpConfig:
    url: str
    sender_id: str
    security_code: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    notify_when_delivered: bool = True
    notify_when_read: bool = False
    verify_tls: bool = True


@dataclass(frozen=True, slots=True)
class WctpConfirmation:
    """A parsed ``wctp-Confirmation``."""

    success: bool
    code: int
    text: str


class WctpAnswerError(ValueError):
    """The gateway's answer is not a readable ``wctp-Confirmation``."""


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def build_submit_request(
    *,
    sender_id: str,
    recipient_id: str,
    message_id: str,
    text: str,
    submitted_at: datetime,
    security_code: str | None = None,
    high_priority: bool = False,
    notify_when_delivered: bool = True,
    notify_when_read: bool = False,
) -> bytes:
    """A complete ``wctp-SubmitRequest`` document, UTF-8, with the XML declaration and the
    WCTP 1.3 DOCTYPE. Raises ``ValueError`` for an empty or over-long id."""
    for label, value in (
        ("recipient id", recipient_id),
        ("sender id", sender_id),
        ("message id", message_id),
    ):
        if not value.strip():
            raise ValueError(f"the WCTP {label} is empty")
        if len(value) > MAX_ID_CHARS:
            raise ValueError(f"the WCTP {label} is longer than {MAX_ID_CHARS} characters")
    operation = ET.Element("wctp-Operation", {"wctpVersion": WCTP_VERSION})
    request = ET.SubElement(operation, "wctp-SubmitRequest")
    header = ET.SubElement(request, "wctp-SubmitHeader", {"submitTimestamp": _ts(submitted_at)})
    originator = {"senderID": sender_id}
    if security_code:
        originator["securityCode"] = security_code
    ET.SubElement(header, "wctp-Originator", originator)
    ET.SubElement(
        header,
        "wctp-MessageControl",
        {
            "messageID": message_id,
            "allowResponse": "true",
            "notifyWhenDelivered": _bool(notify_when_delivered),
            "notifyWhenRead": _bool(notify_when_read),
            "deliveryPriority": "HIGH" if high_priority else "NORMAL",
        },
    )
    ET.SubElement(header, "wctp-Recipient", {"recipientID": recipient_id})
    payload = ET.SubElement(request, "wctp-Payload")
    ET.SubElement(payload, "wctp-Alphanumeric").text = _xml_safe(text)
    body = ET.tostring(operation, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{WCTP_DOCTYPE}\n{body}\n'.encode()


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _xml_safe(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry at all (escaping cannot help them)."""
    return _XML_INVALID.sub("", text)


class UnsafeXml(ValueError):
    """A document that declares entities (or is too large): refused, never expanded."""


def _refuse_entities(*_: Any) -> NoReturn:
    raise UnsafeXml("the document declares XML entities")


def parse_xml(data: bytes, limit: int = MAX_ANSWER_BYTES) -> ET.Element:
    """Parse ``data`` safely: :class:`UnsafeXml` for a document over ``limit`` bytes or one
    that declares entities (internal or external: no expansion, nothing fetched),
    ``ET.ParseError`` when it is not well-formed. A DOCTYPE without an internal subset (the
    WCTP one) is fine."""
    if len(data) > limit:
        raise UnsafeXml(f"the document is larger than {limit} bytes")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entities
    parser.UnparsedEntityDeclHandler = _refuse_entities
    parser.ExternalEntityRefHandler = _refuse_entities
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ET.ParseError(str(exc)) from None
    return builder.close()


def parse_confirmation(answer: bytes) -> WctpConfirmation:
    """The ``wctp-Confirmation`` in a gateway's answer; :class:`WctpAnswerError` otherwise.

    Entity declarations are refused (no entity-expansion attacks from a rogue gateway)."""
    try:
        root = parse_xml(answer)
    except UnsafeXml as exc:
        raise WctpAnswerError(str(exc).replace("the document", "the answer")) from None
    except ET.ParseError as exc:
        raise WctpAnswerError(f"the answer is not well-formed XML ({exc})") from None
    if root.tag != "wctp-Operation":
        raise WctpAnswerError(f"the answer is a <{root.tag}>, not a <wctp-Operation>")
    confirmation = root.find("wctp-Confirmation")
    if confirmation is None:
        raise WctpAnswerError("the answer has no <wctp-Confirmation>")
    success = confirmation.find("wctp-Success")
    failure = confirmation.find("wctp-Failure")
    if success is not None:
        element, attribute, text_attribute = success, "successCode", "successText"
    elif failure is not None:
        element, attribute, text_attribute = failure, "errorCode", "errorText"
    else:
        raise WctpAnswerError("the confirmation has neither <wctp-Success> nor <wctp-Failure>")
    raw_code = element.get(attribute, "")
    try:
        code = int(raw_code.strip())
    except ValueError:
        raise WctpAnswerError(f"{attribute} {raw_code!r} is not a number") from None
    text = element.get(text_attribute) or (element.text or "").strip()
    return WctpConfirmation(success=success is not None, code=code, text=text)


def confirmation_outcome(confirmation: WctpConfirmation) -> tuple[bool, bool]:
    """``(retryable, permanent_address_problem)`` of a failure (see the module table)."""
    code = confirmation.code
    if 300 <= code < 400:
        return code in _RETRYABLE_PROTOCOL_ERRORS, False
    if 400 <= code < 500:
        return False, code in _ADDRESS_ERRORS
    if 500 <= code < 600:
        return False, False
    return True, False


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WctpChannel:
    """Sends the message's short text to a pager id through a WCTP 1.3 gateway."""

    name = ChannelKind.PAGER

    def __init__(
        self,
        config: WctpConfig,
        *,
        clock: Callable[[], datetime] = _utcnow,
        transport: httpx.BaseTransport | None = None,
    ):
        host = http_url_host(config.url)
        if host is None:
            raise ValueError("the WCTP gateway URL must be an http:// or https:// URL")
        if not config.sender_id.strip():
            raise ValueError("the WCTP sender id is empty")
        self.config = config
        self._gateway = f"WCTP gateway {host}"
        self._clock = clock
        self._transport = transport

    def _failed(self, error: str, *, retryable: bool, address: bool = False) -> DeliveryResult:
        return DeliveryResult.failed(
            error,
            retryable=retryable,
            permanent_address_problem=address,
            provider_message_id=None,
            secrets=(self.config.security_code,),
        )

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        cfg = self.config
        if not isinstance(message.address, str):
            return self._failed("A pager id is text", retryable=False, address=True)
        recipient = message.address.strip()
        message_id = message.notification_id.hex
        try:
            document = build_submit_request(
                sender_id=cfg.sender_id,
                recipient_id=recipient,
                message_id=message_id,
                text=message.short_text,
                submitted_at=self._clock(),
                security_code=cfg.security_code,
                high_priority=message.priority in ("P0", "P1"),
                notify_when_delivered=cfg.notify_when_delivered,
                notify_when_read=cfg.notify_when_read,
            )
        except ValueError as exc:
            return self._failed(f"Pager id unusable: {exc}", retryable=False, address=True)
        gateway = self._gateway
        try:
            with httpx.Client(
                timeout=cfg.timeout, verify=cfg.verify_tls, transport=self._transport
            ) as client:
                response = client.post(
                    cfg.url,
                    content=document,
                    headers={"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"},
                )
        except httpx.TimeoutException:
            return self._failed(
                f"{gateway} did not answer within {cfg.timeout:g} s", retryable=True
            )
        except httpx.RequestError as exc:  # connection refused/reset, TLS, protocol errors
            return self._failed(f"Cannot reach {gateway}: {_reason(exc)}", retryable=True)
        except httpx.InvalidURL as exc:
            return self._failed(f"The WCTP gateway URL is invalid: {exc}", retryable=False)
        try:
            confirmation = parse_confirmation(response.content)
        except WctpAnswerError as exc:
            if response.is_success:
                return self._failed(
                    f"{gateway} answered HTTP {response.status_code} but {exc}", retryable=True
                )
            return self._failed(
                f"{gateway} answered HTTP {response.status_code}",
                retryable=http_status_retryable(response.status_code),
            )
        if confirmation.success and 200 <= confirmation.code < 300:
            return DeliveryResult.sent(message_id)
        if confirmation.success:
            return self._failed(
                f"{gateway} answered success code {confirmation.code} {confirmation.text}".strip(),
                retryable=True,
            )
        retryable, address = confirmation_outcome(confirmation)
        return self._failed(
            f"{gateway} refused the page: WCTP {confirmation.code} {confirmation.text}".strip(),
            retryable=retryable,
            address=address,
        )


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or exc.__class__.__name__


# --- delivery receipts: wctp-StatusInfo ------------------------------------------------------

#: WCTP codes of our answers to a gateway's ``wctp-StatusInfo``.
WCTP_OK = 200
WCTP_UNSUPPORTED_OPERATION = 300
WCTP_UNPARSABLE = 301
WCTP_INVALID = 302
WCTP_BAD_SECURITY_CODE = 402
WCTP_UNKNOWN_MESSAGE = 403
WCTP_UNAVAILABLE = 605

_STATUS_TYPES: dict[str, ReceiptKind] = {
    "delivered": ReceiptKind.DELIVERED,
    "read": ReceiptKind.READ,
    "queued": ReceiptKind.ACCEPTED,
    "failed": ReceiptKind.FAILED,
    "returned": ReceiptKind.FAILED,
    "deleted": ReceiptKind.FAILED,
}
_FAILURE_REASONS = {
    "failed": "the gateway could not deliver the page",
    "returned": "returned undelivered by the gateway",
    "deleted": "deleted by the gateway before delivery",
}


class WctpStatusError(ValueError):
    """A ``wctp-StatusInfo`` we cannot use: ``field`` names the element or attribute,
    ``code`` is the WCTP error code to answer with."""

    def __init__(self, field: str, message: str, code: int = WCTP_INVALID):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class WctpStatusInfo:
    """A gateway's asynchronous status report about one page."""

    message_ids: tuple[str, ...]  # candidates, in order: responseToMessageID, messageID...
    receipt: Receipt
    recipient_id: str | None = None


def _wctp_time(value: str, field_name: str) -> datetime:
    """WCTP times: ``YYYY-MM-DDTHH:MM:SS`` (UTC), optionally with fractions and ``Z`` or an
    offset."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WctpStatusError(
            field_name, f"{value!r} is not a WCTP time (YYYY-MM-DDTHH:MM:SS, UTC)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_status_info(document: bytes) -> WctpStatusInfo:
    """The receipt in a gateway's ``wctp-StatusInfo`` (module docstring);
    :class:`WctpStatusError` naming the element or attribute otherwise."""
    try:
        root = parse_xml(document)
    except UnsafeXml as exc:
        raise WctpStatusError("body", str(exc), WCTP_UNPARSABLE) from None
    except ET.ParseError as exc:
        raise WctpStatusError("body", f"is not well-formed XML ({exc})", WCTP_UNPARSABLE) from None
    if root.tag != "wctp-Operation":
        raise WctpStatusError("body", f"is a <{root.tag}>, not a <wctp-Operation>")
    info = root.find("wctp-StatusInfo")
    if info is None:
        inner = next(iter(root), None)
        what = f"<{inner.tag}>" if inner is not None else "nothing"
        raise WctpStatusError(
            "wctp-StatusInfo",
            f"this address takes wctp-StatusInfo only, the operation holds {what}",
            WCTP_UNSUPPORTED_OPERATION,
        )
    header = info.find("wctp-ResponseHeader")
    notification = info.find("wctp-Notification")
    if notification is None:
        raise WctpStatusError("wctp-Notification", "is missing")
    raw_type = (notification.get("type") or "").strip()
    if not raw_type:
        raise WctpStatusError("wctp-Notification/@type", "is missing")
    kind = _STATUS_TYPES.get(raw_type.lower())
    if kind is None:
        raise WctpStatusError(
            "wctp-Notification/@type",
            f"{raw_type!r} is not one of {', '.join(sorted(_STATUS_TYPES))}",
        )
    control = header.find("wctp-MessageControl") if header is not None else None
    recipient = header.find("wctp-Recipient") if header is not None else None
    candidates = [
        header.get("responseToMessageID") if header is not None else None,
        control.get("messageID") if control is not None else None,
        header.get("trackingNumber") if header is not None else None,
        notification.get("trackingNumber"),
        notification.get("messageID"),
    ]
    ids = tuple(dict.fromkeys(c.strip() for c in candidates if c and c.strip()))
    if not ids:
        raise WctpStatusError(
            "wctp-ResponseHeader/@responseToMessageID",
            "is missing (nor is there a messageID or trackingNumber naming the page)",
        )
    for value in ids:
        if len(value) > MAX_ID_CHARS:
            raise WctpStatusError(
                "wctp-ResponseHeader/@responseToMessageID",
                f"a message id is longer than {MAX_ID_CHARS} characters",
            )
    at = None
    if header is not None and (stamp := header.get("responseTimestamp")):
        at = _wctp_time(stamp, "wctp-ResponseHeader/@responseTimestamp")
    text = " ".join((notification.text or "").split())
    if kind is ReceiptKind.FAILED:
        reason = text or _FAILURE_REASONS[raw_type.lower()]
        receipt = Receipt(kind, at=at, reason=reason, provider_status=raw_type.lower())
    else:
        receipt = Receipt(kind, at=at, provider_status=raw_type.lower())
    return WctpStatusInfo(
        message_ids=ids,
        receipt=receipt,
        recipient_id=recipient.get("recipientID") if recipient is not None else None,
    )


def build_confirmation(code: int, text: str) -> bytes:
    """Our ``wctp-Confirmation`` answer: ``wctp-Success`` for 2xx codes, ``wctp-Failure``
    otherwise; the text is escaped and kept to one line."""
    operation = ET.Element("wctp-Operation", {"wctpVersion": WCTP_VERSION})
    confirmation = ET.SubElement(operation, "wctp-Confirmation")
    clean = " ".join(_xml_safe(text).split())[:500]
    if 200 <= code < 300:
        element = ET.SubElement(
            confirmation, "wctp-Success", {"successCode": str(code), "successText": clean}
        )
    else:
        element = ET.SubElement(
            confirmation, "wctp-Failure", {"errorCode": str(code), "errorText": clean}
        )
    element.text = clean
    body = ET.tostring(operation, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{WCTP_DOCTYPE}\n{body}\n'.encode()
