"""Web Push (RFC 8030) with VAPID (RFC 8292) through ``pywebpush``: notifications on the
phones and browsers of staff who allowed them, even with HealthGuard's page closed.

The payload is encrypted for the subscription (RFC 8291, ``Content-Encoding: aes128gcm``)
and signed with the hospital's VAPID key; the subscription's push service (Google, Mozilla,
Apple...) delivers it to the service worker, which shows it. Payload (JSON)::

    {"title": "P1 Emergency: Ward 3, bed 12", "body": "...", "priority": "P1",
     "incident_id": "...", "notification_id": "...", "tag": "incident-<id>",
     "requireInteraction": true, "renotify": true, "secondary_alarm": true, "open": "/my",
     "receipt": "<push receipt token>",
     "actions": [{"action": "ack", "title": "Acknowledge", "url": "https://.../answer?token=..."},
                 ...]}

The title carries the priority (``[P1]`` is prefixed unless it already starts with it); the
body is the message's (patient initials only, it states it is a secondary alarm) without
the answer-link lines an e-mail shows, since the links are the ``actions``: the service
worker (``assets/sw.js``) posts an action's single-use token to ``POST /answer`` and shows
what became of it. ``receipt`` (``healthguard.notify.push_receipts``) lets the service
worker report that the message reached the device; ``open`` is the page a tap on the body
opens. ``requireInteraction`` is true for P0/P1 (the notification stays until touched);
``tag`` is per incident (a newer notification for the same incident replaces the older one)
and ``renotify`` makes the replacement ring again. Headers:
``TTL`` per priority (how long the push service keeps it for an offline device; see
:data:`DEFAULT_TTL_SECONDS`), ``Urgency`` high for P0/P1, normal for P2, low for P3/P4, and
``Topic`` per incident (an undelivered older message for the incident is replaced).

Outcome: 201/202 (any 2xx) sent, provider id = the ``Location`` of the push message; 404 and
410 failed with ``permanent_address_problem`` (the subscription is gone: delete it); 408, 429
and 5xx retryable; other 4xx not retryable (400 bad request, 401/403 VAPID refused, 413 too
large); connection errors and timeouts retryable; a malformed stored subscription is failed,
not retryable, with ``permanent_address_problem``.

Set-up: :func:`generate_vapid_keys` gives the private key (for the server's settings) and
the public ``applicationServerKey`` (for ``pushManager.subscribe`` in the browser).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import http_ece
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush

from healthguard.notify.channels.base import (
    ACTION_LABELS,
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    Priority,
    http_status_retryable,
)

#: Seconds the push service keeps an undelivered message, per priority. Short for the
#: urgent ones: by the time a phone that was off for longer comes back, escalation has
#: moved on, and a stale cardiac-arrest call on a lock screen does more harm than good.
DEFAULT_TTL_SECONDS: dict[str, int] = {
    "P0": 600,
    "P1": 900,
    "P2": 1800,
    "P3": 3600,
    "P4": 14400,
}
URGENCY: dict[str, str] = {"P0": "high", "P1": "high", "P2": "normal", "P3": "low", "P4": "low"}
#: Push services accept about 4 KiB of encrypted payload; stay well below it.
MAX_PAYLOAD_BYTES = 3000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebPushConfig:
    #: The VAPID private key: a PEM (PKCS#8 or SEC1), or base64url of the raw 32-byte key
    #: or of the DER (what ``vapid --gen`` and :func:`generate_vapid_keys` give).
    vapid_private_key: str = field(repr=False)
    #: Contact for the push services: ``mailto:ops@hospital.example`` or an https URL.
    vapid_subject: str
    timeout: float = 10.0
    #: Overrides of :data:`DEFAULT_TTL_SECONDS`.
    ttl_seconds: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VapidKeyPair:
    private_key_pem: str = field(repr=False)
    #: base64url (no padding) of the raw 32-byte private key; fits an environment variable.
    private_key_b64: str = field(repr=False)
    #: base64url of the uncompressed public point: the browser's ``applicationServerKey``.
    public_key_b64: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_vapid_keys() -> VapidKeyPair:
    """A new VAPID key pair (P-256), for the set-up docs::

        python -c "from healthguard.notify.channels.webpush import generate_vapid_keys as g; \\
            k = g(); print('HEALTHGUARD_VAPID_PRIVATE_KEY=' + k.private_key_b64); \\
            print('applicationServerKey: ' + k.public_key_b64)"
    """
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeyPair(pem, _b64url(raw), _b64url(public))


def load_vapid_key(private_key: str) -> Vapid:
    """A py-vapid signer from a PEM or base64url private key; ``ValueError`` if unusable."""
    text = private_key.strip()
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("not a P-256 (prime256v1) elliptic-curve key")
            return Vapid(key)
        vapid = Vapid.from_string(text)
    except (ValueError, TypeError, binascii.Error, VapidException, UnicodeError) as exc:
        raise ValueError(f"the VAPID private key cannot be read: {exc}") from None
    if vapid.private_key.curve.name != "secp256r1":
        raise ValueError("the VAPID private key is not a P-256 key")
    return vapid


def public_key_b64(vapid: Vapid) -> str:
    """The ``applicationServerKey`` of a loaded VAPID key."""
    return _b64url(
        vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


#: The page a tap on the notification's body opens (the phone's "my alarms" view).
OPEN_PATH = "/my"


def _push_title(message: OutgoingMessage) -> str:
    if message.title.startswith(message.priority):
        return message.title  # "P1 Emergency: Ward 3, bed 12"
    return f"[{message.priority}] {message.title}"


def _push_body(message: OutgoingMessage) -> str:
    """The body without the lines that spell out the answer links (they are the actions)."""
    urls = [url for _, url in message.links.items()]
    lines = [line for line in message.body.splitlines() if not any(u in line for u in urls)]
    return "\n".join(lines).strip()


def push_payload(message: OutgoingMessage, *, receipt: str | None = None) -> dict[str, Any]:
    """The JSON object the service worker receives (see the module docstring). ``receipt``:
    the push receipt token of the notification (``push_receipts.receipt_token``)."""
    payload: dict[str, Any] = {
        "title": _push_title(message),
        "body": _push_body(message),
        "priority": message.priority,
        "incident_id": str(message.incident_id),
        "notification_id": str(message.notification_id),
        "tag": f"incident-{message.incident_id}",
        "requireInteraction": message.priority in ("P0", "P1"),
        "renotify": True,
        "secondary_alarm": True,
        "open": OPEN_PATH,
        "actions": [
            {"action": action, "title": ACTION_LABELS[action], "url": url}
            for action, url in message.links.items()
        ],
    }
    if receipt is not None:
        payload["receipt"] = receipt
    encoded = _encode(payload)
    if len(encoded) > MAX_PAYLOAD_BYTES:
        # Keep everything but the body, which falls back to the short text (it carries the
        # secondary-alarm notice too).
        payload["body"] = message.short_text
    return payload


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def push_headers(priority: Priority, incident_topic: str) -> dict[str, str | int | float]:
    return {"Urgency": URGENCY[priority], "Topic": incident_topic}


def _subscription_problem(address: object) -> str | None:
    if not isinstance(address, Mapping):
        return "a push subscription is an object with endpoint and keys"
    endpoint = address.get("endpoint")
    keys = address.get("keys")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return "the push subscription has no http(s) endpoint"
    if not isinstance(keys, Mapping):
        return "the push subscription has no keys"
    decoded: dict[str, bytes] = {}
    for name in ("p256dh", "auth"):
        value = keys.get(name)
        if not isinstance(value, str) or not value:
            return f"the push subscription has no {name} key"
        try:
            decoded[name] = _strict_b64url(value)
        except (binascii.Error, ValueError):
            return f"the push subscription's {name} key is not base64url"
    if len(decoded["auth"]) != 16:
        return "the push subscription's auth secret is not 16 bytes"
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decoded["p256dh"])
    except ValueError:
        return "the push subscription's p256dh key is not a P-256 public key"
    return None


def _strict_b64url(text: str) -> bytes:
    """base64url (padding optional); any other character is an error."""
    standard = text.strip().rstrip("=").translate(str.maketrans("-_", "+/"))
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


class WebPushChannel:
    """Encrypts and posts each message to the person's push subscription."""

    name = ChannelKind.PUSH

    def __init__(
        self,
        config: WebPushConfig,
        *,
        session: requests.Session | None = None,
        receipt_token: Callable[[uuid.UUID], str] | None = None,
    ):
        self._vapid = load_vapid_key(config.vapid_private_key)
        subject = config.vapid_subject.strip()
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: address or an https:// URL")
        unknown = set(config.ttl_seconds) - set(DEFAULT_TTL_SECONDS)
        if unknown:
            raise ValueError(f"TTL given for unknown priorities: {', '.join(sorted(unknown))}")
        self.config = config
        self.public_key = public_key_b64(self._vapid)
        self._ttl = {**DEFAULT_TTL_SECONDS, **config.ttl_seconds}
        self._session = session
        self._receipt_token = receipt_token

    def _receipt(self, notification_id: uuid.UUID) -> str | None:
        """The receipt token, or None when it cannot be signed (no secret key): the alarm
        goes out anyway, only its arrival is not reported back."""
        if self._receipt_token is not None:
            return self._receipt_token(notification_id)
        from healthguard.notify.push_receipts import receipt_token

        try:
            return receipt_token(notification_id)
        except Exception:  # never hold an alarm back for its receipt
            log.warning("push receipt token not signed", exc_info=True)
            return None

    def ttl_for(self, priority: Priority) -> int:
        return self._ttl[priority]

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        address = message.address
        problem = _subscription_problem(address)
        if problem is not None or not isinstance(address, Mapping):
            return DeliveryResult.failed(
                f"Push subscription unusable: {problem}",
                retryable=False,
                permanent_address_problem=True,
            )
        subscription = dict(address)
        host = urlsplit(subscription["endpoint"]).hostname or "push service"
        service = f"Push service {host}"
        try:
            response = webpush(
                subscription_info=subscription,
                data=_encode(
                    push_payload(message, receipt=self._receipt(message.notification_id))
                ).decode("utf-8"),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self.config.vapid_subject.strip()},
                ttl=self.ttl_for(message.priority),
                timeout=self.config.timeout,
                headers=push_headers(message.priority, message.incident_id.hex),
                requests_session=self._session,
            )
        except WebPushException as exc:
            code = exc.status_code
            if code is None:  # raised before anything was sent: the subscription is bad
                return DeliveryResult.failed(
                    f"Push subscription unusable: {exc.message}",
                    retryable=False,
                    permanent_address_problem=True,
                )
            gone = code in (404, 410)
            hint = ""
            if gone:
                hint = ": the subscription has expired or was removed"
            elif code in (401, 403):
                hint = ": the push service refused our VAPID signature (check the VAPID key)"
            return DeliveryResult.failed(
                f"{service} answered HTTP {code}{hint}",
                retryable=http_status_retryable(code),
                permanent_address_problem=gone,
            )
        except requests.Timeout:
            return DeliveryResult.failed(
                f"{service} did not answer within {self.config.timeout:g} s", retryable=True
            )
        except requests.ConnectionError as exc:
            return DeliveryResult.failed(
                f"Cannot reach {service}: {type(exc).__name__}", retryable=True
            )
        except requests.RequestException as exc:
            return DeliveryResult.failed(
                f"Request to {service} failed: {type(exc).__name__}", retryable=True
            )
        except (ValueError, http_ece.ECEException) as exc:  # keys that are not a P-256 point
            return DeliveryResult.failed(
                f"Push subscription unusable: {exc}",
                retryable=False,
                permanent_address_problem=True,
            )
        if isinstance(response, str):  # only with curl=True, which we never ask for
            raise TypeError("pywebpush returned a curl command instead of a response")
        location = response.headers.get("Location")
        return DeliveryResult.sent(location[:500] if location else None)
