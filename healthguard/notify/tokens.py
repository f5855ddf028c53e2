"""Signed, single-use, short-lived answer links ("acknowledge", "escalate", "decline").

Pure: no I/O, no clock (``now`` is passed in), no global randomness (``random_bytes``,
``os.urandom`` in production). An email (or any message with room for a link) carries
``https://<host>/a/<token>``; the answer page shows what the link will do and redeems it on
a POST (a GET never spends a token: mail scanners and link previews open links).

Token format, version 1: the URL-safe base64 (no padding) of 63 bytes, 84 characters::

    version   1 byte   = 1
    action    1 byte   1 acknowledge, 2 escalate, 3 decline
    expires   4 bytes  unix seconds, big-endian (unsigned: until 2106)
    incident 16 bytes  UUID
    staff    16 bytes  UUID
    jti       9 bytes  random token id (the single-use key)
    mac      16 bytes  HMAC-SHA256(secret, "healthguard/answer-link\\0" + the 47 bytes above),
                       truncated to 128 bits, compared in constant time

Verification order: malformed (not base64url of 63 bytes) -> wrong version -> bad signature
(forged or tampered, including a changed action) -> expired (``now >= expires``). Key
rotation: ``issue`` signs with one secret (the first of the list in settings); ``verify`` and
``redeem`` accept a list and try each (old keys keep working until their links expire).
Secrets are at least 32 bytes.

Single use: ``redeem`` verifies, then calls ``used.mark_used(jti, until=expires_at)``, which
the adapter implements atomically (Redis ``SET answer-link:<jti> 1 NX EXAT <until>``, or an
insert into a table with a unique jti); False means it was used already: "already used". The
token is spent even if the action is then refused (say, someone else acknowledged first).

TTL (``DEFAULT_TTL``): 15 min for P0/P1, 30 min for P2, 2 h for P3/P4; at most 4 h
(``MAX_TTL``), at least 1 min. A link must survive a slow SMS or email and a minute at the
bedside, but must not outlive the shift of the person it was sent to; an expired link names
the incident so the page can send the person to it in the app.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from healthguard.incidents.priority import validate_priority

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_SECRET_BYTES",
    "MIN_TTL",
    "TOKEN_LENGTH",
    "VERSION",
    "AnswerAction",
    "RefusalReason",
    "TokenRefusal",
    "UsedTokens",
    "VerifiedToken",
    "default_ttl",
    "issue",
    "redeem",
    "verify",
]

VERSION = 1
MIN_SECRET_BYTES = 32
MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(hours=4)
DEFAULT_TTL: dict[str, timedelta] = {
    "P0": timedelta(minutes=15),
    "P1": timedelta(minutes=15),
    "P2": timedelta(minutes=30),
    "P3": timedelta(hours=2),
    "P4": timedelta(hours=2),
}

_CONTEXT = b"healthguard/answer-link\x00"
_HEAD = struct.Struct(">BBI16s16s9s")  # version, action, expires, incident, staff, jti
_MAC_BYTES = 16
_RAW_BYTES = _HEAD.size + _MAC_BYTES  # 63
TOKEN_LENGTH = (_RAW_BYTES * 4 + 2) // 3  # 84
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class AnswerAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    DECLINE = "decline"


_ACTION_CODES: dict[AnswerAction, int] = {
    AnswerAction.ACKNOWLEDGE: 1,
    AnswerAction.ESCALATE: 2,
    AnswerAction.DECLINE: 3,
}
_ACTIONS_BY_CODE = {code: action for action, code in _ACTION_CODES.items()}


class RefusalReason(StrEnum):
    MALFORMED = "malformed"
    WRONG_VERSION = "wrong_version"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"


_MESSAGES: dict[RefusalReason, str] = {
    RefusalReason.MALFORMED: "This link is incomplete or damaged. Open HealthGuard to answer.",
    RefusalReason.WRONG_VERSION: "This link is from another version. Open HealthGuard to answer.",
    RefusalReason.BAD_SIGNATURE: "This link is not valid. Open HealthGuard to answer.",
    RefusalReason.EXPIRED: "This link has expired. Open HealthGuard to answer.",
    RefusalReason.ALREADY_USED: "This link was already used. Open HealthGuard to see the incident.",
}


@dataclass(frozen=True)
class VerifiedToken:
    version: int
    action: AnswerAction
    incident_id: uuid.UUID
    staff_id: uuid.UUID
    jti: str  # hex, 18 characters
    expires_at: datetime  # UTC
    key_index: int  # which secret of the list verified it (0: the current one)


@dataclass(frozen=True)
class TokenRefusal:
    reason: RefusalReason
    message: str  # for the person who opened the link
    incident_id: uuid.UUID | None = None  # set for expired and already used (authentic links)


class UsedTokens(Protocol):
    """The single-use store (Redis SET NX EXAT, or a table with a unique jti)."""

    def mark_used(self, jti: str, until: datetime) -> bool:
        """Record ``jti`` as used until ``until``; False if it was already recorded."""
        ...


def default_ttl(priority: str) -> timedelta:
    return DEFAULT_TTL[validate_priority(priority)]


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a token secret must be at least {MIN_SECRET_BYTES} bytes")


def _mac(secret: bytes, head: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + head, hashlib.sha256).digest()[:_MAC_BYTES]


def _uuid(name: str, value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a UUID") from None


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _sign(secret: bytes, head: bytes) -> str:
    return _encode(head + _mac(secret, head))


def issue(
    secret: bytes,
    incident_id: uuid.UUID | str,
    staff_id: uuid.UUID | str,
    action: AnswerAction | str,
    now: datetime,
    ttl: timedelta,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> str:
    """A token for ``staff_id`` to take ``action`` on ``incident_id`` until ``now + ttl``."""
    _check_secret(secret)
    _require_aware("now", now)
    answer = AnswerAction(action)
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise ValueError(f"ttl must be between {MIN_TTL} and {MAX_TTL}")
    expires = int((now + ttl).timestamp())
    if not 0 < expires < 2**32:
        raise ValueError("the expiry does not fit the token format")
    jti = random_bytes(9)
    if not isinstance(jti, bytes) or len(jti) != 9:
        raise ValueError("random_bytes(9) must return 9 bytes")
    head = _HEAD.pack(
        VERSION,
        _ACTION_CODES[answer],
        expires,
        _uuid("incident_id", incident_id).bytes,
        _uuid("staff_id", staff_id).bytes,
        jti,
    )
    return _sign(secret, head)


def _secret_list(secrets: bytes | Sequence[bytes]) -> tuple[bytes, ...]:
    keys = (secrets,) if isinstance(secrets, bytes) else tuple(secrets)
    if not keys:
        raise ValueError("at least one secret is needed")
    for key in keys:
        _check_secret(key)
    return keys


def _refuse(reason: RefusalReason, incident_id: uuid.UUID | None = None) -> TokenRefusal:
    return TokenRefusal(reason, _MESSAGES[reason], incident_id)


def verify(
    secrets: bytes | Sequence[bytes], token: str, now: datetime
) -> VerifiedToken | TokenRefusal:
    """Check a token's shape, version, signature (any of ``secrets``) and expiry."""
    keys = _secret_list(secrets)
    _require_aware("now", now)
    text = token.strip() if isinstance(token, str) else ""
    if len(text) != TOKEN_LENGTH or not _ALPHABET.fullmatch(text):
        return _refuse(RefusalReason.MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return _refuse(RefusalReason.MALFORMED)
    if len(raw) != _RAW_BYTES:
        return _refuse(RefusalReason.MALFORMED)
    head, mac = raw[: _HEAD.size], raw[_HEAD.size :]
    version, action_code, expires, incident, staff, jti = _HEAD.unpack(head)
    if version != VERSION:
        return _refuse(RefusalReason.WRONG_VERSION)
    key_index = -1
    for index, key in enumerate(keys):
        if hmac.compare_digest(_mac(key, head), mac):
            key_index = index
            break
    if key_index < 0:
        return _refuse(RefusalReason.BAD_SIGNATURE)
    action = _ACTIONS_BY_CODE.get(action_code)
    if action is None:  # signed by us, so only a bug could get here
        return _refuse(RefusalReason.MALFORMED)
    incident_id = uuid.UUID(bytes=incident)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        return _refuse(RefusalReason.EXPIRED, incident_id)
    return VerifiedToken(
        version=version,
        action=action,
        incident_id=incident_id,
        staff_id=uuid.UUID(bytes=staff),
        jti=jti.hex(),
        expires_at=expires_at,
        key_index=key_index,
    )


def redeem(
    secrets: bytes | Sequence[bytes], token: str, now: datetime, used: UsedTokens
) -> VerifiedToken | TokenRefusal:
    """``verify``, then spend the token; a second redeem is refused as already used."""
    result = verify(secrets, token, now)
    if isinstance(result, TokenRefusal):
        return result
    if not used.mark_used(result.jti, result.expires_at):
        return _refuse(RefusalReason.ALREADY_USED, result.incident_id)
    return result
