"""A generic JSON webhook, signed with HMAC-SHA256 (nurse-call middleware, communicator
platforms, a hospital's own integration engine).

``POST <url>`` with ``Content-Type: application/json`` and the body of
:func:`webhook_body`. Headers:

``X-HealthGuard-Timestamp``  Unix time in seconds when the request was signed.
``X-HealthGuard-Signature``  ``sha256=<hex>``: HMAC-SHA256 with the shared secret over
                             ``<timestamp>.<raw body>`` (the timestamp, a dot, the exact
                             bytes of the body).
``X-HealthGuard-Delivery``   the notification id (receivers use it to drop duplicates:
                             a retried notification is sent again with the same id).

A receiver recomputes the HMAC over the raw body it received, compares in constant time
and refuses a timestamp older than a few minutes (:func:`verify_signature` does all three).

The URL is the configured one; without one, the message's address is the URL (one webhook
per person or device). Outcome: 2xx sent; 408, 429 and 5xx retryable; other 3xx/4xx not
retryable (410 Gone on a per-person URL also sets ``permanent_address_problem``);
connection errors and timeouts retryable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from healthguard.notify.channels.base import (
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    http_status_retryable,
    http_url_host,
    message_payload,
)

SIGNATURE_HEADER = "X-HealthGuard-Signature"
TIMESTAMP_HEADER = "X-HealthGuard-Timestamp"
DELIVERY_HEADER = "X-HealthGuard-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300
MIN_SECRET_CHARS = 16


@dataclass(frozen=True)
class WebhookConfig:
    secret: str = field(repr=False)
    #: None: each message's address is its webhook URL.
    url: str | None = None
    timeout: float = 5.0
    verify_tls: bool = True


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>`` over ``<timestamp>.<body>``."""
    material = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), material, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks: a fresh timestamp and the signature, in constant time."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_body(message: OutgoingMessage, recipient: str | None, sent_at: int) -> bytes:
    """The JSON body: :func:`base.message_payload` plus the recipient and the send time."""
    payload: dict[str, Any] = message_payload(message)
    payload["recipient"] = recipient
    payload["sent_at"] = sent_at
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(secret: str, body: bytes, timestamp: int, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
    }


def _provider_id(response: httpx.Response) -> str | None:
    """An ``id`` the receiver returned in a small JSON object, if any."""
    if len(response.content) > 4096:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, Mapping) and isinstance(data.get("id"), str | int):
        return str(data["id"])[:200]
    return None


class WebhookChannel:
    """POSTs each message as signed JSON. ``name``: the Channel value it serves (PAGER by
    default: communicators reached through middleware that takes JSON)."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        name: ChannelKind = ChannelKind.PAGER,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ):
        if len(config.secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the webhook secret must have at least {MIN_SECRET_CHARS} characters")
        if config.url is not None and http_url_host(config.url) is None:
            raise ValueError("the webhook URL must start with http:// or https://")
        self.config = config
        self.name = name
        self._clock = clock
        self._transport = transport

    def _failed(self, error: str, *, retryable: bool, address: bool = False) -> DeliveryResult:
        return DeliveryResult.failed(
            error,
            retryable=retryable,
            permanent_address_problem=address,
            secrets=(self.config.secret,),
        )

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        cfg = self.config
        per_person = cfg.url is None
        address = message.address if isinstance(message.address, str) else None
        url = cfg.url or address
        host = http_url_host(url) if url else None
        if url is None or host is None:
            return self._failed(
                "Webhook address is not an http:// or https:// URL", retryable=False, address=True
            )
        timestamp = int(self._clock())
        body = webhook_body(message, None if per_person else address, timestamp)
        headers = signed_headers(cfg.secret, body, timestamp, str(message.notification_id))
        target = f"Webhook {host}"
        try:
            with httpx.Client(
                timeout=cfg.timeout, verify=cfg.verify_tls, transport=self._transport
            ) as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return self._failed(f"{target} did not answer within {cfg.timeout:g} s", retryable=True)
        except httpx.RequestError as exc:  # connection refused/reset, TLS, protocol errors
            return self._failed(
                f"Cannot reach {target}: {str(exc) or type(exc).__name__}", retryable=True
            )
        except httpx.InvalidURL as exc:
            return self._failed(
                f"Webhook URL is invalid: {exc}", retryable=False, address=per_person
            )
        if response.is_success:
            return DeliveryResult.sent(_provider_id(response))
        code = response.status_code
        return self._failed(
            f"{target} answered HTTP {code} {response.reason_phrase}".strip(),
            retryable=http_status_retryable(code),
            address=per_person and code == 410,
        )
