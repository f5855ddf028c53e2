"""Key rotation: re-encrypts everything in resumable batches while old rows stay readable, and
start-up refuses a keyring that cannot read the stored data, naming the key id."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from healthguard.db import get_engine
from healthguard.models import Patient
from healthguard.patients.phi import (
    ENCRYPTED_FIELDS,
    PatientIdentity,
    find_by_mrn,
    index_key_from_settings,
    keyring_from_settings,
    read_identity,
    write_identity,
)
from healthguard.security.crypto import Keyring, KeyringError, key_id_of, new_key_entry
from healthguard.security.rotation import (
    RotationProgress,
    check_keys_at_startup,
    cmd_keys_rotate,
    count_stale_rows,
    key_ids_in_use,
    rotate_keys,
    verify_keyring,
)
from healthguard.settings import Settings, get_settings

pytestmark = pytest.mark.integration


class Ring:
    """The keyring of this module's data: new keys go in front, old ones stay."""

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def keyring(self) -> Keyring:
        return Keyring.parse(self.text)

    def add(self, key_id: str) -> Keyring:
        self.text = new_key_entry(key_id) + "," + self.text
        return self.keyring


@pytest.fixture(scope="module")
def ring(seeded: dict[str, int]) -> Ring:
    return Ring(get_settings().secret("phi_keyring"))


def factory() -> AbstractContextManager[Session]:
    return Session(get_engine())


@pytest.fixture
def session(seeded: dict[str, int]) -> Iterator[Session]:
    with Session(get_engine()) as session:
        yield session
        session.rollback()


def identities(keyring: Keyring) -> dict[str, PatientIdentity]:
    with factory() as session:
        return {str(p.id): read_identity(p, keyring) for p in session.exec(select(Patient)).all()}


def key_ids(session: Session) -> set[str]:
    tokens = session.execute(
        sa.text(f"SELECT {', '.join(ENCRYPTED_FIELDS.values())} FROM patients")
    ).all()
    return {key_id_of(t) for row in tokens for t in row}


def add_patients(keyring: Keyring, prefix: str, n: int) -> None:
    index_key = index_key_from_settings()
    with factory() as session:
        for i in range(n):
            patient = Patient(sex="unknown")
            who = PatientIdentity(
                f"{prefix}{i:04d}", f"Family{i}", f"Given{i}", date(1970, 1, 1 + i)
            )
            write_identity(patient, who, keyring, index_key)
            session.add(patient)
        session.commit()


