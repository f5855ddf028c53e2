"""Key rotation and the start-up key check for encrypted patient data.

Rotating keys, step by step (docs/SECURITY.md has the operator's version):

1. Generate a new key and put it FIRST in HEALTHGUARD_PHI_KEYRING, keeping every old key
   after it. Restart every process (web, workers): new values are now written with the new
   key and every process can read both.
2. Run ``healthguard keys rotate``: it re-encrypts every value still under an old key, in
   small batches, each batch its own short transaction. It can be stopped at any moment and
   run again (it continues where it stopped); the application keeps running throughout.
3. Only when it reports nothing left, and no backup you may restore still needs it, remove
   the old key from the keyring.

Losing a key cannot go unnoticed: :func:`check_keys_at_startup` (called by ``healthguard
up``, ``web`` and ``worker``) decrypts a sample row of every key id in use and refuses to
start with a message naming the key id that is missing or wrong.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from healthguard.incidents.timeline import count_stale_text, rotate_text
from healthguard.models import Patient
from healthguard.patients.phi import (
    ENCRYPTED_FIELDS,
    index_key_from_settings,
    keyring_from_settings,
    mrn_index,
    patient_aad,
)
from healthguard.security.crypto import (
    DecryptionError,
    Keyring,
    KeyringError,
    decrypt,
    key_id_of,
    reencrypt,
)
from healthguard.settings import Settings

SessionFactory = Callable[[], AbstractContextManager[Session]]

_table: sa.Table = Patient.__table__  # type: ignore[attr-defined]
_COLUMNS: tuple[str, ...] = tuple(ENCRYPTED_FIELDS.values())


@dataclass(frozen=True)
class RotationProgress:
    """Reported after each committed batch."""

    key_id: str
    batch: int
    rows_done: int
    rows_total: int
    values_done: int


@dataclass(frozen=True)
class RotationReport:
    """What one rotate_keys call did."""

    key_id: str
    batches: int
    rows_rotated: int
    values_rotated: int
    rows_remaining: int


def _key_id_sql(column: str) -> sa.ColumnElement[str]:
    # Tokens are "v1.<key id>.<nonce>.<ciphertext>"; key ids contain no dots.
    return sa.func.split_part(_table.c[column], ".", 2)


def _stale(current_id: str) -> sa.ColumnElement[bool]:
    """Rows with at least one value not under ``current_id``."""
    return sa.or_(*(_key_id_sql(c) != current_id for c in _COLUMNS))


def count_stale_rows(session: Session, keyring: Keyring) -> int:
    """Rows holding at least one value not encrypted with the current key."""
    stmt = sa.select(sa.func.count()).select_from(_table).where(_stale(keyring.current_id))
    return int(session.execute(stmt).scalar_one())


def rotate_keys(
    session_factory: SessionFactory,
    keyring: Keyring,
    batch_size: int = 500,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationReport:
    """Re-encrypt under ``keyring.current_id`` every patient value written with another key.

    Works in batches of ``batch_size`` rows, in id order, each batch its own transaction:
    its rows are locked (SELECT ... FOR UPDATE) only until that batch commits, so readers and
    writers wait at most one batch. Stopping part-way loses nothing: already committed
    batches stay rotated and the next call continues with what is left. ``progress`` is
    called after each commit (an exception it raises stops the rotation after that batch).

    Raises DecryptionError (naming the key id) when a value's key is not in the keyring;
    the batch holding it is rolled back.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    current = keyring.current_id
    with session_factory() as session:
        total = count_stale_rows(session, keyring)
        session.rollback()

    batches = rows_done = values_done = 0
    last_id: uuid.UUID | None = None
    while True:
        with session_factory() as session:
            stmt = (
                sa.select(_table.c.id, *(_table.c[c] for c in _COLUMNS))
                .where(_stale(current))
                .order_by(_table.c.id)
                .limit(batch_size)
                .with_for_update()
            )
            if last_id is not None:
                stmt = stmt.where(_table.c.id > last_id)
            rows = session.execute(stmt).all()
            if not rows:
                session.rollback()
                break
            changed_values = 0
            for row in rows:
                pid = row[0]
                changes: dict[str, Any] = {}
                for (field, column), token in zip(ENCRYPTED_FIELDS.items(), row[1:], strict=True):
                    if key_id_of(token) != current:
                        changes[column] = reencrypt(keyring, token, patient_aad(field, pid))
                if changes:
                    session.execute(sa.update(_table).where(_table.c.id == pid).values(**changes))
                    changed_values += len(changes)
            session.commit()
        last_id = rows[-1][0]
        batches += 1
        rows_done += len(rows)
        values_done += changed_values
        if progress is not None:
            progress(
                RotationProgress(
                    key_id=current,
                    batch=batches,
                    rows_done=rows_done,
                    rows_total=max(total, rows_done),
                    values_done=values_done,
                )
            )

    with session_factory() as session:
        remaining = count_stale_rows(session, keyring)
        session.rollback()
    return RotationReport(
        key_id=current,
        batches=batches,
        rows_rotated=rows_done,
        values_rotated=values_done,
        rows_remaining=remaining,
    )


