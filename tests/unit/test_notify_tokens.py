"""Answer links (healthguard.notify.tokens): round trip, forgery, tampering, expiry, wrong
version, replay through a tiny in-memory single-use store, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from healthguard.notify import tokens
from healthguard.notify.tokens import (
    DEFAULT_TTL,
    MAX_TTL,
    TOKEN_LENGTH,
    AnswerAction,
    RefusalReason,
    TokenRefusal,
    VerifiedToken,
    default_ttl,
    issue,
    redeem,
    verify,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 2, 3, 3, 0, tzinfo=UTC)
KEY = b"k" * 32
OLD_KEY = b"o" * 32
OTHER_KEY = b"x" * 32
INCIDENT = uuid.UUID("7b0f6f1e-3d1c-4a55-9d7e-0c6f0a1b2c3d")
STAFF = uuid.UUID("0d7c1a2b-9e8f-4a3b-8c2d-1e0f9a8b7c6d")
TTL = timedelta(minutes=15)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class MemoryUsedTokens:
    """The single-use store as the adapter would implement it (SET NX EX)."""

    def __init__(self) -> None:
        self.used: dict[str, datetime] = {}

    def mark_used(self, jti: str, until: datetime) -> bool:
        if jti in self.used:
            return False
        self.used[jti] = until
        return True


def fixed_bytes(n: int) -> bytes:
    return bytes(range(1, n + 1))


def token(action: AnswerAction | str = "acknowledge", key: bytes = KEY) -> str:
    return issue(key, INCIDENT, STAFF, action, NOW, TTL, random_bytes=fixed_bytes)


def raw(text: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def encode(data: bytes | bytearray) -> str:
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def resign(data: bytes | bytearray, key: bytes) -> str:
    """What someone holding ``key`` could make: the 47-byte head with a fresh MAC."""
    head = bytes(data[:47])
    mac = hmac.new(key, b"healthguard/answer-link\x00" + head, hashlib.sha256).digest()[:16]
    return encode(head + mac)


def refusal(result: VerifiedToken | TokenRefusal) -> RefusalReason:
    assert isinstance(result, TokenRefusal), result
    return result.reason


@pytest.mark.parametrize("action", list(AnswerAction))
def test_round_trip(action: AnswerAction) -> None:
    text = token(action)
    assert len(text) == TOKEN_LENGTH == 84
    assert re.fullmatch(r"[A-Za-z0-9_-]+", text)  # URL-safe, no padding
    result = verify(KEY, text, NOW)
    assert isinstance(result, VerifiedToken)
    assert result.action is action
    assert result.incident_id == INCIDENT
    assert result.staff_id == STAFF
    assert result.version == 1
    assert result.jti == fixed_bytes(9).hex()
    assert result.expires_at == NOW + TTL
    assert result.key_index == 0


def test_string_ids_and_the_system_random_source() -> None:
    first = issue(KEY, str(INCIDENT), str(STAFF), "decline", NOW, TTL)
    second = issue(KEY, str(INCIDENT), str(STAFF), "decline", NOW, TTL)
    assert first != second  # a fresh jti each time
    one, two = verify(KEY, first, NOW), verify(KEY, second, NOW)
    assert isinstance(one, VerifiedToken) and isinstance(two, VerifiedToken)
    assert one.jti != two.jti
    assert one.incident_id == INCIDENT


def test_every_single_character_change_is_refused() -> None:
    text = token()
    for i, char in enumerate(text):
        for other in (
            ALPHABET[(ALPHABET.index(char) + 1) % 64],
            ALPHABET[ALPHABET.index(char) - 7],
        ):
            forged = text[:i] + other + text[i + 1 :]
            reason = refusal(verify(KEY, forged, NOW))
            # The first two characters hold the version byte; everything else is signed.
            if i >= 2:
                assert reason is RefusalReason.BAD_SIGNATURE, (i, forged)
            else:
                assert reason in (RefusalReason.WRONG_VERSION, RefusalReason.BAD_SIGNATURE)


def test_every_single_byte_change_is_refused() -> None:
    original = raw(token())
    for i in range(len(original)):
        changed = bytearray(original)
        changed[i] ^= 0x01
        assert isinstance(verify(KEY, encode(changed), NOW), TokenRefusal), i


def test_a_token_signed_with_another_key_is_forged() -> None:
    assert refusal(verify(KEY, token(key=OTHER_KEY), NOW)) is RefusalReason.BAD_SIGNATURE


def test_a_tampered_action_is_refused() -> None:
    data = raw(token("decline"))
    assert data[1] == 3
    data[1] = 1  # decline -> acknowledge, keeping the original MAC
    assert refusal(verify(KEY, encode(data), NOW)) is RefusalReason.BAD_SIGNATURE
    # ... or re-signed by someone without our key.
    assert refusal(verify(KEY, resign(data, OTHER_KEY), NOW)) is RefusalReason.BAD_SIGNATURE


def test_tampered_ids_and_expiry_are_refused() -> None:
    for offset in (2, 6, 22, 38):  # expires, incident, staff, jti
        data = raw(token())
        data[offset] ^= 0xFF
        assert refusal(verify(KEY, encode(data), NOW)) is RefusalReason.BAD_SIGNATURE


def test_expiry() -> None:
    text = token()
    assert isinstance(verify(KEY, text, NOW + TTL - timedelta(seconds=1)), VerifiedToken)
    result = verify(KEY, text, NOW + TTL)
    assert refusal(result) is RefusalReason.EXPIRED
    assert isinstance(result, TokenRefusal)
    assert result.incident_id == INCIDENT  # an authentic link: the page can point to it
    assert refusal(verify(KEY, text, NOW + timedelta(days=3))) is RefusalReason.EXPIRED


def test_an_expired_forgery_is_forged_not_expired() -> None:
    data = raw(token())
    data[10] ^= 0x01
    assert refusal(verify(KEY, encode(data), NOW + timedelta(days=1))) is (
        RefusalReason.BAD_SIGNATURE
    )


def test_wrong_version() -> None:
    data = raw(token())
    data[0] = 2
    assert refusal(verify(KEY, resign(data, KEY), NOW)) is RefusalReason.WRONG_VERSION
    data[0] = 0
    assert refusal(verify(KEY, encode(data), NOW)) is RefusalReason.WRONG_VERSION


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "A" * 83,
        "A" * 85,
        "A" * 83 + "=",
        "A" * 83 + "+",
        "A" * 83 + "/",
        "A" * 82 + "é",
        "A" * 40 + " " + "A" * 43,
    ],
)
def test_malformed(bad: str) -> None:
    result = verify(KEY, bad, NOW)
    assert refusal(result) is RefusalReason.MALFORMED
    assert isinstance(result, TokenRefusal)
    assert result.message and result.incident_id is None


def test_not_a_string_is_malformed() -> None:
    assert refusal(verify(KEY, None, NOW)) is RefusalReason.MALFORMED  # type: ignore[arg-type]


def test_surrounding_whitespace_is_tolerated() -> None:
    assert isinstance(verify(KEY, f"  {token()}\n", NOW), VerifiedToken)


def test_replay_is_refused() -> None:
    used = MemoryUsedTokens()
    text = token()
    first = redeem([KEY], text, NOW, used)
    assert isinstance(first, VerifiedToken)
    assert used.used == {first.jti: first.expires_at}  # kept exactly as long as it is valid
    second = redeem([KEY], text, NOW + timedelta(seconds=5), used)
    assert refusal(second) is RefusalReason.ALREADY_USED
    assert isinstance(second, TokenRefusal)
    assert second.incident_id == INCIDENT
    assert "already used" in second.message


def test_each_token_is_single_use_on_its_own() -> None:
    used = MemoryUsedTokens()
    ack = issue(KEY, INCIDENT, STAFF, "acknowledge", NOW, TTL)
    decline = issue(KEY, INCIDENT, STAFF, "decline", NOW, TTL)
    assert isinstance(redeem(KEY, ack, NOW, used), VerifiedToken)
    assert isinstance(redeem(KEY, decline, NOW, used), VerifiedToken)
    assert refusal(redeem(KEY, ack, NOW, used)) is RefusalReason.ALREADY_USED


def test_a_refused_token_is_not_spent() -> None:
    used = MemoryUsedTokens()
    text = token()
    assert refusal(redeem(KEY, text, NOW + TTL, used)) is RefusalReason.EXPIRED
    assert refusal(redeem(OTHER_KEY, text, NOW, used)) is RefusalReason.BAD_SIGNATURE
    assert used.used == {}


def test_key_rotation() -> None:
    old = token(key=OLD_KEY)
    new = token(key=KEY)
    both = [KEY, OLD_KEY]
    verified_old = verify(both, old, NOW)
    assert isinstance(verified_old, VerifiedToken) and verified_old.key_index == 1
    verified_new = verify(both, new, NOW)
    assert isinstance(verified_new, VerifiedToken) and verified_new.key_index == 0
    # Once the old key is retired its links stop working.
    assert refusal(verify([KEY], old, NOW)) is RefusalReason.BAD_SIGNATURE
    assert isinstance(redeem(both, old, NOW, MemoryUsedTokens()), VerifiedToken)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    assert isinstance(verify([OTHER_KEY, KEY], token(), NOW), VerifiedToken)
    assert len(calls) == 2


def test_default_ttls() -> None:
    assert default_ttl("P0") == default_ttl("P1") == timedelta(minutes=15)
    assert default_ttl("P2") == timedelta(minutes=30)
    assert default_ttl("P3") == default_ttl("P4") == timedelta(hours=2)
    assert all(ttl <= MAX_TTL for ttl in DEFAULT_TTL.values())
    assert timedelta(hours=8) >= MAX_TTL  # never outlives a shift


def test_the_payload_layout() -> None:
    data = raw(token("escalate"))
    version, action, expires = struct.unpack(">BBI", bytes(data[:6]))
    assert (version, action) == (1, 2)
    assert expires == int((NOW + TTL).timestamp())
    assert bytes(data[6:22]) == INCIDENT.bytes
    assert bytes(data[22:38]) == STAFF.bytes


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"ttl": timedelta(seconds=59)},
        {"ttl": MAX_TTL + timedelta(seconds=1)},
        {"now": datetime(2026, 2, 3, 3, 0)},
        {"incident_id": "not-a-uuid"},
        {"action": "resolve"},
    ],
)
def test_issue_refuses_bad_input(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "secret": KEY,
        "incident_id": INCIDENT,
        "staff_id": STAFF,
        "action": "acknowledge",
        "now": NOW,
        "ttl": TTL,
    } | kwargs
    with pytest.raises(ValueError):
        issue(**args)  # type: ignore[arg-type]


def test_a_broken_random_source_is_refused() -> None:
    with pytest.raises(ValueError):
        issue(KEY, INCIDENT, STAFF, "acknowledge", NOW, TTL, random_bytes=lambda n: b"x")


def test_verify_needs_real_secrets() -> None:
    with pytest.raises(ValueError):
        verify([], token(), NOW)
    with pytest.raises(ValueError):
        verify([KEY, b"short"], token(), NOW)
    with pytest.raises(ValueError):
        verify(KEY, token(), datetime(2026, 2, 3))
