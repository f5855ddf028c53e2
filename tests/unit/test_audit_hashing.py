"""The audit log's canonical encoding, hashing and secrets guard (pure functions)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from healthguard.security.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditEntry,
    ChainReport,
    canonical_datetime,
    is_secret_key,
    redact_details,
)

pytestmark = pytest.mark.unit

AT = datetime(2030, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def entry(**changes: Any) -> AuditEntry:
    base = AuditEntry(
        prev_hash=GENESIS_HASH,
        at=AT,
        actor="nurse.ada",
        action="patient.read",
        record_type="patient",
        record_id="5f1c",
        ip="10.0.0.7",
        user_agent="Mozilla/5.0",
        outcome="success",
        details={"ward": "A1", "fields": ["name", "mrn"]},
    )
    return dataclasses.replace(base, **changes)


def test_same_input_gives_the_same_hash() -> None:
    assert entry().digest() == entry().digest()
    assert len(entry().digest()) == 64
    assert int(entry().digest(), 16) >= 0


def test_canonical_form_is_sorted_compact_json_with_utc_microseconds() -> None:
    document = json.loads(entry().canonical())
    assert document["at"] == "2030-06-01T12:00:00.123456Z"
    assert list(document) == sorted(document)
    assert b" " not in entry(user_agent="x", details={}).canonical()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prev_hash", "f" * 64),
        ("at", AT + timedelta(microseconds=1)),
        ("actor", "nurse.bob"),
        ("action", "vitals.read"),
        ("record_type", "incident"),
        ("record_id", "5f1d"),
        ("record_id", None),
        ("ip", "10.0.0.8"),
        ("ip", None),
        ("user_agent", "curl/8"),
        ("user_agent", None),
        ("outcome", "denied"),
        ("details", {"ward": "A2", "fields": ["name", "mrn"]}),
        ("details", {"ward": "A1", "fields": ["mrn", "name"]}),
        ("details", {"ward": "A1", "fields": ["name", "mrn"], "extra": None}),
        ("details", {}),
    ],
)
def test_any_field_change_changes_the_hash(field: str, value: Any) -> None:
    assert entry(**{field: value}).digest() != entry().digest()


def test_null_and_empty_string_hash_differently() -> None:
    assert entry(record_id=None).digest() != entry(record_id="").digest()


def test_key_order_in_details_does_not_matter() -> None:
    a = entry(details={"a": 1, "b": {"x": 1, "y": 2}})
    b = entry(details={"b": {"y": 2, "x": 1}, "a": 1})
    assert a.digest() == b.digest()


def test_the_same_instant_in_another_time_zone_hashes_the_same() -> None:
    paris = AT.astimezone(timezone(timedelta(hours=2)))
    assert entry(at=paris).digest() == entry().digest()


def test_integral_floats_hash_like_the_integers_jsonb_gives_back() -> None:
    assert entry(details={"n": 2.0}).digest() == entry(details={"n": 2}).digest()
    assert entry(details={"n": 1e20}).digest() == entry(details={"n": 10**20}).digest()
    assert entry(details={"n": 0.1}).digest() != entry(details={"n": 0.2}).digest()


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_datetime(datetime(2030, 6, 1, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        entry(at=datetime(2030, 6, 1, 12, 0)).digest()


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "new_password",
        "passwd",
        "token",
        "access_token",
        "refreshToken",
        "api_key",
        "apiKey",
        "X-API-Key",
        "secret",
        "client_secret",
        "totp_secret",
        "otp",
        "totp_code",
        "authorization",
        "cookie",
        "private_key",
        "credentials",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "token_type",
        "token_family",
        "token_id",
        "apikey_id",
        "api_key_prefix",
        "api_key_scopes",
        "reason",
        "ward",
        "username",
        "footprint",
        "outcome",
    ],
)
def test_keys_about_a_secret_are_kept(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_details_drops_secrets_at_any_depth_and_says_so() -> None:
    clean = redact_details(
        {
            "password": "hunter2",
            "reason": "bad password",
            "client": {"refresh_token": "abc", "name": "gateway"},
            "attempts": [{"otp": "123456", "at": "t"}],
            "token_type": "bearer",
        }
    )
    assert clean == {
        "reason": "bad password",
        "client": {"name": "gateway"},
        "attempts": [{"at": "t"}],
        "token_type": "bearer",
        "_redacted": ["attempts[0].otp", "client.refresh_token", "password"],
    }
    assert "hunter2" not in json.dumps(clean)


def test_redact_details_leaves_clean_details_alone() -> None:
    assert redact_details({"ward": "A1"}) == {"ward": "A1"}


def test_action_catalogue_lists_the_issue_actions() -> None:
    names = {a.value for a in AuditAction}
    for required in (
        "login.success",
        "login.failure",
        "login.lockout",
        "logout",
        "token.issued",
        "token.refreshed",
        "token.reuse_detected",
        "token.refused",
        "apikey.created",
        "apikey.revoked",
        "apikey.refused",
        "patient.read",
        "vitals.read",
        "export",
        "user.created",
        "user.updated",
        "user.locked",
        "user.unlocked",
        "user.password_reset",
        "key.rotated",
        "setting.changed",
        "break_glass.granted",
        "break_glass.used",
        "access.denied",
        "audit.exported",
        "audit.verified",
    ):
        assert required in names
    for family in ("incident.", "schedule.", "rule.", "policy."):
        assert any(n.startswith(family) for n in names)


def test_chain_report_summaries() -> None:
    ok = ChainReport(ok=True, rows_checked=3, head_hash="ab" * 32, head_id=3)
    assert ok.summary() == "Audit log intact: 3 rows, head " + "ab" * 8
    empty = ChainReport(ok=True, rows_checked=0, head_hash=None, head_id=None)
    assert empty.summary() == "Audit log intact: 0 rows, head (empty)"
    bad = ChainReport(
        ok=False,
        rows_checked=2,
        head_hash=None,
        head_id=1,
        first_bad_id=2,
        reason="row 2 was edited: its contents no longer match its hash",
    )
    assert (
        bad.summary()
        == "Audit log TAMPERED: row 2 was edited: its contents no longer match its hash"
    )