def key_ids_in_use(session: Session) -> list[str]:
    """Every key id found in the encrypted patient columns (one full scan of the table)."""
    selects = [sa.select(_key_id_sql(c).label("key_id")).select_from(_table) for c in _COLUMNS]
    union = sa.union(*selects).subquery()
    return sorted(session.execute(sa.select(union.c.key_id)).scalars().all())


def _sample_row(session: Session, key_id: str) -> Sequence[Any] | None:
    condition = sa.or_(*(_key_id_sql(c) == key_id for c in _COLUMNS))
    stmt = (
        sa.select(_table.c.id, _table.c.mrn_index, *(_table.c[c] for c in _COLUMNS))
        .where(condition)
        .order_by(_table.c.created_at.desc())
        .limit(1)
    )
    return session.execute(stmt).first()


def verify_keyring(session: Session, keyring: Keyring, index_key: str | None = None) -> None:
    """Refuse a keyring that cannot read the stored patient data.

    For every key id in use it decrypts one sample patient row (the newest written with that
    key); with ``index_key`` it also checks that the row's MRN blind index matches (a changed
    HEALTHGUARD_BLIND_INDEX_KEY would silently break MRN look-up). Raises KeyringError naming
    the key id and what to do. Does nothing when there are no patients.
    """
    for key_id in key_ids_in_use(session):
        if key_id not in keyring:
            raise KeyringError(
                f"patient data is encrypted with key {key_id!r}, which is not in "
                f"HEALTHGUARD_PHI_KEYRING (it has {', '.join(keyring.ids)}). Restore the "
                f"entry '{key_id}=...' from your key backup (keep the current key first); "
                "the data cannot be read without it."
            )
        row = _sample_row(session, key_id)
        if row is None:  # the row changed meanwhile (rotation running): nothing to check
            continue
        pid, stored_index, *tokens = row
        values: dict[str, str] = {}
        for (field, _column), token in zip(ENCRYPTED_FIELDS.items(), tokens, strict=True):
            try:
                values[field] = decrypt(keyring, token, patient_aad(field, pid))
            except DecryptionError as exc:
                bad = exc.key_id or key_id
                raise KeyringError(
                    f"key {bad!r} of HEALTHGUARD_PHI_KEYRING cannot decrypt patient data "
                    f"written with it (sample patient {pid}): the key material for {bad!r} "
                    f"is not the one the data was encrypted with. Restore the original "
                    f"entry '{bad}=...' from your key backup."
                ) from exc
        if index_key is not None and mrn_index(index_key, values["mrn"]) != stored_index:
            raise KeyringError(
                f"HEALTHGUARD_BLIND_INDEX_KEY is not the key the MRN index was built with "
                f"(sample patient {pid}): MRN look-up would find nobody and duplicate "
                "patients. Restore the original blind index key."
            )


def _session_factory(settings: Settings) -> SessionFactory:
    from healthguard.db import get_engine

    engine = get_engine(settings.effective_database_url())
    return lambda: Session(engine)


def _has_encrypted_patients_table(session: Session) -> bool:
    columns = sa.inspect(session.connection()).get_columns("patients")
    names = {c["name"] for c in columns}
    return set(_COLUMNS) <= names


def check_keys_at_startup(settings: Settings) -> None:
    """Start-up check of `healthguard up`, `web` and `worker`.

    Raises MissingSecretError (a key is not set), KeyringError (the keyring is malformed or
    cannot decrypt a sample row; the message names the key id). Skipped on a database whose
    patients table is not migrated to encryption yet (the migration encrypts it)."""
    keyring = keyring_from_settings(settings)
    index_key = index_key_from_settings(settings)
    with _session_factory(settings)() as session:
        if not sa.inspect(session.connection()).has_table("patients"):
            return
        if not _has_encrypted_patients_table(session):
            return
        verify_keyring(session, keyring, index_key)
        session.rollback()


