"""Patient data at rest: raw SQL shows no plaintext PHI, MRN look-up through the blind index,
values bound to their row and column, screens still show initials."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from healthguard.db import get_engine
from healthguard.models import Patient
from healthguard.patients.phi import (
    ENCRYPTED_FIELDS,
    PatientIdentity,
    display_names,
    find_by_mrn,
    index_key_from_settings,
    keyring_from_settings,
    read_identity,
    write_identity,
)
from healthguard.security.crypto import DecryptionError, key_id_of
from healthguard.seed import PATIENTS
from healthguard.wards.service import ward_board

pytestmark = pytest.mark.integration

TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@pytest.fixture
def session(seeded: dict[str, int]) -> Iterator[Session]:
    """A session whose work is rolled back."""
    with Session(get_engine()) as session:
        try:
            yield session
        finally:
            session.rollback()


def _plaintext_values() -> list[str]:
    values: list[str] = []
    for p in PATIENTS:
        values += [p.mrn, p.family_name, p.given_name, p.date_of_birth.isoformat()]
        values += [p.allergies, p.notes]
    return [v for v in values if v and v != "None known"]


def _occurs(value: str, text: str) -> bool:
    # Not glued to base64url characters: a short name may occur by chance inside ciphertext.
    pattern = r"(?<![A-Za-z0-9_-])" + re.escape(value) + r"(?![A-Za-z0-9_-])"
    return re.search(pattern, text) is not None


def test_raw_sql_shows_no_plaintext_phi(session: Session) -> None:
    rows = session.execute(sa.text("SELECT t::text FROM patients t")).scalars().all()
    assert len(rows) == len(PATIENTS)
    raw = "\n".join(rows)
    leaked = [v for v in _plaintext_values() if _occurs(v, raw)]
    assert leaked == []
    # Other spellings of the date of birth and the MRN are absent too.
    for p in PATIENTS:
        assert p.date_of_birth.strftime("%d/%m/%Y") not in raw
        assert p.mrn.lower() not in raw
    # Every identity column holds a token, and its ciphertext bytes do not hold the value.
    columns = ", ".join(ENCRYPTED_FIELDS.values())
    for row in session.execute(sa.text(f"SELECT {columns} FROM patients")).all():
        for token in row:
            assert TOKEN.fullmatch(token), "an identity column holds something else"
            sealed = token.rsplit(".", 1)[1]
            data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            assert not any(v.encode() in data for v in _plaintext_values() if len(v) >= 4)
    # No plaintext column is left.
    names = {c["name"] for c in sa.inspect(session.connection()).get_columns("patients")}
    assert names.isdisjoint({"mrn", "family_name", "given_name", "date_of_birth", "notes"})


def test_seeded_identities_read_back(session: Session) -> None:
    keyring = keyring_from_settings()
    for p in PATIENTS:
        patient = find_by_mrn(session, p.mrn)
        assert patient is not None, p.mrn
        who = read_identity(patient, keyring)
        assert (who.mrn, who.family_name, who.given_name, who.date_of_birth) == (
            p.mrn,
            p.family_name,
            p.given_name,
            p.date_of_birth,
        )
        assert (who.allergies, who.notes) == (p.allergies, p.notes)
        assert (patient.sex, patient.spo2_scale) == (p.sex, p.spo2_scale)
        assert p.family_name not in repr(who)


def test_find_by_mrn_ignores_case_and_whitespace(session: Session) -> None:
    mrn = PATIENTS[3].mrn
    found = find_by_mrn(session, mrn)
    assert found is not None
    for spelling in (mrn.lower(), f"  {mrn} ", f"\t{mrn.lower()}\n"):
        again = find_by_mrn(session, spelling)
        assert again is not None and again.id == found.id
    assert find_by_mrn(session, "HG999999") is None
    assert find_by_mrn(session, "") is None
    assert find_by_mrn(session, "   ") is None
    # A different blind index key finds nobody (the index is keyed).
    assert find_by_mrn(session, mrn, index_key="some-other-key") is None


def test_written_identity_round_trips_and_mrn_is_unique(session: Session) -> None:
    keyring, index_key = keyring_from_settings(), index_key_from_settings()
    who = PatientIdentity(
        mrn="TST-0001",
        family_name="Ó Súilleabháin",
        given_name="Áine",
        date_of_birth=date(2001, 2, 28),
        allergies="",
        notes="Line one\nline two",
    )
    patient = Patient(sex="female")
    write_identity(patient, who, keyring, index_key)
    session.add(patient)
    session.flush()
    session.expire_all()
    stored = find_by_mrn(session, "tst-0001")
    assert stored is not None and read_identity(stored, keyring) == who
    assert all(
        key_id_of(getattr(stored, c)) == keyring.current_id for c in ENCRYPTED_FIELDS.values()
    )

    twin = Patient()
    write_identity(
        twin, PatientIdentity("tst-0001 ", "X", "Y", date(2000, 1, 1)), keyring, index_key
    )
    session.add(twin)
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_values_cannot_be_swapped_between_rows_or_columns(session: Session) -> None:
    keyring = keyring_from_settings()
    a = find_by_mrn(session, PATIENTS[0].mrn)
    b = find_by_mrn(session, PATIENTS[1].mrn)
    assert a is not None and b is not None
    # Another row's family name, pasted in with raw SQL.
    session.execute(
        sa.text("UPDATE patients SET family_name_enc = :v WHERE id = :id"),
        {"v": b.family_name_enc, "id": a.id},
    )
    # This row's given name in the family name column.
    session.execute(
        sa.text("UPDATE patients SET family_name_enc = given_name_enc WHERE id = :id"),
        {"id": b.id},
    )
    session.expire_all()
    for patient in (a, b):
        fresh = session.get(Patient, patient.id)
        assert fresh is not None
        with pytest.raises(DecryptionError, match="failed authentication"):
            read_identity(fresh, keyring)
        # A screen shows "?" instead of failing the whole board.
        assert display_names(fresh.id, fresh.given_name_enc, fresh.family_name_enc)[1] == "?"


def test_ward_board_and_queue_show_decrypted_initials(session: Session) -> None:
    keyring = keyring_from_settings()
    expected = {}
    for patient in session.exec(select(Patient)).all():
        who = read_identity(patient, keyring)
        expected[str(patient.id)] = f"{who.given_name[0]}.{who.family_name[0]}."
    board = [b for b in ward_board(session) if b.patient_id]
    assert len(board) == len(expected)
    assert {b.patient_id: b.patient_initials for b in board} == expected


def test_display_names_without_patient() -> None:
    assert display_names(None, None, None) == (None, None)
    assert display_names(uuid.uuid4(), None, None) == (None, None)
