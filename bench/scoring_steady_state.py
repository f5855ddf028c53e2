"""Scoring cost at steady state: each patient's full look-back of history already stored.

Fills --minutes of history for --patients patients (one set of 5 numerics every --interval
seconds per patient, like a monitor), then times the triage drain of all of them: first
cold (the worker loads each patient's whole look-back), then --rounds times warm (each
patient's history kept by the worker; before each drain every patient gets --new-seconds of
new readings, as between two scorings at steady state). Prints the cost per patient scoring
and what it means: how many patients one triage worker keeps scored within a given lag.

Run:  .venv/bin/python bench/scoring_steady_state.py [--patients 200] [--minutes 16]
      [--interval 1.0] [--rounds 3] [--new-seconds 2] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from clinical_pipeline import _create_patients, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=16.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-seconds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile one drain, top 30")
    args = parser.parse_args()
    from testsupport import create_database

    from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis

    data = Path(tempfile.mkdtemp(prefix="hg-steady-"))
    pg, rd = EmbeddedPostgres(data, free_port()), EmbeddedRedis(data, free_port())
    pg.start()
    rd.start()
    try:
        os.environ.update(
            DATABASE_URL=create_database(pg.url("postgres")),
            REDIS_URL=rd.url(),
            HEALTHGUARD_MODE="demo",
            HEALTHGUARD_DATA_DIR=str(data),
        )
        hg = str(Path(sys.executable).parent / "healthguard")
        subprocess.run([hg, "migrate"], check=True, stdout=subprocess.DEVNULL)
        from healthguard.clinical.vitals import Reading
        from healthguard.db import session_scope
        from healthguard.ingest.store import store_readings
        from workers import triage
        from workers.queues import redis_connection

        with session_scope() as session:
            patients = [
                __import__("uuid").UUID(p) for p in _create_patients(session, args.patients)
            ]
        now = datetime.now(UTC)
        steps = int(args.minutes * 60 / args.interval)
        t0 = time.perf_counter()
        stored = 0
        for step in range(steps):
            at = now - timedelta(seconds=(steps - step) * args.interval)
            batch = [
                Reading(p, name, value + (step % 7), None, "", "mon", at)
                for p in patients
                for name, value in (("heart_rate", 78.0), ("spo2", 94.0), ("resp_rate", 16.0),
                                    ("systolic_bp", 120.0), ("temperature_c", 36.8))
            ]  # fmt: skip
            with session_scope() as session:
                stored += len(store_readings(session, batch, datetime.now(UTC)))
        fill = time.perf_counter() - t0
        print(
            f"history: {stored} readings ({args.patients} patients x {args.minutes:g} min, "
            f"one set every {args.interval:g} s) stored in {fill:.0f} s"
        )
        client = redis_connection()
        triage.FREEZE_AFTER_BATCH = True  # as in the triage worker process (workers/run.py)

        def drain() -> float:
            client.sadd(triage.DIRTY, *(str(p) for p in patients))
            client.delete(triage.PENDING)
            t = time.perf_counter()
            triage.drain_dirty_patients()
            return time.perf_counter() - t

        def new_readings() -> None:
            for second in range(args.new_seconds):
                at = datetime.now(UTC) - timedelta(seconds=args.new_seconds - second)
                batch = [
                    Reading(p, name, value + (second % 7), None, "", "mon", at)
                    for p in patients
                    for name, value in (("heart_rate", 78.0), ("spo2", 94.0),
                                        ("resp_rate", 16.0), ("systolic_bp", 120.0),
                                        ("temperature_c", 36.8))
                ]  # fmt: skip
                with session_scope() as session:
                    store_readings(session, batch, datetime.now(UTC))

        cold = drain()
        times = []
        for _ in range(args.rounds):
            new_readings()
            times.append(drain())
        per = statistics.median(times) / args.patients * 1000
        if args.profile:
            import cProfile
            import pstats

            new_readings()
            client.sadd(triage.DIRTY, *(str(p) for p in patients))
            client.delete(triage.PENDING)
            profile = cProfile.Profile()
            profile.runcall(triage.drain_dirty_patients)
            pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        print(
            f"cold drain of {args.patients} patients (whole look-back loaded): {cold:.2f} s "
            f"({cold / args.patients * 1000:.1f} ms per patient)"
        )
        print(
            f"warm drain, {args.new_seconds} s of new readings per patient: median "
            f"{statistics.median(times):.2f} s ({per:.2f} ms per patient scoring, one triage "
            "worker, uncontended)"
        )
        for lag in (2.0, 5.0, 10.0):
            keep = lag / (per / 1000)
            print(
                f"  patients kept scored within {lag:g} s by one worker: ~{keep:.0f} "
                f"(~{keep * 5 / args.interval:.0f} readings/s at this interval)"
            )
    finally:
        rd.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
