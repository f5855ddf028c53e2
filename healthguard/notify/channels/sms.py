"""SMS and voice calls through a provider adapter.

A provider (a paid SMS/voice gateway, the console for demos, a recorder for tests) implements
:class:`SmsProvider`. An adapter for a real service translates that service's refusals into
:class:`SmsProviderError` (saying whether a retry can help and whether the number itself is
bad) and lets ``TimeoutError`` / ``ConnectionError`` (or any ``OSError``) through for network
trouble; :class:`SmsChannel` and :class:`VoiceChannel` turn all of those into failed
:class:`DeliveryResult` s. Any other exception is a bug and propagates.

Numbers must be E.164 (``+`` country code and number, 7 to 15 digits, e.g. ``+447700900123``);
spaces, dots, hyphens and brackets used for grouping are ignored. Anything else is failed,
not retryable, with ``permanent_address_problem`` (the stored number needs correcting).

The SMS text is the message's short text (at most 160 characters, secondary-alarm notice
included); the call reads out :func:`spoken_text` (the message's own spoken text if any).

Delivery receipts: a provider posts status callbacks for the SMS it accepted (the route
``POST /api/v1/notifications/sms/status``, ``healthguard.api.receipts``).
:func:`parse_status_callback` reads the formats we support (``STATUS_CALLBACK_FORMATS``)
into the provider's message id and a :class:`~healthguard.notify.receipts.Receipt`, or
raises :class:`StatusCallbackError` naming the field. ``twilio``: a form (or JSON) body with
``MessageSid`` (or ``SmsSid``), ``MessageStatus`` (or ``SmsStatus``) and, for failures,
``ErrorCode``; optional ``RawDlrDoneDate`` (``YYMMDDhhmm``, UTC: the carrier's delivery time)::

    accepted, scheduled, queued, sending, sent   -> accepted (nothing changes)
    delivered                                    -> delivered
    read                                         -> read
    undelivered, failed, canceled                -> failed (reason from ErrorCode)

A failure is retryable (the same channel again after the backoff) unless its error code says
the number itself cannot work (``TWILIO_ERRORS``: unknown, landline, blocked, unsubscribed);
an unknown code is retryable (a repeated SMS beats a missed one).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, TextIO

from healthguard.notify.channels.base import (
    SECONDARY_ALARM_NOTICE,
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
)
from healthguard.notify.receipts import Receipt, ReceiptKind

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_GROUPING = re.compile(r"[\s.\-()]")


class InvalidPhoneNumber(ValueError):
    """A phone number that is not E.164."""


def normalise_e164(number: str) -> str:
    """``number`` in strict E.164 (``+447700900123``); :class:`InvalidPhoneNumber` with the
    reason otherwise. Grouping characters (spaces, dots, hyphens, brackets) are removed."""
    compact = _GROUPING.sub("", number)
    if _E164.fullmatch(compact):
        return compact
    if not compact.startswith("+"):
        reason = "it must start with + and the country code (00 or a national 0 is not E.164)"
    elif not compact[1:].isdigit():
        reason = "after the + only digits are allowed"
    elif compact[1:2] == "0":
        reason = "a country code never starts with 0"
    else:
        reason = "it must have 7 to 15 digits after the +"
    raise InvalidPhoneNumber(
        f"Phone number {number!r} is not in E.164 format: {reason}, e.g. +447700900123"
    )


@dataclass(frozen=True, slots=True)
class ProviderReceipt:
    """What a provider returns for an accepted SMS or call."""

    message_id: str | None = None
    #: "delivered" only when the provider knows the handset received it.
    status: Literal["sent", "delivered"] = "sent"


class SmsProviderError(Exception):
    """A provider refused or could not take the SMS or call."""

    def __init__(self, message: str, *, retryable: bool, permanent_address_problem: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.permanent_address_problem = permanent_address_problem


class SmsProvider(Protocol):
    """Sends SMS and places text-to-speech calls. ``to`` is always E.164."""

    def send_sms(self, to: str, text: str) -> ProviderReceipt: ...

    def place_call(self, to: str, spoken_text: str) -> ProviderReceipt: ...


class ConsoleSmsProvider:
    """For demos: writes one clear line per SMS or call to a stream and/or a logger; sends
    nothing."""

    def __init__(self, stream: TextIO | None = None, logger: logging.Logger | None = None):
        self._stream = stream if stream is not None or logger is not None else sys.stdout
        self._logger = logger
        self._lock = threading.Lock()

    def _emit(self, kind: str, to: str, text: str) -> ProviderReceipt:
        receipt = ProviderReceipt(message_id=f"console-{uuid.uuid4().hex[:12]}")
        line = f"[demo {kind}, not sent] to {to}: {' '.join(text.split())}"
        with self._lock:
            if self._stream is not None:
                self._stream.write(line + "\n")
                self._stream.flush()
            if self._logger is not None:
                self._logger.info("%s", line)
        return receipt

    def send_sms(self, to: str, text: str) -> ProviderReceipt:
        return self._emit("SMS", to, text)

    def place_call(self, to: str, spoken_text: str) -> ProviderReceipt:
        return self._emit("call", to, spoken_text)


@dataclass(frozen=True, slots=True)
class RecordedSend:
    kind: Literal["sms", "call"]
    to: str
    text: str
    message_id: str
    at: datetime


@dataclass
class RecordingSmsProvider:
    """For tests: stands in for the paid service behind the same interface. Records every
    accepted SMS and call in ``sent``; set ``failure`` to refuse (raise it) or ``time_out``
    to behave as a provider that does not answer (raise ``TimeoutError`` at once)."""

    failure: SmsProviderError | None = None
    time_out: bool = False
    sent: list[RecordedSend] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _record(self, kind: Literal["sms", "call"], to: str, text: str) -> ProviderReceipt:
        if self.time_out:
            raise TimeoutError("the SMS provider did not answer")
        if self.failure is not None:
            raise self.failure
        message_id = f"rec-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self.sent.append(RecordedSend(kind, to, text, message_id, datetime.now(UTC)))
        return ProviderReceipt(message_id=message_id)

    def send_sms(self, to: str, text: str) -> ProviderReceipt:
        return self._record("sms", to, text)

    def place_call(self, to: str, spoken_text: str) -> ProviderReceipt:
        return self._record("call", to, spoken_text)


def spoken_text(message: OutgoingMessage) -> str:
    """What a voice call says: the message's ``spoken_text`` when it has one, otherwise who
    calls, the priority, the title and the notice, twice."""
    if message.spoken_text is not None:
        return message.spoken_text
    number = message.priority[1]
    once = (
        f"HealthGuard alert, priority {number}. {message.title}. {SECONDARY_ALARM_NOTICE} "
        "Please check HealthGuard to acknowledge."
    )
    return f"{once} Repeating. {once}"


def _provider_call(
    what: str, to: str, call: Literal["sms", "call"], provider: SmsProvider, text: str
) -> DeliveryResult:
    try:
        receipt = provider.send_sms(to, text) if call == "sms" else provider.place_call(to, text)
    except SmsProviderError as exc:
        return DeliveryResult.failed(
            f"The {what} provider refused: {exc}",
            retryable=exc.retryable,
            permanent_address_problem=exc.permanent_address_problem,
        )
    except TimeoutError:
        return DeliveryResult.failed(f"The {what} provider did not answer in time", retryable=True)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return DeliveryResult.failed(f"Cannot reach the {what} provider: {reason}", retryable=True)
    if receipt.status == "delivered":
        return DeliveryResult.delivered(receipt.message_id)
    return DeliveryResult.sent(receipt.message_id)


def _number(message: OutgoingMessage) -> str | DeliveryResult:
    if not isinstance(message.address, str):
        return DeliveryResult.failed(
            "A phone number is text", retryable=False, permanent_address_problem=True
        )
    try:
        return normalise_e164(message.address)
    except InvalidPhoneNumber as exc:
        return DeliveryResult.failed(str(exc), retryable=False, permanent_address_problem=True)


class SmsChannel:
    """Sends the short text as an SMS."""

    name = ChannelKind.SMS

    def __init__(self, provider: SmsProvider):
        self.provider = provider

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        to = _number(message)
        if isinstance(to, DeliveryResult):
            return to
        return _provider_call("SMS", to, "sms", self.provider, message.short_text)


class VoiceChannel:
    """Places a text-to-speech call reading out :func:`spoken_text`."""

    name = ChannelKind.VOICE

    def __init__(self, provider: SmsProvider):
        self.provider = provider

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        to = _number(message)
        if isinstance(to, DeliveryResult):
            return to
        return _provider_call("voice", to, "call", self.provider, spoken_text(message))


# --- delivery receipts (status callbacks) -----------------------------------------------------

MAX_MESSAGE_ID_CHARS = 200  # notifications.provider_message_id


class StatusCallbackError(ValueError):
    """A status callback that cannot be read; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class StatusCallback:
    """A provider's report about one SMS: its message id and what happened."""

    message_id: str
    receipt: Receipt


