"""Reading and writing a patient's protected health information (PHI).

The ``patients`` table stores identifiers and clinical free text only as AES-256-GCM tokens
(``*_enc`` columns) and the MRN additionally as a keyed blind index (``mrn_index``). This
module is the one place that turns them into a :class:`PatientIdentity` and back.

Each value's associated data is ``patients.<field>:<patient id>`` (for example
``patients.family_name:6f1c...``), so a token moved to another row or column does not decrypt.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from sqlmodel import Session, select

from healthguard.models import Patient
from healthguard.security.crypto import (
    DecryptionError,
    Keyring,
    blind_index,
    decrypt,
    encrypt,
)
from healthguard.settings import Settings, get_settings

log = logging.getLogger(__name__)

# PatientIdentity field -> encrypted column of ``patients``.
ENCRYPTED_FIELDS: dict[str, str] = {
    "mrn": "mrn_enc",
    "family_name": "family_name_enc",
    "given_name": "given_name_enc",
    "date_of_birth": "date_of_birth_enc",
    "allergies": "allergies_enc",
    "notes": "notes_enc",
}

# Shown instead of a name that cannot be decrypted (the error is logged with its key id).
UNREADABLE = "?"


@dataclass(frozen=True)
class PatientIdentity:
    """A patient's identifiers and clinical free text, in the clear (never log it)."""

    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    allergies: str = ""
    notes: str = ""

    def __repr__(self) -> str:  # keep PHI out of logs and tracebacks
        return "PatientIdentity(<redacted>)"


def patient_aad(field: str, patient_id: uuid.UUID | str) -> str:
    """The associated data binding a value to its patient row and field."""
    return f"patients.{field}:{patient_id}"


@lru_cache(maxsize=8)
def _parse_keyring(text: str) -> Keyring:
    return Keyring.parse(text)


def keyring_from_settings(settings: Settings | None = None) -> Keyring:
    """The PHI keyring of the settings (parsed once per keyring string).

    Raises MissingSecretError when it is not set outside demo mode, KeyringError when it is
    malformed."""
    settings = settings or get_settings()
    return _parse_keyring(settings.secret("phi_keyring"))


def index_key_from_settings(settings: Settings | None = None) -> str:
    """The blind index key of the settings (MissingSecretError when unset)."""
    return (settings or get_settings()).secret("blind_index_key")


def mrn_index(index_key: str, mrn: str) -> str:
    """The blind index of an MRN (whitespace and case ignored)."""
    return blind_index(index_key, mrn)


def _require_id(patient: Patient) -> uuid.UUID:
    if patient.id is None:
        raise ValueError("the patient has no id yet: its id is part of every encrypted value")
    return patient.id


def decrypt_field(keyring: Keyring, patient_id: uuid.UUID | str, field: str, token: str) -> str:
    """One decrypted field of a patient (DecryptionError naming the key id on failure)."""
    return decrypt(keyring, token, patient_aad(field, patient_id))


def read_identity(patient: Patient, keyring: Keyring) -> PatientIdentity:
    """Decrypt every identity field of ``patient``."""
    pid = _require_id(patient)
    values = {
        field: decrypt_field(keyring, pid, field, getattr(patient, column))
        for field, column in ENCRYPTED_FIELDS.items()
    }
    return PatientIdentity(
        mrn=values["mrn"],
        family_name=values["family_name"],
        given_name=values["given_name"],
        date_of_birth=date.fromisoformat(values["date_of_birth"]),
        allergies=values["allergies"],
        notes=values["notes"],
    )


def encrypt_identity(
    patient_id: uuid.UUID, identity: PatientIdentity, keyring: Keyring, index_key: str
) -> dict[str, str]:
    """The stored form of an identity: every ``*_enc`` column (current key) and
    ``mrn_index``. The MRN is stored as given; its index ignores whitespace and case."""
    if not identity.mrn.strip():
        raise ValueError("mrn: must not be empty")
    plain = {
        "mrn": identity.mrn,
        "family_name": identity.family_name,
        "given_name": identity.given_name,
        "date_of_birth": identity.date_of_birth.isoformat(),
        "allergies": identity.allergies,
        "notes": identity.notes,
    }
    columns = {
        column: encrypt(keyring, plain[field], patient_aad(field, patient_id))
        for field, column in ENCRYPTED_FIELDS.items()
    }
    columns["mrn_index"] = mrn_index(index_key, identity.mrn)
    return columns


def write_identity(
    patient: Patient, identity: PatientIdentity, keyring: Keyring, index_key: str
) -> None:
    """Encrypt every identity field into ``patient`` (current key) and set ``mrn_index``."""
    pid = _require_id(patient)
    for column, value in encrypt_identity(pid, identity, keyring, index_key).items():
        setattr(patient, column, value)


def new_patient(
    identity: PatientIdentity,
    keyring: Keyring,
    index_key: str,
    *,
    sex: str = "unknown",
    spo2_scale: int = 1,
) -> Patient:
    """A new (not yet added) Patient holding ``identity`` encrypted."""
    pid = uuid.uuid4()
    stored = encrypt_identity(pid, identity, keyring, index_key)
    return Patient(
        id=pid,
        sex=sex,
        spo2_scale=spo2_scale,
        mrn_index=stored["mrn_index"],
        mrn_enc=stored["mrn_enc"],
        family_name_enc=stored["family_name_enc"],
        given_name_enc=stored["given_name_enc"],
        date_of_birth_enc=stored["date_of_birth_enc"],
        allergies_enc=stored["allergies_enc"],
        notes_enc=stored["notes_enc"],
    )


def find_by_mrn(session: Session, mrn: str, index_key: str | None = None) -> Patient | None:
    """The patient with this MRN (whitespace and case ignored), through the blind index.

    ``index_key`` defaults to the settings' HEALTHGUARD_BLIND_INDEX_KEY."""
    if not mrn or not mrn.strip():
        return None
    key = index_key if index_key is not None else index_key_from_settings()
    return session.exec(select(Patient).where(Patient.mrn_index == mrn_index(key, mrn))).first()


def display_names(
    patient_id: uuid.UUID | str | None,
    given_name_enc: str | None,
    family_name_enc: str | None,
    keyring: Keyring | None = None,
) -> tuple[str | None, str | None]:
    """(given, family) names for screens such as initials on a shared queue; (None, None)
    without a patient. ``keyring`` defaults to the settings' (loaded only when needed).

    A value that cannot be decrypted comes back as "?" and the error is logged (key id and
    patient id only): one damaged row must not take an alarm queue down. Start-up refuses to
    run when the keyring cannot read the stored data (healthguard.security.rotation)."""
    names: list[str | None] = []
    for field, token in (("given_name", given_name_enc), ("family_name", family_name_enc)):
        if token is None or patient_id is None:
            names.append(None)
            continue
        keyring = keyring or keyring_from_settings()
        try:
            names.append(decrypt_field(keyring, patient_id, field, token))
        except DecryptionError as exc:
            log.error("cannot decrypt %s of patient %s: %s", field, patient_id, exc)
            names.append(UNREADABLE)
    return names[0], names[1]
