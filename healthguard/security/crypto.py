"""Encryption of patient data at rest: AES-256-GCM values and an HMAC-SHA256 blind index.

Pure functions, no I/O. Keys come from the settings as a keyring string::

    HEALTHGUARD_PHI_KEYRING="k2026=<base64 of 32 bytes>,k2025=<base64 of 32 bytes>"

The first entry is the *current* key (every new value is encrypted with it); every entry can
decrypt. Each value is encrypted on its own, with a fresh random 96-bit nonce, into a
self-describing token::

    v1.<key id>.<base64url nonce>.<base64url ciphertext and 16-byte tag>

The associated data (AAD) binds a value to where it is stored (for example
``patients.family_name:<patient id>``): a token copied to another row or column does not
decrypt. The token header (version and key id) is authenticated too.

MRN look-up goes through a keyed blind index (:func:`blind_index`), never through plaintext.

Error messages name key ids, never key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_KEY_ID_LENGTH = 64
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64URL_PATTERN = re.compile(r"[A-Za-z0-9_-]*")


class KeyringError(ValueError):
    """The keyring is malformed, or cannot decrypt the data already stored."""


class DecryptionError(ValueError):
    """A token could not be decrypted. ``key_id`` names its key when the token has one."""

    def __init__(self, message: str, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


@dataclass(frozen=True, repr=False, eq=False)
class Keyring:
    """Encryption keys by id; ``current_id`` encrypts, every key decrypts.

    Build one with :meth:`Keyring.parse`. ``repr`` shows ids only, never key material.
    """

    current_id: str
    _ciphers: Mapping[str, AESGCM]

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Parse ``"id=base64(32 bytes),id2=..."`` (the first entry is the current key).

        Raises KeyringError naming the bad entry's key id (or its position when the id
        itself is unusable: an invalid id might be pasted key material, so it is not echoed).
        Standard and URL-safe base64 are accepted, padded or not.
        """
        entries = [entry.strip() for entry in (text or "").split(",")]
        entries = [entry for entry in entries if entry]
        if not entries:
            raise KeyringError(
                "the PHI keyring is empty: give at least one entry 'id=base64(32 bytes)'"
            )
        ciphers: dict[str, AESGCM] = {}
        for position, entry in enumerate(entries, start=1):
            where = f"keyring entry {position} of {len(entries)}"
            key_id, sep, encoded = entry.partition("=")
            key_id, encoded = key_id.strip(), encoded.strip()
            if not sep:
                raise KeyringError(f"{where} has no '=': each entry is 'id=base64(32 bytes)'")
            if not KEY_ID_PATTERN.fullmatch(key_id):
                raise KeyringError(
                    f"{where} has an invalid key id: use 1-{MAX_KEY_ID_LENGTH} characters "
                    "of A-Z, a-z, 0-9, '_' and '-'"
                )
            # "<base64 key>=" is a key pasted without its id (the '=' is padding): never
            # echo such an "id".
            if not encoded:
                raise KeyringError(
                    f"{where} has no key after '=' (a key pasted without its id?): each "
                    "entry is 'id=base64(32 bytes)'"
                )
            if len(key_id) >= 40 and _decode_key(key_id) is not None:
                raise KeyringError(
                    f"{where} has a key id that looks like key material: each entry is "
                    "'id=base64(32 bytes)' with a short id such as k2026"
                )
            if key_id in ciphers:
                raise KeyringError(f"key id {key_id!r} appears twice in the keyring")
            key = _decode_key(encoded)
            if key is None:
                raise KeyringError(f"key {key_id!r} is not valid base64")
            if len(key) != KEY_BYTES:
                raise KeyringError(
                    f"key {key_id!r} decodes to {len(key)} bytes; AES-256 needs exactly "
                    f"{KEY_BYTES} bytes"
                )
            ciphers[key_id] = AESGCM(key)
        return cls(current_id=next(iter(ciphers)), _ciphers=ciphers)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, the current one first."""
        return tuple(self._ciphers)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._ciphers

    def __iter__(self) -> Iterator[str]:
        return iter(self._ciphers)

    def __len__(self) -> int:
        return len(self._ciphers)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id!r}, ids={list(self.ids)!r})"

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(
                f"no key with id {key_id!r} in the keyring (it has {', '.join(self.ids)}): "
                f"restore the entry for {key_id!r} in HEALTHGUARD_PHI_KEYRING",
                key_id=key_id,
            )
        return cipher


def _decode_key(encoded: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None when it is neither."""
    text = encoded.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def new_key_entry(key_id: str) -> str:
    """A fresh keyring entry ``"<key_id>=<base64 of 32 random bytes>"``."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise KeyringError(
            f"invalid key id: use 1-{MAX_KEY_ID_LENGTH} characters of A-Z, a-z, 0-9, '_' and '-'"
        )
    return f"{key_id}={base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not _B64URL_PATTERN.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad_bytes(key_id: str, aad: str) -> bytes:
    # The header is authenticated along with the caller's context.
    return f"{TOKEN_VERSION}.{key_id}|{aad}".encode()


def encrypt(keyring: Keyring, plaintext: str, aad: str) -> str:
    """Encrypt ``plaintext`` with the current key: ``v1.<key id>.<nonce>.<ciphertext>``."""
    return encrypt_with(keyring, keyring.current_id, plaintext, aad)


def encrypt_with(keyring: Keyring, key_id: str, plaintext: str, aad: str) -> str:
    """Encrypt with a named key of the keyring (rotation and tests; normally use encrypt)."""
    cipher = keyring._cipher(key_id)
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, plaintext.encode("utf-8"), _aad_bytes(key_id, aad))
    return f"{TOKEN_VERSION}.{key_id}.{_b64e(nonce)}.{_b64e(sealed)}"


def _split(token: str) -> tuple[str, bytes, bytes]:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise DecryptionError(
            f"not an encrypted value: expected '{TOKEN_VERSION}.<key id>.<nonce>.<ciphertext>'"
        )
    _, key_id, nonce_text, sealed_text = parts
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise DecryptionError("not an encrypted value: the key id is malformed")
    try:
        nonce, sealed = _b64d(nonce_text), _b64d(sealed_text)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError(
            f"value encrypted with key {key_id!r} is malformed (bad base64)", key_id=key_id
        ) from exc
    if len(nonce) != NONCE_BYTES or len(sealed) < TAG_BYTES:
        raise DecryptionError(
            f"value encrypted with key {key_id!r} is malformed (truncated)", key_id=key_id
        )
    return key_id, nonce, sealed


def key_id_of(token: str) -> str:
    """The id of the key a token was encrypted with (DecryptionError when malformed)."""
    return _split(token)[0]


def decrypt(keyring: Keyring, token: str, aad: str) -> str:
    """The plaintext of ``token``; DecryptionError naming the key id when it cannot be read
    (key missing from the keyring, wrong key material, altered value, or another row's or
    column's value)."""
    key_id, nonce, sealed = _split(token)
    cipher = keyring._cipher(key_id)
    try:
        data = cipher.decrypt(nonce, sealed, _aad_bytes(key_id, aad))
    except InvalidTag as exc:
        raise DecryptionError(
            f"value encrypted with key {key_id!r} failed authentication: the key material "
            f"for {key_id!r} is wrong, or the value was altered or moved from another "
            "row or column",
            key_id=key_id,
        ) from exc
    return data.decode("utf-8")


def reencrypt(keyring: Keyring, token: str, aad: str) -> str:
    """``token`` under the current key (returned unchanged when it already is)."""
    if key_id_of(token) == keyring.current_id:
        return token
    return encrypt(keyring, decrypt(keyring, token, aad), aad)


def normalise_mrn(value: str) -> str:
    """The MRN as indexed: surrounding whitespace removed, upper-case."""
    return value.strip().upper()


def blind_index(key: str, value: str) -> str:
    """HMAC-SHA256 (hex) of the normalised value (:func:`normalise_mrn`) under ``key``.

    Equal MRNs give equal indexes, so a unique index and an equality look-up work without
    storing the MRN; without the key the index reveals nothing practical about it.
    """
    if not key:
        raise KeyringError("the blind index key is empty (HEALTHGUARD_BLIND_INDEX_KEY)")
    digest = hmac.new(key.encode("utf-8"), normalise_mrn(value).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()
