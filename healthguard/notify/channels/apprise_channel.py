"""Apprise: one adapter for the many chat, push and paging services a hospital already runs
(Microsoft Teams, Slack, Matrix, ntfy, Gotify, mailto:...), through the maintained
``apprise`` library instead of an adapter of our own per service.

A hospital lists its destinations as Apprise URLs (``HEALTHGUARD_APPRISE_URLS``, a JSON
list; see https://github.com/caronc/apprise/wiki for every service's URL). The URLs carry
tokens and passwords: they never appear in an error, a log line or ``repr``.

Where it is used: certification reminders for people with no e-mail address, and operator
broadcasts (``workers.oncall``). It is not one of the per-person notification channels of an
incident: the ``notifications.channel`` column only accepts the six ``Channel`` values (a
CHECK constraint), and a seventh needs a migration. The registry therefore keeps it under its
own name, ``"apprise"`` (``ChannelRegistry.send("apprise", message)``), outside
``ChannelRegistry.available``; its ``name`` (the ``Channel`` protocol wants a ``Channel``
value) is the kind it stands in for, ``pager`` unless told otherwise.

Address: :data:`BROADCAST` sends to every configured URL (answer links are left out: they are
personal and single-use, and a shared room is not one person); an Apprise URL sends to that one
destination (a person's own, once the staff contact model holds one), links included.

Every message says it is a secondary alarm (``OutgoingMessage`` guarantees it of the body) and
carries what ``healthguard.notify.message`` composed: patient initials only, never a name.

Outcome of ``send`` (each destination in turn; all must accept):

========================================  ===============================================
what happened                             result
========================================  ===============================================
every destination accepted                sent
a destination answered 408, 429 or 5xx    failed, retryable
a destination answered another 4xx        failed, not retryable (configuration)
no connection / timeout / no HTTP status  failed, retryable
an address that is not an Apprise URL     failed, not retryable, permanent address problem
========================================  ===============================================

Apprise's log records (and urllib3's connection log, which quotes request paths at debug
level) go through a filter that replaces every part of a configured URL by ``***``; each
failure's reason is taken from Apprise's per-call result and cleaned with
:func:`~healthguard.notify.channels.base.safe_error` before it is stored or shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from healthguard.notify.channels.base import (
    ACTION_LABELS,
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    http_status_retryable,
    safe_error,
)

__all__ = ["BROADCAST", "AppriseChannel", "AppriseConfig", "apprise_text", "url_secrets"]

BROADCAST = "broadcast"

_STATUS = re.compile(r"error=(\d{3})\b")
_NOTIFY_TYPE = {
    "P0": apprise.NotifyType.FAILURE,
    "P1": apprise.NotifyType.FAILURE,
    "P2": apprise.NotifyType.WARNING,
    "P3": apprise.NotifyType.INFO,
    "P4": apprise.NotifyType.INFO,
}


@dataclass(frozen=True)
class AppriseConfig:
    """The hospital's destinations (Apprise URLs, secrets) and each one's timeout."""

    urls: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = 10.0


def url_secrets(url: str) -> list[str]:
    """Every part of an Apprise URL that may be a secret: the URL itself, and each user,
    password, host, path segment and query value (many services put a token in the host or
    the path, e.g. ``tgram://<bot token>/<chat id>``). Only the scheme is safe to show."""
    found = [url]
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return found
    userinfo, _, hostport = netloc.rpartition("@")
    pieces = [*re.split(r"[:@]", userinfo), hostport, *hostport.split(":")]
    pieces += parts.path.split("/")
    pieces += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    for piece in pieces:
        for text in (piece, unquote(piece)):
            if len(text) >= 3 and text not in found:
                found.append(text)
    # Longest first: a secret containing another is replaced whole.
    return sorted(found, key=len, reverse=True)


def apprise_text(message: OutgoingMessage, *, links: bool) -> tuple[str, str]:
    """``(title, body)`` for Apprise: ``[P1] <title>`` and the body (which states it is a
    secondary alarm), the answer links before the notice when ``links``."""
    title = f"[{message.priority}] {message.title}"
    shown = [(a, url) for a, url in message.links.items() if url not in message.body]
    if not links or not shown:
        return title, message.body
    main = message.main_body  # the body is main + the secondary-alarm notice, or states it
    notice = message.body[len(main) :].strip() if message.body.startswith(main) else ""
    lines = "\n".join(f"{ACTION_LABELS[action]}: {url}" for action, url in shown)
    return title, "\n\n".join(part for part in (main, lines, notice) if part)


class _RedactSecrets(logging.Filter):
    """Replaces every known Apprise URL secret in a log record by ``***`` (installed on the
    loggers that see the URLs: Apprise's own, and urllib3's connection log, which quotes
    request paths at debug level)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, secrets: Iterable[str]) -> None:
        known = set(self.secrets)
        fresh = [s for s in secrets if s and s not in known]
        if fresh:
            # Longest first: a secret containing another is replaced whole.
            self.secrets = sorted([*self.secrets, *fresh], key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.secrets
        if not secrets:
            return True
        text = record.getMessage()
        cleaned = text
        for secret in secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != text:
            record.msg, record.args = cleaned, ()
        return True


_REDACT = _RedactSecrets()
_URL_LOGGERS = ("apprise", "urllib3.connectionpool")


def _protect_logs(secrets: Iterable[str]) -> None:
    """Keep ``secrets`` out of every log record of the loggers that may quote a URL."""
    _REDACT.add(secrets)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


@dataclass(frozen=True)
class _Destination:
    number: int  # 1-based position in the configured list, for messages
    service: str  # "ntfy", "JSON", "Microsoft Teams"...
    url: str = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


class AppriseChannel:
    """Sends each message to the configured Apprise destinations (or one given URL)."""

    def __init__(self, config: AppriseConfig, *, name: ChannelKind = ChannelKind.PAGER):
        if config.timeout <= 0:
            raise ValueError("the Apprise timeout must be positive")
        self.name = name
        self.config = config
        destinations = []
        for number, url in enumerate(config.urls, start=1):
            _protect_logs(url_secrets(url))  # before Apprise parses (and may log) it
            plugin = self._instantiate(url)
            if plugin is None:
                raise ValueError(
                    f"HEALTHGUARD_APPRISE_URLS[{number - 1}] (scheme {_scheme(url)!r}) is not "
                    "a URL Apprise can use"
                )
            destinations.append(
                _Destination(number, str(plugin.service_name), url, tuple(url_secrets(url)))
            )
        self._destinations = tuple(destinations)

    def __repr__(self) -> str:
        return f"AppriseChannel({len(self._destinations)} destination(s))"

    @property
    def destinations(self) -> int:
        return len(self._destinations)

    def _instantiate(self, url: str) -> Any:
        """An Apprise service object for ``url`` with our timeouts (unless the URL sets its
        own ``cto`` / ``rto``); None when Apprise cannot use the URL."""
        plugin = apprise.Apprise.instantiate(url.strip())
        if plugin is None:
            return None
        query = dict(parse_qsl(urlsplit(url).query)) if "?" in url else {}
        if "cto" not in query:
            plugin.socket_connect_timeout = self.config.timeout
        if "rto" not in query:
            plugin.socket_read_timeout = self.config.timeout
        return plugin

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        address = message.address
        if not isinstance(address, str) or not address.strip():
            return DeliveryResult.failed(
                "Apprise address unusable: give a URL or 'broadcast'",
                retryable=False,
                permanent_address_problem=True,
            )
        if address == BROADCAST:
            if not self._destinations:
                return DeliveryResult.failed(
                    "No Apprise destination configured (HEALTHGUARD_APPRISE_URLS)",
                    retryable=False,
                )
            targets = self._destinations
            links = False
        else:
            _protect_logs(url_secrets(address))
            if self._instantiate(address) is None:
                return DeliveryResult.failed(
                    f"Apprise address unusable: scheme {_scheme(address)!r} is not a URL "
                    "Apprise can use",
                    retryable=False,
                    permanent_address_problem=True,
                    secrets=url_secrets(address),
                )
            targets = (_Destination(1, "", address, tuple(url_secrets(address))),)
            links = True
        title, body = apprise_text(message, links=links)
        notify_type = _NOTIFY_TYPE.get(message.priority, apprise.NotifyType.INFO)
        failures: list[tuple[str, bool]] = []
        for target in targets:
            problem = self._send_one(target, title, body, notify_type)
            if problem is not None:
                failures.append(problem)
        if not failures:
            return DeliveryResult.sent()
        secrets: list[str] = [s for t in targets for s in t.secrets]
        count = f"{len(failures)} of {len(targets)} Apprise destination(s) failed: "
        return DeliveryResult.failed(
            count + "; ".join(text for text, _ in failures),
            retryable=any(retryable for _, retryable in failures),
            secrets=secrets,
        )

    def _send_one(
        self, target: _Destination, title: str, body: str, notify_type: Any
    ) -> tuple[str, bool] | None:
        """None when the destination accepted; else (reason, retryable)."""
        where = f"destination {target.number}" + (f" ({target.service})" if target.service else "")
        plugin = self._instantiate(target.url)
        if plugin is None:  # checked at start-up; a per-person URL is checked by send
            return f"{where}: not a URL Apprise can use", False
        sender = apprise.Apprise()
        sender.add(plugin)
        try:
            result = sender.notify(
                body=body,
                title=title,
                notify_type=notify_type,
                body_format=apprise.NotifyFormat.TEXT,
                log_level=logging.WARNING,
            )
        except Exception as exc:  # a library bug must not stop the other destinations
            return f"{where}: {type(exc).__name__}", True
        if result:
            return None
        reasons = list(_reasons(result))
        status = next((int(m.group(1)) for r in reasons if (m := _STATUS.search(r))), None)
        retryable = True if status is None else http_status_retryable(status)
        reason = reasons[-1] if reasons else "not accepted"
        return safe_error(f"{where}: {reason}", target.secrets), retryable


def _reasons(result: Any) -> Iterable[str]:
    """The warning and error messages Apprise recorded for this call."""
    try:
        entries = list(result.logs())
    except (AttributeError, TypeError):
        return []
    return [
        str(entry.message)
        for entry in entries
        if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL")
    ]


def _scheme(url: str) -> str:
    head, sep, _ = url.strip().partition("://")
    return head.lower() if sep and head.isalnum() and len(head) <= 20 else "?"
