"""Benchmark: the cost of encrypting patient data at rest.

One row = one patient identity of 6 encrypted fields (MRN, family name, given name, date of
birth, allergies, notes; AES-256-GCM, one nonce each) plus the MRN blind index (HMAC-SHA256).

  pure crypto      write_identity / read_identity on in-memory Patient objects
  through Postgres insert N patients (encrypting, batches of 500, one commit per batch) and
                   select them all back (decrypting); the select is also timed without
                   decrypting, and the insert without encrypting (tokens made beforehand),
                   to show what the database itself costs

Starts its own embedded Postgres (temporary folder, free port) unless --database-url is given
(a scratch database is created there and dropped afterwards). Prints rows per second.
Run:  .venv/bin/python bench/phi_crypto.py [--rows 5000] [--db-rows 2000]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healthguard.migrations import upgrade_to_head  # noqa: E402
from healthguard.models import Patient  # noqa: E402
from healthguard.patients.phi import (  # noqa: E402
    ENCRYPTED_FIELDS,
    PatientIdentity,
    new_patient,
    read_identity,
    write_identity,
)
from healthguard.runtime.embedded import EmbeddedPostgres  # noqa: E402
from healthguard.security.crypto import (  # noqa: E402
    Keyring,
    blind_index,
    decrypt,
    encrypt,
    new_key_entry,
)

MAX_ROWS = 200_000
MAX_DB_ROWS = 50_000
BATCH = 500
NOTES = (
    "Community-acquired pneumonia, day 1 of IV antibiotics (levofloxacin). Deteriorating "
    "over the last two hours: sepsis screen positive."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def identity(i: int) -> PatientIdentity:
    return PatientIdentity(
        mrn=f"BENCH{i:07d}",
        family_name=f"Family{i}",
        given_name=f"Given{i}",
        date_of_birth=date(1940 + i % 60, 1 + i % 12, 1 + i % 28),
        allergies="Penicillin (anaphylaxis)",
        notes=NOTES,
    )


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    """Median wall time of ``runs`` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_pure(rows: int, keyring: Keyring, index_key: str) -> None:
    identities = [identity(i) for i in range(rows)]
    patients = [new_patient(who, keyring, index_key) for who in identities]

    def enc() -> None:
        for patient, who in zip(patients, identities, strict=True):
            write_identity(patient, who, keyring, index_key)

    def dec() -> None:
        for patient in patients:
            read_identity(patient, keyring)

    plain = [
        [(f, str(getattr(who, f)), f"patients.{f}:{uuid.uuid4()}") for f in ENCRYPTED_FIELDS]
        for who in identities
    ]
    tokens: list[list[str]] = []

    def enc_tokens() -> None:
        tokens.clear()
        for row in plain:
            tokens.append([encrypt(keyring, text, aad) for _, text, aad in row])
            blind_index(index_key, row[0][1])

    def dec_tokens() -> None:
        for row, sealed in zip(plain, tokens, strict=True):
            for (_, _, aad), token in zip(row, sealed, strict=True):
                decrypt(keyring, token, aad)

    print(f"pure crypto, {rows} rows x 6 fields (median of 3 runs):")
    for label, fn in (
        ("encrypt (tokens + blind index)", enc_tokens),
        ("decrypt (tokens)", dec_tokens),
        ("write_identity (Patient object)", enc),
        ("read_identity (Patient object)", dec),
    ):
        t = best_of(3, fn)
        print(f"  {label:<32} {rows / t:>10,.0f} rows/s  ({t / rows * 1e6:6.1f} us/row)")


def bench_db(url: str, rows: int, keyring: Keyring, index_key: str) -> None:
    upgrade_to_head(url)
    engine = sa.create_engine(url, poolclass=NullPool)
    table = Patient.__table__  # type: ignore[attr-defined]
    try:
        columns = ("id", "mrn_index", *ENCRYPTED_FIELDS.values())

        def insert_encrypting() -> None:
            for first in range(0, rows, BATCH):
                with Session(engine) as session:
                    for i in range(first, min(rows, first + BATCH)):
                        session.add(new_patient(identity(i), keyring, index_key))
                    session.commit()

        # The same rows with values encrypted beforehand: the database's share.
        prepared: list[dict[str, Any]] = []
        for i in range(rows):
            patient = new_patient(identity(i), keyring, index_key)
            prepared.append({c: getattr(patient, c) for c in (*columns, "sex", "spo2_scale")})

        def insert_prepared() -> None:
            for first in range(0, rows, BATCH):
                with Session(engine) as session:
                    for values in prepared[first : first + BATCH]:
                        session.add(Patient.model_validate(values))
                    session.commit()

        def empty() -> None:
            with engine.begin() as conn:
                conn.execute(sa.delete(table))

        t_insert: list[float] = []
        t_insert_plain: list[float] = []
        for round_ in range(3):  # interleaved, median of 3 (the last set stays for selects)
            t_insert_plain.append(best_of(1, insert_prepared))
            empty()
            t_insert.append(best_of(1, insert_encrypting))
            if round_ < 2:
                empty()

        def select_only() -> int:
            with Session(engine) as session:
                return len(session.exec(select(Patient)).all())

        def select_decrypt() -> int:
            with Session(engine) as session:
                return len([read_identity(p, keyring) for p in session.exec(select(Patient))])

        assert select_only() == rows
        t_select = best_of(3, select_only)
        t_select_dec = best_of(3, select_decrypt)
    finally:
        engine.dispose()
    print(f"through Postgres, {rows} patients (insert in batches of {BATCH}):")
    for label, t in (
        ("insert + encrypt", statistics.median(t_insert)),
        ("insert, pre-encrypted (database)", statistics.median(t_insert_plain)),
        ("select + decrypt", t_select_dec),
        ("select only (database)", t_select),
    ):
        print(f"  {label:<32} {rows / t:>10,.0f} rows/s  ({t / rows * 1e6:6.1f} us/row)")
    print("  (median of 3 runs each)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help=f"pure crypto rows (<= {MAX_ROWS})")
    parser.add_argument(
        "--db-rows", type=int, default=2000, help=f"patients through Postgres (<= {MAX_DB_ROWS})"
    )
    parser.add_argument("--database-url", help="a Postgres server URL (scratch db created)")
    args = parser.parse_args()
    rows = max(1, min(args.rows, MAX_ROWS))
    db_rows = max(0, min(args.db_rows, MAX_DB_ROWS))  # 0: pure crypto only

    keyring = Keyring.parse(new_key_entry("bench"))
    index_key = "bench-blind-index-key"
    bench_pure(rows, keyring, index_key)
    if db_rows == 0:
        return 0

    import psycopg

    data_dir: Path | None = None
    server: EmbeddedPostgres | None = None
    if args.database_url:
        server_url = sa.engine.make_url(args.database_url)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-phi-"))
        server = EmbeddedPostgres(data_dir, free_port())
        server.start()
        server_url = sa.engine.make_url(server.url("postgres"))
    name = f"bench_phi_{uuid.uuid4().hex[:8]}"
    admin = server_url.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = server_url.set(drivername="postgresql+psycopg", database=name)
        bench_db(url.render_as_string(hide_password=False), db_rows, keyring, index_key)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