def _record_rotation(
    factory: SessionFactory, report: RotationReport, current: str, record_type: str = "phi_keyring"
) -> None:
    """One `key.rotated` audit row per run and kind of data (key ids and counts only, never
    key material)."""
    from healthguard.security.audit import record_audit
    from healthguard.security.audit_cli import cli_actor

    with factory() as session:
        record_audit(
            session,
            actor=cli_actor(),
            action="key.rotated",
            record_type=record_type,
            record_id=current,
            outcome="success" if not report.rows_remaining else "failure",
            details={
                "rows_rotated": report.rows_rotated,
                "values_rotated": report.values_rotated,
                "batches": report.batches,
                "rows_remaining": report.rows_remaining,
            },
            now=datetime.now(UTC),
        )
        session.commit()


def cmd_keys_rotate(settings: Settings, batch_size: int = 500) -> int:
    """`healthguard keys rotate`: re-encrypt everything under the current key; exit code."""
    try:
        keyring = keyring_from_settings(settings)
        index_key = index_key_from_settings(settings)
        factory = _session_factory(settings)
        with factory() as session:
            verify_keyring(session, keyring, index_key)
            total = count_stale_rows(session, keyring)
            text_total = count_stale_text(session, keyring)
            session.rollback()
    except (KeyringError, DecryptionError) as exc:
        print(f"Cannot rotate keys: {exc}", file=sys.stderr)
        return 1
    current = keyring.current_id
    if total == 0 and text_total == 0:
        print(
            f"All patient data and incident notes are already encrypted with the current key "
            f"{current!r}."
        )
        print("Nothing to do.")
        return 0
    if total and _rotate_patients(factory, keyring, batch_size, total):
        return 1
    if text_total and _rotate_incident_text(factory, keyring, batch_size, text_total):
        return 1
    old = [k for k in keyring.ids if k != current]
    if old:
        print(
            f"Old key(s) {', '.join(old)} are no longer used by patient data or incident "
            "notes. Remove them from HEALTHGUARD_PHI_KEYRING only when no backup you might "
            "restore needs them."
        )
    return 0


def _rotate_incident_text(
    factory: SessionFactory, keyring: Keyring, batch_size: int, total: int
) -> bool:
    """The incident notes and resolution texts; True when something is left to do."""
    current = keyring.current_id
    print(
        f"Re-encrypting incident notes and resolution texts with the current key "
        f"{current!r}: {total} value(s) still use an older key."
    )
    try:
        done, batches = rotate_text(factory, keyring, batch_size=batch_size)
    except (KeyringError, DecryptionError) as exc:
        print(f"Rotation stopped: {exc}", file=sys.stderr)
        print("Batches already done are kept; fix the keyring and run it again.", file=sys.stderr)
        return True
    with factory() as session:
        remaining = count_stale_text(session, keyring)
        session.rollback()
    print(f"Done: {done} incident text value(s) re-encrypted with key {current!r}.")
    report = RotationReport(current, batches, done, done, remaining)
    _record_rotation(factory, report, current, record_type="incident_text")
    if remaining:
        print(
            f"{remaining} incident text value(s) were written with an older key while this "
            "ran (a process still has the old keyring first?): run it again.",
        )
        return True
    return False


def _rotate_patients(
    factory: SessionFactory, keyring: Keyring, batch_size: int, total: int
) -> bool:
    """The patient records; True when something is left to do."""
    current = keyring.current_id
    print(
        f"Re-encrypting patient data with the current key {current!r}: {total} patient "
        f"record(s) still use an older key. Batches of {batch_size}; the application keeps "
        "running, and you can stop and re-run this at any time."
    )

    def show(p: RotationProgress) -> None:
        print(f"  batch {p.batch}: {p.rows_done} of {p.rows_total} patient records done")

    try:
        report = rotate_keys(factory, keyring, batch_size=batch_size, progress=show)
    except (KeyringError, DecryptionError) as exc:
        print(f"Rotation stopped: {exc}", file=sys.stderr)
        print("Batches already done are kept; fix the keyring and run it again.", file=sys.stderr)
        return True
    print(
        f"Done: {report.rows_rotated} patient record(s) ({report.values_rotated} values) "
        f"re-encrypted with key {current!r} in {report.batches} batch(es)."
    )
    _record_rotation(factory, report, current)
    if report.rows_remaining:
        print(
            f"{report.rows_remaining} record(s) were written with an older key while this "
            "ran (a process still has the old keyring first?): run it again.",
        )
        return True
    return False
