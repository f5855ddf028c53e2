"""Migration 0002_phi_encryption: existing plaintext patients are encrypted with the settings'
keyring, the schema matches the model, and the downgrade restores the plaintext exactly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlmodel import Session
from testsupport import create_database, drop_database, env_override

from alembic import command
from healthguard import migrations
from healthguard.models import Patient
from healthguard.patients.phi import find_by_mrn, read_identity
from healthguard.security.crypto import Keyring, new_key_entry

pytestmark = pytest.mark.integration

KEYRING = new_key_entry("mig1")
INDEX_KEY = "migration-test-index-key"
ROWS = [
    ("HG-0001", "Whitfield", "Harold", date(1948, 3, 14), "Penicillin", "NSTEMI; telemetry"),
    (" hg-0002", "O'Brien", "Áine", date(2001, 12, 31), "", ""),
]


def _migrate(url: str, fn: object, revision: str) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config = migrations.alembic_config(url)
            config.attributes["connection"] = conn
            fn(config, revision)  # type: ignore[operator]
            conn.commit()
    finally:
        engine.dispose()


def _table_of(diff: object) -> str | None:
    """The table an Alembic autogenerate diff is about."""
    if isinstance(diff, list):  # modify_* diffs come grouped per column
        return _table_of(diff[0]) if diff else None
    assert isinstance(diff, tuple)
    for item in diff[1:]:
        if isinstance(item, sa.Table):
            return item.name
        table = getattr(item, "table", None)
        if isinstance(table, sa.Table):
            return table.name
    if diff[0] in ("add_column", "remove_column") or str(diff[0]).startswith("modify_"):
        return str(diff[2])
    return None


@pytest.fixture(scope="module")
def url(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url, prefix="phi_migration")
    with env_override(
        DATABASE_URL=url,
        HEALTHGUARD_MODE="production",
        HEALTHGUARD_PHI_KEYRING=KEYRING,
        HEALTHGUARD_BLIND_INDEX_KEY=INDEX_KEY,
    ):
        try:
            yield url
        finally:
            drop_database(postgres_server_url, url)


def test_existing_rows_are_encrypted_and_decrypted_back(url: str) -> None:
    _migrate(url, command.upgrade, "0001_initial")
    engine = sa.create_engine(url, poolclass=NullPool)
    ids = [uuid.uuid4() for _ in ROWS]
    try:
        with engine.begin() as conn:
            for pid, (mrn, family, given, dob, allergies, notes) in zip(ids, ROWS, strict=True):
                conn.execute(
                    sa.text(
                        "INSERT INTO patients (id, mrn, family_name, given_name, date_of_birth,"
                        " sex, allergies, notes, spo2_scale, created_at) VALUES (:id, :mrn,"
                        " :family, :given, :dob, 'unknown', :allergies, :notes, 1, :now)"
                    ),
                    dict(
                        id=pid, mrn=mrn, family=family, given=given, dob=dob,
                        allergies=allergies, notes=notes, now=datetime.now(UTC),
                    ),
                )  # fmt: skip

        # Before 0002 the comparison does see the patients table differ from the model.
        assert [d for d in migrations.pending_model_changes(url) if _table_of(d) == "patients"]

        _migrate(url, command.upgrade, "0002_phi_encryption")
        with engine.connect() as conn:
            raw = "\n".join(conn.execute(sa.text("SELECT t::text FROM patients t")).scalars())
        for mrn, family, given, dob, *_ in ROWS:
            assert mrn.strip() not in raw and dob.isoformat() not in raw
            assert family not in raw and given not in raw
        # The patients table matches the model (other tables belong to other migrations).
        diffs = migrations.pending_model_changes(url)
        assert [d for d in diffs if _table_of(d) == "patients"] == []

        keyring = Keyring.parse(KEYRING)
        with Session(engine) as session:
            for pid, (mrn, family, given, dob, allergies, notes) in zip(ids, ROWS, strict=True):
                patient = find_by_mrn(session, mrn.strip().lower(), INDEX_KEY)
                assert patient is not None and patient.id == pid
                who = read_identity(patient, keyring)
                assert (who.mrn, who.family_name, who.given_name, who.date_of_birth) == (
                    mrn, family, given, dob,
                )  # fmt: skip
                assert (who.allergies, who.notes) == (allergies, notes)
                assert session.get(Patient, pid) is not None

        _migrate(url, command.downgrade, "0001_initial")
        with engine.connect() as conn:
            back = conn.execute(
                sa.text(
                    "SELECT id, mrn, family_name, given_name, date_of_birth, allergies, notes"
                    " FROM patients ORDER BY mrn"
                )
            ).all()
        assert sorted((r[0], tuple(r[1:])) for r in back) == sorted(zip(ids, ROWS, strict=True))
    finally:
        engine.dispose()


def test_empty_table_migrates_without_keys(postgres_server_url: str) -> None:
    url = create_database(postgres_server_url, prefix="phi_migration_empty")
    try:
        # Production mode and no keys at all: fine while there is nothing to encrypt.
        with env_override(
            DATABASE_URL=url,
            HEALTHGUARD_MODE="production",
            HEALTHGUARD_PHI_KEYRING="",
            HEALTHGUARD_BLIND_INDEX_KEY="",
        ):
            _migrate(url, command.upgrade, "0002_phi_encryption")
            _migrate(url, command.downgrade, "0001_initial")
    finally:
        drop_database(postgres_server_url, url)
