"""The one interface every delivery channel implements, and the message it sends.

A channel is a thin, synchronous adapter called from an RQ worker job::

    result = channel.send(message)      # never raises for a delivery problem

``send`` turns every delivery problem (connection refused, timeout, a provider's refusal, an
answer it cannot read) into a failed :class:`DeliveryResult` whose ``error`` is safe to show
staff (no passwords, keys or tokens). Only programming errors raise (a wrong argument type,
a bug). ``retryable`` tells the worker whether trying the same channel again later can help;
``permanent_address_problem`` tells it the address itself can never work (a push subscription
that is gone, a pager id the gateway does not know, a phone number that is not E.164): stop
using it until someone corrects or removes it.

Every notification is a secondary alarm: the bedside monitor stays the primary one.
:class:`OutgoingMessage` refuses to exist unless its body, its short text (SMS, pager) and
its spoken text (voice) each say so; :func:`compose_message` makes them say so, appending
:data:`SECONDARY_ALARM_NOTICE` to the body and :data:`SHORT_SECONDARY_ALARM_NOTICE` to the
short text unless the texts (for example those of ``healthguard.notify.message``) already
do.

Keep patient-identifying data out of titles and bodies (ward, bed, score and priority are
enough to get someone to the bedside): e-mail, SMS and pager text leave the hospital's
systems. ``healthguard.notify.message`` composes texts that follow this.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable
from urllib.parse import urlsplit

from healthguard.models.notifications import Channel as ChannelKind
from healthguard.models.notifications import NotificationStatus

__all__ = [
    "ACTION_LABELS",
    "MAX_SHORT_TEXT_CHARS",
    "PRIORITY_VALUES",
    "SECONDARY_ALARM_NOTICE",
    "SHORT_SECONDARY_ALARM_NOTICE",
    "Address",
    "AnswerLinks",
    "Channel",
    "ChannelKind",
    "DeliveryResult",
    "OutgoingMessage",
    "Priority",
    "compose_message",
    "http_status_retryable",
    "http_url_host",
    "message_payload",
    "safe_error",
    "short_with_secondary_alarm",
    "states_secondary_alarm",
    "strip_secondary_alarm",
    "with_secondary_alarm",
]

Priority = Literal["P0", "P1", "P2", "P3", "P4"]
PRIORITY_VALUES: tuple[str, ...] = get_args(Priority)

SECONDARY_ALARM_NOTICE = "Secondary alarm: the bedside monitor remains the primary alarm."
SHORT_SECONDARY_ALARM_NOTICE = "Secondary alarm; bedside monitor is primary."
MAX_SHORT_TEXT_CHARS = 160
MAX_TITLE_CHARS = 200
MAX_ERROR_CHARS = 300

_ELLIPSIS = "..."
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85]")


@dataclass(frozen=True, slots=True)
class AnswerLinks:
    """One-click answer URLs for this notification (each optional)."""

    ack: str | None = None
    escalate: str | None = None
    decline: str | None = None

    def items(self) -> list[tuple[str, str]]:
        """``(action, url)`` for the links that are set, in a stable order."""
        pairs = (("ack", self.ack), ("escalate", self.escalate), ("decline", self.decline))
        return [(action, url) for action, url in pairs if url]


ACTION_LABELS: dict[str, str] = {
    "ack": "Acknowledge",
    "escalate": "Escalate",
    "decline": "Decline",
}

#: Where a channel delivers: an e-mail address, an E.164 phone number, a pager id, a
#: webhook URL (all ``str``) or a Web Push subscription (``{"endpoint": ..., "keys":
#: {"p256dh": ..., "auth": ...}}``).
Address = str | Mapping[str, Any]


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification, ready for one channel. Build it with :func:`compose_message`.

    The constructor checks the invariants and raises ``ValueError`` (a programming error):
    a known priority; a one-line, non-empty title; a body, a short text (at most 160
    characters) and, when given, a spoken text that each state it is a secondary alarm
    (:func:`states_secondary_alarm`). ``spoken_text`` is what a voice call reads out
    (None: the voice channel builds one from the title).
    """

    notification_id: uuid.UUID
    incident_id: uuid.UUID
    staff_id: uuid.UUID
    priority: Priority
    title: str
    body: str
    short_text: str
    address: Address
    links: AnswerLinks = field(default_factory=AnswerLinks)
    spoken_text: str | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.priority not in PRIORITY_VALUES:
            problems.append(f"priority must be one of {', '.join(PRIORITY_VALUES)}")
        if not self.title.strip():
            problems.append("title is empty")
        if _LINE_BREAKS.search(self.title) or _CONTROL.search(self.title):
            problems.append("title must be one line without control characters")
        if len(self.title) > MAX_TITLE_CHARS:
            problems.append(f"title is longer than {MAX_TITLE_CHARS} characters")
        if not states_secondary_alarm(self.body):
            problems.append("body must state it is a secondary alarm (use compose_message)")
        if len(self.short_text) > MAX_SHORT_TEXT_CHARS:
            problems.append(f"short_text is longer than {MAX_SHORT_TEXT_CHARS} characters")
        if not states_secondary_alarm(self.short_text):
            problems.append("short_text must state it is a secondary alarm")
        if self.spoken_text is not None and not states_secondary_alarm(self.spoken_text):
            problems.append("spoken_text must state it is a secondary alarm")
        if problems:
            raise ValueError("Invalid OutgoingMessage: " + "; ".join(problems) + ".")

    @property
    def main_body(self) -> str:
        """The body without a trailing :data:`SECONDARY_ALARM_NOTICE`."""
        return strip_secondary_alarm(self.body)