#: Twilio error codes: (what to tell staff, whether trying the same number again can help).
TWILIO_ERRORS: dict[str, tuple[str, bool]] = {
    "30001": ("provider queue overflow", True),
    "30002": ("SMS account suspended", False),
    "30003": ("handset unreachable", True),
    "30004": ("message blocked by the recipient or carrier", False),
    "30005": ("unknown or inactive number", False),
    "30006": ("landline or unreachable carrier", False),
    "30007": ("filtered by the carrier", False),
    "30008": ("unknown delivery error", True),
    "30009": ("missing message segment", True),
    "30010": ("message price exceeds the maximum", False),
    "21211": ("invalid phone number", False),
    "21610": ("the recipient unsubscribed (STOP)", False),
    "21614": ("not a mobile number", False),
}

_TWILIO_ACCEPTED = frozenset({"accepted", "scheduled", "queued", "sending", "sent"})
_TWILIO_FAILED = {
    "undelivered": "not delivered by the carrier",
    "failed": "the provider could not send it",
    "canceled": "cancelled by the provider",
}
_PRINTABLE_ID = re.compile(r"[\x21-\x7e]+")


def _first(fields: Mapping[str, str], *names: str) -> tuple[str, str | None]:
    for name in names:
        value = fields.get(name)
        if value is not None and str(value).strip():
            return name, str(value).strip()
    return names[0], None


