"""Ingestion throughput: store_readings (bulk, idempotent) and the MLLP listener.

Starts an embedded Postgres and Redis in a temporary folder (or uses DATABASE_URL and
REDIS_URL; scoring requests go to Redis, no worker drains them here), migrates, seeds the
demo data, then prints:
- store_readings: 10,000 readings in one call (and in batches of 500), readings/s;
- MLLP: ORU^R01 messages/s (6 OBX each) over 1 and over 10 concurrent connections, each
  message parsed, stored, committed and ACKed AA before the next on its connection.

    .venv/bin/python bench/ingest_throughput.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import socket
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from testsupport import create_database, env_override, free_port  # noqa: E402

from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402

SAMPLE = (ROOT / "tests" / "data" / "oru_r01_sample.hl7").read_text()


def bench_store(pids: list[uuid.UUID]) -> None:
    from healthguard.clinical.vitals import Reading
    from healthguard.db import session_scope
    from healthguard.ingest.store import store_readings

    base = datetime.now(UTC) - timedelta(days=1)
    params = [
        ("heart_rate", "/min"),
        ("spo2", "%"),
        ("resp_rate", "/min"),
        ("systolic_bp", "mm[Hg]"),
        ("diastolic_bp", "mm[Hg]"),
        ("temperature_c", "Cel"),
    ]

    def batch(n: int, offset: int) -> list[Reading]:
        return [
            Reading(
                pids[i % len(pids)],
                params[i % 6][0],
                80.0,
                None,
                params[i % 6][1],
                "bench-store",
                base + timedelta(seconds=offset + i),
            )
            for i in range(n)
        ]

    for label, size, calls in (("one call of 10,000", 10_000, 1), ("20 calls of 500", 500, 20)):
        readings = [batch(size, 1_000_000 * (size + k)) for k in range(calls)]
        start = time.perf_counter()
        stored = 0
        for chunk in readings:
            with session_scope() as session:
                stored += len(store_readings(session, chunk, datetime.now(UTC)))
        elapsed = time.perf_counter() - start
        print(
            f"store_readings, {label}: {stored} stored in {elapsed * 1000:.0f} ms "
            f"= {stored / elapsed:,.0f} readings/s"
        )
    replay = readings[-1]
    start = time.perf_counter()
    with session_scope() as session:
        again = len(store_readings(session, replay, datetime.now(UTC)))
    print(
        f"store_readings, replay of 500: {again} stored in "
        f"{(time.perf_counter() - start) * 1000:.1f} ms"
    )


def message(mrn: str, bed: str, n: int) -> bytes:
    stamp = (datetime.now(UTC) - timedelta(hours=2, seconds=n)).strftime("%Y%m%d%H%M%S+0000")
    text = (
        SAMPLE.replace("MRN1^^^H^MR", f"{mrn}^^^H^MR")
        .replace("W7^^B12", bed)
        .replace("20250101120000+0000", stamp)
        .replace("|M1|P|", f"|B{n}|P|")
    )
    return b"\x0b" + text.replace("\n", "\r").encode() + b"\x1c\r"


def sender(port: int, payloads: list[bytes]) -> int:
    ok = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for payload in payloads:
            sock.sendall(payload)
            data = b""
            while not data.endswith(b"\x1c\r"):
                data += sock.recv(65536)
            ok += b"MSA|AA|" in data
    return ok


def bench_mllp(count: int) -> None:
    from healthguard.ingest.mllp import background_mllp_server
    from healthguard.settings import get_settings

    with background_mllp_server(get_settings()) as server:
        for connections in (1, 10):
            offset = connections * 1_000_000
            payloads = [message("HG100001", "CARD^^B1", offset + i) for i in range(count)]
            shares = [payloads[i::connections] for i in range(connections)]
            start = time.perf_counter()
            with ThreadPoolExecutor(connections) as pool:
                ok = sum(pool.map(lambda s: sender(server.port, s), shares))
            elapsed = time.perf_counter() - start
            print(
                f"MLLP, {connections:2d} connection(s): {ok}/{count} AA in {elapsed:.2f} s "
                f"= {count / elapsed:,.0f} messages/s ({6 * count / elapsed:,.0f} readings/s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hg-bench-ingest-") as folder:
        server = None
        redis_server = None
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server = EmbeddedRedis(Path(folder), free_port())
            redis_server.start()
            redis_url = redis_server.url()
        url = os.environ.get("DATABASE_URL")
        if not url:
            server = EmbeddedPostgres(Path(folder), free_port())
            server.start()
            url = server.url("postgres")
        try:
            db = create_database(url, prefix="bench")
            env = {
                "DATABASE_URL": db,
                "REDIS_URL": redis_url,
                "HEALTHGUARD_MODE": "demo",
                "HEALTHGUARD_SECRET_KEY": secrets.token_urlsafe(48),
                "HEALTHGUARD_PHI_KEYRING": "b1="
                + base64.b64encode(secrets.token_bytes(32)).decode(),
                "HEALTHGUARD_BLIND_INDEX_KEY": secrets.token_urlsafe(48),
                "HEALTHGUARD_DATA_DIR": folder,
            }
            with env_override(**env):
                from sqlmodel import select

                from healthguard.db import session_scope
                from healthguard.migrations import upgrade_to_head
                from healthguard.models import Patient
                from healthguard.seed import seed_demo_data

                upgrade_to_head(db)
                with session_scope() as session:
                    seed_demo_data(session, datetime.now(UTC))
                with session_scope() as session:
                    pids = [p for p in session.exec(select(Patient.id)).all() if p]
                bench_store(pids)
                bench_mllp(args.messages)
        finally:
            if server is not None:
                server.stop()
            if redis_server is not None:
                redis_server.stop()


if __name__ == "__main__":
    main()