def test_rotation_reencrypts_everything_and_old_rows_stay_readable(ring: Ring) -> None:
    old = ring.keyring
    add_patients(old, "ROT-A-", 6)  # rows written before the rotation, with the old key
    before = identities(old)
    total = len(before)

    new = ring.add("rot1")
    # Before rotating: the new keyring reads the old rows (old keys stay in it).
    assert identities(new) == before
    with factory() as session:
        assert count_stale_rows(session, new) == total
        assert key_ids(session) == {old.current_id}

    seen_during: list[RotationProgress] = []

    def progress(p: RotationProgress) -> None:
        seen_during.append(p)
        # Readers keep working mid-rotation, with rows under both keys.
        assert identities(new) == before

    report = rotate_keys(factory, new, batch_size=4, progress=progress)
    assert (report.key_id, report.rows_rotated, report.rows_remaining) == ("rot1", total, 0)
    assert report.values_rotated == total * len(ENCRYPTED_FIELDS)
    assert report.batches == -(-total // 4) == len(seen_during)
    assert [p.rows_done for p in seen_during][-1] == total
    assert all(p.rows_total == total for p in seen_during)

    with factory() as session:
        assert key_ids(session) == {"rot1"}
        assert key_ids_in_use(session) == ["rot1"]
        assert count_stale_rows(session, new) == 0
        # The blind index is untouched: MRN look-up still works.
        assert find_by_mrn(session, "rot-a-0003") is not None
    assert identities(new) == before

    # A second run finds nothing to do.
    again = rotate_keys(factory, new, batch_size=4)
    assert (again.rows_rotated, again.values_rotated, again.batches) == (0, 0, 0)


def test_interrupted_rotation_resumes(ring: Ring) -> None:
    before = identities(ring.keyring)
    total = len(before)
    new = ring.add("rot2")

    class Stop(Exception):
        pass

    def stop_after_first_batch(p: RotationProgress) -> None:
        raise Stop

    with pytest.raises(Stop):
        rotate_keys(factory, new, batch_size=1, progress=stop_after_first_batch)
    with factory() as session:
        assert count_stale_rows(session, new) == total - 1
        assert set(key_ids_in_use(session)) == {"rot1", "rot2"}
    assert identities(new) == before  # half-rotated data reads fine

    resumed = rotate_keys(factory, new, batch_size=5)
    assert resumed.rows_rotated == total - 1 and resumed.rows_remaining == 0
    with factory() as session:
        assert key_ids(session) == {"rot2"}
    assert identities(new) == before


def test_rotation_refuses_data_whose_key_is_missing(ring: Ring, session: Session) -> None:
    current = ring.keyring.current_id
    lacking = Keyring.parse(new_key_entry("rot3"))  # new key only: the data's key is lost
    with pytest.raises(KeyringError, match=f"'{current}'"):
        verify_keyring(session, lacking)
    from healthguard.security.crypto import DecryptionError

    with pytest.raises(DecryptionError, match=f"'{current}'"):
        rotate_keys(factory, lacking, batch_size=2)
    assert key_ids(session) == {current}  # the failed batch was rolled back


def test_verify_keyring_names_the_missing_or_wrong_key(ring: Ring, session: Session) -> None:
    keyring = ring.keyring
    current = keyring.current_id
    index_key = index_key_from_settings()
    verify_keyring(session, keyring, index_key)  # the right keyring passes

    # The key the data was written with is missing.
    head, _, others = ring.text.partition(",")
    with pytest.raises(KeyringError) as info:
        verify_keyring(session, Keyring.parse(new_key_entry("k9") + "," + others))
    message = str(info.value)
    assert f"'{current}'" in message and "Restore" in message
    assert head.split("=", 1)[1] not in message

    # Same id, different material (a key replaced by mistake).
    wrong = Keyring.parse(f"{current}={base64.b64encode(os.urandom(32)).decode()},{others}")
    with pytest.raises(KeyringError, match=f"key '{current}'.*cannot decrypt"):
        verify_keyring(session, wrong)

    # A changed blind index key would break MRN look-up silently: refused too.
    with pytest.raises(KeyringError, match="HEALTHGUARD_BLIND_INDEX_KEY"):
        verify_keyring(session, keyring, "another-index-key")


def test_startup_check_and_rotate_command(
    ring: Ring, app_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    def settings(keyring_text: str) -> Settings:
        return Settings(
            mode="production",
            database_url=app_env["DATABASE_URL"],
            redis_url=app_env["REDIS_URL"],
            secret_key="x" * 40,
            phi_keyring=keyring_text,
            blind_index_key=index_key_from_settings(),
        )

    check_keys_at_startup(settings(ring.text))
    current = ring.keyring.current_id
    with pytest.raises(KeyringError, match=f"'{current}'"):
        check_keys_at_startup(settings(new_key_entry("lost")))
    with pytest.raises(KeyringError, match="entry 1 of 1"):
        check_keys_at_startup(settings("no-equals-sign"))

    # `healthguard keys rotate`: plain-words progress, then nothing left to do.
    ring.add("rot4")
    assert cmd_keys_rotate(settings(ring.text), batch_size=8) == 0
    out = capsys.readouterr().out
    assert "'rot4'" in out and "batch 1:" in out and "Done:" in out
    assert cmd_keys_rotate(settings(ring.text), batch_size=8) == 0
    assert "Nothing to do" in capsys.readouterr().out
    check_keys_at_startup(settings(ring.text))

    # A keyring that lost the data's key: the command refuses, naming it, and exits 1.
    assert cmd_keys_rotate(settings(new_key_entry("lost")), batch_size=8) == 1
    assert "'rot4'" in capsys.readouterr().err


def test_settings_keyring_is_cached() -> None:
    assert keyring_from_settings() is keyring_from_settings()
