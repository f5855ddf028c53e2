"""Profile the clinical hot path in-process: parse+store of a 500-reading batch (what
POST /api/v1/vitals does in its worker thread) and one triage drain of the dirty patients.

Starts its own embedded Postgres and Redis, seeds the demo, then runs --batches batches
through `_ingest` and `drain_dirty_patients` under cProfile and prints the top functions by
cumulative time for each, plus per-batch wall times.

Run:  .venv/bin/python bench/profile_pipeline.py [--batches 40] [--top 25] [--patients 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from clinical_pipeline import BATCH, _create_patients, batch, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--drain-every", type=int, default=4, help="batches between drains")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    from testsupport import create_database

    from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis

    data = Path(tempfile.mkdtemp(prefix="hg-profile-"))
    pg, rd = EmbeddedPostgres(data, free_port()), EmbeddedRedis(data, free_port())
    pg.start()
    rd.start()
    try:
        env = {
            "DATABASE_URL": create_database(pg.url("postgres")),
            "REDIS_URL": rd.url(),
            "HEALTHGUARD_MODE": "demo",
            "HEALTHGUARD_DATA_DIR": str(data),
        }
        os.environ.update(env)
        hg = str(Path(sys.executable).parent / "healthguard")
        for command in ("migrate", "seed"):
            subprocess.run([hg, command], env={**os.environ}, check=True, stdout=subprocess.DEVNULL)
        from sqlmodel import select

        from healthguard.api.vitals import _ingest
        from healthguard.db import session_scope
        from healthguard.models import Admission
        from workers import triage
        from workers.queues import redis_connection

        with session_scope() as session:
            patients = [str(a.patient_id) for a in session.exec(select(Admission)).all()]
            patients += _create_patients(session, max(0, args.patients - len(patients)))
        start = datetime.now(UTC) - timedelta(minutes=2)
        client = redis_connection()
        ingest_profile, drain_profile = cProfile.Profile(), cProfile.Profile()
        ingest_times, drain_times = [], []
        for i in range(args.batches):
            body = batch(patients, start, BATCH, i * BATCH, args.interval)
            t = time.perf_counter()
            ingest_profile.runcall(_ingest, body, datetime.now(UTC))
            ingest_times.append(time.perf_counter() - t)
            if (i + 1) % args.drain_every == 0:
                client.delete(triage.PENDING)  # no RQ worker here: drain in-process
                t = time.perf_counter()
                drain_profile.runcall(triage.drain_dirty_patients)
                drain_times.append(time.perf_counter() - t)
        print(f"{len(patients)} patients, {args.batches} batches of {BATCH} readings")
        for name, times in (("ingest", ingest_times), ("drain", drain_times)):
            ms = sorted(t * 1000 for t in times)
            print(f"{name}: median {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms per call")
        for name, profile in (("INGEST", ingest_profile), ("DRAIN", drain_profile)):
            print(f"\n===== {name} (cumulative) =====")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
            print(f"\n===== {name} (own time) =====")
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    finally:
        rd.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
