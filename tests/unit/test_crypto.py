"""PHI encryption primitives: AES-256-GCM tokens, the keyring and the MRN blind index."""

from __future__ import annotations

import base64

import pytest

from healthguard.security.crypto import (
    DecryptionError,
    Keyring,
    KeyringError,
    blind_index,
    decrypt,
    encrypt,
    encrypt_with,
    key_id_of,
    new_key_entry,
    reencrypt,
)

pytestmark = pytest.mark.unit

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
SECRET_A = base64.b64encode(KEY_A).decode()
SECRET_B = base64.b64encode(KEY_B).decode()
AAD = "patients.family_name:0b6c9f9e-0000-4000-8000-000000000001"


def ring(text: str = f"a={SECRET_A}") -> Keyring:
    return Keyring.parse(text)


def test_round_trip_and_token_format() -> None:
    keyring = ring()
    for text in ("Whitfield", "", "O'Brien", "Łukasz Żółć 李", "x" * 10_000):
        token = encrypt(keyring, text, AAD)
        assert decrypt(keyring, token, AAD) == text
        version, key_id, nonce, _sealed = token.split(".")
        assert (version, key_id) == ("v1", "a")
        assert len(base64.urlsafe_b64decode(nonce + "==")) == 12
        assert key_id_of(token) == "a"
        assert text.encode() not in token.encode() or text == ""


def test_every_value_gets_a_fresh_nonce() -> None:
    keyring = ring()
    tokens = [encrypt(keyring, "Harold", AAD) for _ in range(500)]
    assert len(set(tokens)) == 500
    assert len({t.split(".")[2] for t in tokens}) == 500


def test_tampered_token_is_refused_naming_the_key() -> None:
    keyring = ring()
    token = encrypt(keyring, "Penicillin (anaphylaxis)", AAD)
    head, sealed = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    for i in (0, len(raw) - 1):  # first ciphertext byte, last tag byte
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        bad = head + "." + base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(DecryptionError, match="'a'") as info:
            decrypt(keyring, bad, AAD)
        assert info.value.key_id == "a"
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt(keyring, head + ".AAAA", AAD)


def test_wrong_aad_is_refused() -> None:
    keyring = ring()
    token = encrypt(keyring, "Whitfield", AAD)
    for other in (
        "patients.given_name:0b6c9f9e-0000-4000-8000-000000000001",  # other column
        "patients.family_name:0b6c9f9e-0000-4000-8000-000000000002",  # other row
        "",
    ):
        with pytest.raises(DecryptionError, match="failed authentication"):
            decrypt(keyring, token, other)


def test_changed_key_id_in_header_is_refused() -> None:
    keyring = ring(f"a={SECRET_A},b={SECRET_A}")  # same material under two ids
    token = encrypt(keyring, "Whitfield", AAD)
    moved = token.replace("v1.a.", "v1.b.", 1)
    with pytest.raises(DecryptionError, match="'b'"):
        decrypt(keyring, moved, AAD)


def test_unknown_key_id_names_it_and_the_remedy() -> None:
    token = encrypt(ring(f"old={SECRET_A}"), "Whitfield", AAD)
    with pytest.raises(DecryptionError) as info:
        decrypt(ring(f"new={SECRET_B}"), token, AAD)
    assert info.value.key_id == "old"
    assert "'old'" in str(info.value) and "restore" in str(info.value)
    assert SECRET_A not in str(info.value) and SECRET_B not in str(info.value)


def test_wrong_material_for_a_key_id_is_refused() -> None:
    token = encrypt(ring(f"a={SECRET_A}"), "Whitfield", AAD)
    with pytest.raises(DecryptionError, match="'a'"):
        decrypt(ring(f"a={SECRET_B}"), token, AAD)


@pytest.mark.parametrize(
    "token",
    ["", "Whitfield", "v2.a.AAAA.AAAA", "v1.a.AAAA", "v1.a b.AAAAAAAAAAAAAAAA.AAAA", "v1.a.!!.x"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(DecryptionError):
        decrypt(ring(), token, AAD)


def test_keyring_parsing() -> None:
    keyring = Keyring.parse(f" new = {SECRET_B} , old={SECRET_A.rstrip('=')} ")
    assert keyring.current_id == "new"
    assert keyring.ids == ("new", "old") and "old" in keyring and len(keyring) == 2
    urlsafe = base64.urlsafe_b64encode(bytes([251] * 32)).decode()
    assert Keyring.parse(f"k_1-x={urlsafe}").current_id == "k_1-x"
    # Old keys decrypt, the first one encrypts.
    token = encrypt(ring(f"old={SECRET_A}"), "Hughes", AAD)
    assert decrypt(keyring, token, AAD) == "Hughes"
    assert key_id_of(encrypt(keyring, "Hughes", AAD)) == "new"
    # repr shows ids, never key material.
    assert SECRET_B not in repr(keyring) and "new" in repr(keyring)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (" , ", "empty"),
        (SECRET_A, "entry 1 of 1"),
        (f"a={SECRET_A},{SECRET_B}", "entry 2 of 2"),
        (f"bad.id={SECRET_A}", "invalid key id"),
        (f"={SECRET_A}", "invalid key id"),
        (f"{'k' * 65}={SECRET_A}", "invalid key id"),
        (f"a={SECRET_A},a={SECRET_B}", "'a' appears twice"),
        ("short=" + base64.b64encode(b"x" * 16).decode(), "'short' decodes to 16 bytes"),
        ("long=" + base64.b64encode(b"x" * 33).decode(), "'long' decodes to 33 bytes"),
        ("nob64=not base64!!", "'nob64' is not valid base64"),
        ("empty=", "entry 1 of 1 has no key"),
        (f"{SECRET_A.rstrip('=')}=", "entry 1 of 1 has no key"),
    ],
)
def test_keyring_errors_name_the_entry_not_the_key(text: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as info:
        Keyring.parse(text)
    assert SECRET_A not in str(info.value) and SECRET_B not in str(info.value)
    assert SECRET_A.rstrip("=") not in str(info.value)


def test_new_key_entry_parses() -> None:
    entry = new_key_entry("k2027")
    assert Keyring.parse(entry).current_id == "k2027"
    assert new_key_entry("k2027") != entry
    with pytest.raises(KeyringError):
        new_key_entry("bad id")


def test_reencrypt_moves_to_the_current_key_only_when_needed() -> None:
    both = ring(f"b={SECRET_B},a={SECRET_A}")
    old = encrypt_with(both, "a", "Nowak", AAD)
    new = reencrypt(both, old, AAD)
    assert key_id_of(new) == "b" and decrypt(both, new, AAD) == "Nowak"
    assert reencrypt(both, new, AAD) == new


def test_blind_index_is_stable_normalised_and_keyed() -> None:
    one = blind_index("index-key", "HG100001")
    assert one == blind_index("index-key", "  hg100001\n")
    assert one == blind_index("index-key", "Hg100001")
    assert len(one) == 64 and int(one, 16) >= 0
    assert one != blind_index("index-key", "HG100002")
    assert one != blind_index("other-key", "HG100001")
    # Known answer: HMAC-SHA256("index-key", "HG100001").
    import hashlib
    import hmac

    assert one == hmac.new(b"index-key", b"HG100001", hashlib.sha256).hexdigest()
    with pytest.raises(KeyringError):
        blind_index("", "HG100001")