def _dlr_time(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        raise StatusCallbackError(
            "RawDlrDoneDate", f"{value!r} is not a time in the YYMMDDhhmm format"
        ) from None


def parse_twilio_status(fields: Mapping[str, str]) -> StatusCallback:
    """A Twilio-style status callback (module docstring); StatusCallbackError otherwise."""
    id_field, message_id = _first(fields, "MessageSid", "SmsSid")
    if message_id is None:
        raise StatusCallbackError("MessageSid", "is missing")
    if len(message_id) > MAX_MESSAGE_ID_CHARS or not _PRINTABLE_ID.fullmatch(message_id):
        raise StatusCallbackError(
            id_field, f"must be 1 to {MAX_MESSAGE_ID_CHARS} printable characters without spaces"
        )
    status_field, raw_status = _first(fields, "MessageStatus", "SmsStatus")
    if raw_status is None:
        raise StatusCallbackError("MessageStatus", "is missing")
    status = raw_status.lower()
    _, done = _first(fields, "RawDlrDoneDate")
    at = _dlr_time(done) if done is not None else None
    if status in _TWILIO_ACCEPTED:
        receipt = Receipt(ReceiptKind.ACCEPTED, at=at, provider_status=status)
    elif status == "delivered":
        receipt = Receipt(ReceiptKind.DELIVERED, at=at, provider_status=status)
    elif status == "read":
        receipt = Receipt(ReceiptKind.READ, at=at, provider_status=status)
    elif status in _TWILIO_FAILED:
        _, code = _first(fields, "ErrorCode")
        if code is not None and not code.isdigit():
            raise StatusCallbackError("ErrorCode", f"{code!r} is not a number")
        known = TWILIO_ERRORS.get(code or "")
        if known is not None:
            reason, retryable = known
            reason = f"{reason} (error {code})"
        else:
            reason = _TWILIO_FAILED[status] + (f" (error {code})" if code else "")
            retryable = True
        receipt = Receipt(
            ReceiptKind.FAILED,
            at=at,
            reason=reason,
            retryable=retryable,
            provider_status=f"{status} {code}" if code else status,
        )
    else:
        allowed = sorted({*_TWILIO_ACCEPTED, "delivered", "read", *_TWILIO_FAILED})
        raise StatusCallbackError(
            status_field, f"{raw_status!r} is not a known status ({', '.join(allowed)})"
        )
    return StatusCallback(message_id=message_id, receipt=receipt)


#: The status-callback formats we read, by name.
STATUS_CALLBACK_FORMATS: dict[str, Callable[[Mapping[str, str]], StatusCallback]] = {
    "twilio": parse_twilio_status,
}


def parse_status_callback(fields: Mapping[str, str], fmt: str = "twilio") -> StatusCallback:
    """Read a provider's status callback in format ``fmt`` (``STATUS_CALLBACK_FORMATS``)."""
    try:
        parser = STATUS_CALLBACK_FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown SMS status callback format {fmt!r}") from None
    return parser(fields)