def states_secondary_alarm(text: str) -> bool:
    """Whether ``text`` says it is a secondary alarm (the words "secondary alarm", any case;
    our notices and ``healthguard.notify.message``'s all do)."""
    return "secondary alarm" in text.casefold()


def with_secondary_alarm(body: str) -> str:
    """``body`` stating it is a secondary alarm: :data:`SECONDARY_ALARM_NOTICE` is appended
    unless the body already says so (never twice)."""
    text = body.rstrip()
    if states_secondary_alarm(text):
        return text
    return f"{text}\n\n{SECONDARY_ALARM_NOTICE}" if text else SECONDARY_ALARM_NOTICE


def strip_secondary_alarm(body: str) -> str:
    """``body`` without a trailing :data:`SECONDARY_ALARM_NOTICE` (and trailing space)."""
    text = body.rstrip()
    if text.endswith(SECONDARY_ALARM_NOTICE):
        text = text[: -len(SECONDARY_ALARM_NOTICE)].rstrip()
    return text


def short_with_secondary_alarm(text: str, limit: int = MAX_SHORT_TEXT_CHARS) -> str:
    """``text`` on one line, at most ``limit`` characters, stating it is a secondary alarm.

    A text that already says so and fits is kept as it is (e.g. one ending with SMS reply
    codes); otherwise it is cut (with "...") and :data:`SHORT_SECONDARY_ALARM_NOTICE` is
    appended. Plain ASCII is added, so a GSM-7 text stays GSM-7.
    """
    one_line = " ".join(_CONTROL.sub(" ", _LINE_BREAKS.sub(" ", text)).split())
    if states_secondary_alarm(one_line) and len(one_line) <= limit:
        return one_line
    one_line = one_line.replace(SHORT_SECONDARY_ALARM_NOTICE, "").strip()
    room = limit - len(SHORT_SECONDARY_ALARM_NOTICE) - 1
    if room <= len(_ELLIPSIS):
        raise ValueError(f"limit {limit} leaves no room for the secondary-alarm notice")
    if len(one_line) > room:
        one_line = one_line[: room - len(_ELLIPSIS)].rstrip() + _ELLIPSIS
    return (
        f"{one_line} {SHORT_SECONDARY_ALARM_NOTICE}" if one_line else SHORT_SECONDARY_ALARM_NOTICE
    )


def compose_message(
    *,
    notification_id: uuid.UUID,
    incident_id: uuid.UUID,
    staff_id: uuid.UUID,
    priority: Priority,
    title: str,
    body: str,
    address: Address,
    links: AnswerLinks | None = None,
    short_text: str | None = None,
    spoken_text: str | None = None,
) -> OutgoingMessage:
    """Build an :class:`OutgoingMessage` that states it is a secondary alarm.

    The title is flattened to one line; the body gets :data:`SECONDARY_ALARM_NOTICE`
    appended unless it already states it is a secondary alarm; the short text (default
    ``"[P1] <title>"``) is kept if it already says so and fits in 160 characters, otherwise
    cut to fit beside :data:`SHORT_SECONDARY_ALARM_NOTICE`. A ``spoken_text`` (voice) that
    does not say so gets the notice appended. Texts from ``healthguard.notify.message``
    pass through unchanged.
    """
    flat_title = " ".join(_CONTROL.sub(" ", _LINE_BREAKS.sub(" ", title)).split())
    if len(flat_title) > MAX_TITLE_CHARS:
        flat_title = flat_title[: MAX_TITLE_CHARS - len(_ELLIPSIS)].rstrip() + _ELLIPSIS
    short = short_text if short_text is not None else f"[{priority}] {flat_title}"
    return OutgoingMessage(
        notification_id=notification_id,
        incident_id=incident_id,
        staff_id=staff_id,
        priority=priority,
        title=flat_title,
        body=with_secondary_alarm(body),
        short_text=short_with_secondary_alarm(short),
        address=address,
        links=links or AnswerLinks(),
        spoken_text=with_secondary_alarm(spoken_text) if spoken_text is not None else None,
    )


def message_payload(message: OutgoingMessage) -> dict[str, Any]:
    """A JSON-ready description of the message (webhook body, in-app event).

    The address is left out: each channel adds what its receiver needs.
    """
    return {
        "notification_id": str(message.notification_id),
        "incident_id": str(message.incident_id),
        "staff_id": str(message.staff_id),
        "priority": message.priority,
        "title": message.title,
        "body": message.body,
        "short_text": message.short_text,
        "links": {action: url for action, url in message.links.items()},
        "secondary_alarm": True,
    }


def safe_error(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` fit to store and show staff: every known secret replaced by ``***``,
    control characters removed, one line, at most 300 characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(_CONTROL.sub(" ", _LINE_BREAKS.sub(" ", text)).split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - len(_ELLIPSIS)] + _ELLIPSIS
    return text or "unknown error"


_RESULT_STATUSES = (
    NotificationStatus.SENT,
    NotificationStatus.DELIVERED,
    NotificationStatus.FAILED,
)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one ``send`` achieved. Build it with :meth:`sent`, :meth:`delivered` or
    :meth:`failed`.

    ``status`` is ``NotificationStatus.SENT`` (handed to the provider), ``DELIVERED`` (the
    provider confirmed delivery to the device) or ``FAILED``. ``retryable``: trying again
    later on the same channel may work (only for failures). ``permanent_address_problem``:
    the address can never work; stop using it until it is corrected (only for failures).
    ``error``: why it failed, safe to show staff.
    """

    status: NotificationStatus
    retryable: bool = False
    permanent_address_problem: bool = False
    provider_message_id: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in _RESULT_STATUSES:
            raise ValueError(f"A delivery result is sent, delivered or failed, not {self.status}")
        failed = self.status is NotificationStatus.FAILED
        if failed and not self.error:
            raise ValueError("A failed delivery result needs an error text")
        if not failed and (self.retryable or self.permanent_address_problem or self.error):
            raise ValueError(
                "Only a failed delivery result has an error, retryable or address flag"
            )

    @property
    def ok(self) -> bool:
        return self.status is not NotificationStatus.FAILED

    @classmethod
    def sent(cls, provider_message_id: str | None = None) -> DeliveryResult:
        return cls(NotificationStatus.SENT, provider_message_id=provider_message_id)

    @classmethod
    def delivered(cls, provider_message_id: str | None = None) -> DeliveryResult:
        return cls(NotificationStatus.DELIVERED, provider_message_id=provider_message_id)

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        retryable: bool,
        permanent_address_problem: bool = False,
        provider_message_id: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> DeliveryResult:
        """A failure; ``error`` is cleaned with :func:`safe_error` (``secrets`` redacted)."""
        return cls(
            NotificationStatus.FAILED,
            retryable=retryable,
            permanent_address_problem=permanent_address_problem,
            provider_message_id=provider_message_id,
            error=safe_error(error, secrets),
        )


@runtime_checkable
class Channel(Protocol):
    """A delivery channel: a name (the ``Channel`` enum of the notifications model) and a
    synchronous ``send`` that never raises for a delivery problem."""

    @property
    def name(self) -> ChannelKind: ...

    def send(self, message: OutgoingMessage) -> DeliveryResult: ...


def http_status_retryable(status_code: int) -> bool:
    """Whether trying again later can help after this non-2xx HTTP answer: 408 (request
    timeout), 429 (too many requests) and every 5xx; not the other 3xx and 4xx (a
    configuration or request problem that repeating will not fix)."""
    return status_code in (408, 429) or status_code >= 500


def http_url_host(url: str) -> str | None:
    """The host of an ``http://`` or ``https://`` URL; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return host
