"""Benchmark: vital signs through POST /api/v1/vitals, scored by the triage worker.

Starts its own embedded Postgres and Redis, the prod web app and N non-forking triage
workers (all on this machine, like the load generator), then measures:

1. sustained ingestion: batches of 500 readings posted back to back for --seconds by
   --clients concurrent connections (gateways); readings per second accepted (202) and per
   second fully stored AND scored (the dirty set drained);
2. P0 latency: while background load streams --background readings/s, a heart rate of 0 is
   posted for a patient every second; from its HTTP 202 to the arrest incident's change
   event on Redis (published after the incident's commit), p50 / p99.

The web app runs --web-workers processes (default 2, the `healthguard up` default).

Run:  .venv/bin/python bench/clinical_pipeline.py [--seconds 20] [--workers 2] [--clients 4]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
BATCH = 500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def batch(patients: list[str], start: datetime, n: int, offset: int, interval: float = 1.0) -> dict:
    """n readings over the patients, 5 per observation item. Item k goes to patient
    k mod P at start + (k div P) * interval seconds: like P monitors each sending a set of
    numerics every `interval` seconds; recent (inside the rules' look-back, so the scoring
    really evaluates them) and never a replay."""
    items = []
    per_item = 5
    for i in range(n // per_item):
        k = offset // per_item + i
        items.append(
            {
                "patient": patients[k % len(patients)],
                "observed_at": (
                    start + timedelta(seconds=interval * (k // len(patients)))
                ).isoformat(),
                "source": "bench-gw",
                "values": {
                    "heart_rate": 70 + k % 20,
                    "spo2": 96 + k % 3,
                    "resp_rate": 14 + k % 4,
                    "systolic_bp": 120 + k % 10,
                    "temperature_c": 36.8,
                },
            }
        )
    return {"observations": items}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="triage workers")
    parser.add_argument(
        "--urgent-workers", type=int, default=1, help="urgent-lane workers (arrests only)"
    )
    parser.add_argument("--background", type=int, default=2000, help="readings/s during P0")
    parser.add_argument("--p0-samples", type=int, default=30)
    parser.add_argument("--clients", type=int, default=4, help="concurrent posting connections")
    parser.add_argument(
        "--rate", type=float, default=0, help="readings/s to post (0: as fast as accepted)"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--patients", type=int, default=2000, help="monitored patients (demo ones + created)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between one patient's readings"
    )
    parser.add_argument(
        "--prefill-minutes",
        type=float,
        default=0,
        help="store this much history per patient first (steady state: 16 fills the look-back)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=0,
        help="post at --rate this long first, unmeasured, and wait for scoring to catch up "
        "(the triage workers load every patient's history once)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from testsupport import create_database

    from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, wait_until

    data = Path(tempfile.mkdtemp(prefix="hg-bench-"))
    pg, rd = EmbeddedPostgres(data, free_port()), EmbeddedRedis(data, free_port())
    pg.start()
    rd.start()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=create_database(pg.url("postgres")),
        REDIS_URL=rd.url(),
        HEALTHGUARD_MODE="demo",
        HEALTHGUARD_DATA_DIR=str(data),
        HEALTHGUARD_WEB_PORT=str(free_port()),
        HEALTHGUARD_WEB_WORKERS=str(args.web_workers),
    )
    os.environ.update(
        {
            k: env[k]
            for k in ("DATABASE_URL", "REDIS_URL", "HEALTHGUARD_MODE", "HEALTHGUARD_DATA_DIR")
        }
    )
    hg = str(Path(sys.executable).parent / "healthguard")
    for command in ("migrate", "seed"):
        subprocess.run([hg, command], env=env, check=True, stdout=subprocess.DEVNULL)

    from sqlmodel import select

    from healthguard.db import session_scope
    from healthguard.models import Admission
    from healthguard.security.accounts import Origin, create_api_key

    with session_scope() as session:
        _, key = create_api_key(
            session,
            name="bench",
            scopes=["ingest:vitals"],
            created_by="bench",
            now=datetime.now(UTC),
            origin=Origin(),
        )
        patients = [str(a.patient_id) for a in session.exec(select(Admission)).all()]
        patients += _create_patients(session, max(0, args.patients - len(patients)))
    log = open(data / "processes.log", "wb")  # noqa: SIM115
    children = [
        subprocess.Popen(
            [hg, "web"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    children += [
        subprocess.Popen(
            [hg, "worker", "--triage"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(args.workers)
    ]
    children += [
        subprocess.Popen(
            [hg, "worker", "--urgent"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(args.urgent_workers)
    ]
    base = f"http://127.0.0.1:{env['HEALTHGUARD_WEB_PORT']}"
    headers = {"X-API-Key": key}
    client = redis.Redis.from_url(rd.url())
    try:
        wait_until(lambda: _ready(base), 900, interval=0.5)
        http = httpx.Client(base_url=base, headers=headers, timeout=60)
        # Timestamps start in the past and advance `interval` per round of all patients: at
        # 2,000 patients and 1 s, 10,000 readings/s keep pace with the clock.
        start = datetime.now(UTC) - timedelta(seconds=max(60.0, args.seconds + args.warmup_seconds))
        if args.prefill_minutes:
            _prefill(patients, start, args.prefill_minutes, args.interval)
        base_offset = 0
        if args.warmup_seconds:
            base_offset = _warm_up(base, headers, patients, start, args, client, wait_until)

        # 1. sustained ingestion, fully scored
        counter = [base_offset]
        lock = threading.Lock()
        t0 = time.perf_counter()

        def post_batches() -> None:
            poster = httpx.Client(base_url=base, headers=headers, timeout=60)
            while time.perf_counter() - t0 < args.seconds:
                with lock:
                    offset = counter[0]
                    counter[0] += BATCH
                if args.rate:  # paced: batch number n leaves at n * BATCH / rate
                    due = t0 + (offset - base_offset) / args.rate
                    time.sleep(max(0.0, due - time.perf_counter()))
                response = poster.post(
                    "/api/v1/vitals", json=batch(patients, start, BATCH, offset, args.interval)
                )
                assert response.status_code == 202, response.text

        posters = [threading.Thread(target=post_batches) for _ in range(args.clients)]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join()
        sent = counter[0] - base_offset
        accepted_s = time.perf_counter() - t0
        drained = wait_until(
            lambda: (
                client.scard("healthguard:triage:dirty") == 0
                and client.zcard("healthguard:triage:processing") == 0
                and not client.exists("healthguard:triage:pending")
            ),
            300,
            interval=0.05,
        )
        scored_s = time.perf_counter() - t0
        backlog_s = scored_s - accepted_s
        print(
            f"ingestion: {sent} readings in batches of {BATCH}, {args.clients} connections, "
            f"{args.web_workers} web workers, {args.workers} triage workers, "
            f"{args.urgent_workers} urgent-lane workers"
        )
        print(f"  accepted (202, stored in Postgres): {sent / accepted_s:8.0f} readings/s")
        print(
            f"  stored and scored (queue drained):  {sent / scored_s:8.0f} readings/s"
            f"{'' if drained else '  (NOT drained within 300 s)'}"
        )
        print(f"  scoring finished {backlog_s:.1f} s after the last batch was accepted")

        # 2. P0 latency under background load
        stop = threading.Event()
        offset = [counter[0]]

        def background() -> None:
            bg = httpx.Client(base_url=base, headers=headers, timeout=60)
            per_batch = BATCH
            interval = per_batch / args.background
            next_at = time.perf_counter()
            while not stop.is_set():
                bg.post(
                    "/api/v1/vitals",
                    json=batch(patients[1:], start, per_batch, offset[0], args.interval),
                )
                offset[0] += per_batch
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))

        events: dict[str, float] = {}
        pubsub = client.pubsub()
        pubsub.subscribe("healthguard:changes")

        def listen() -> None:
            while not stop.is_set():
                message = pubsub.get_message(timeout=0.1)
                if message and message["type"] == "message":
                    event = json.loads(message["data"])
                    if event["kind"] in ("incident.opened", "incident.updated"):
                        events.setdefault(event["entity_id"], time.perf_counter())

        threads = [threading.Thread(target=background), threading.Thread(target=listen)]
        for t in threads:
            t.start()
        victim = patients[0]
        latencies = []
        p0_started = time.perf_counter()
        for i in range(args.p0_samples):
            _resolve_arrest(victim)
            at = datetime.now(UTC)
            body = {
                "observations": [
                    {
                        "patient": victim,
                        "observed_at": at.isoformat(),
                        "source": f"p0-{i}",
                        "values": {"heart_rate": 0},
                    }
                ]
            }
            response = http.post("/api/v1/vitals", json=body)
            accepted = time.perf_counter()
            assert response.status_code == 202, response.text
            incident_id = _wait_incident(victim)
            if incident_id and wait_until(lambda i=incident_id: i in events, 10, 0.01):
                latencies.append((events[incident_id] - accepted) * 1000)
            time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(10)
        bg_rate = (offset[0] - counter[0]) / max(1.0, time.perf_counter() - p0_started)
        print(
            f"P0 latency, 202 -> incident committed and published, {len(latencies)} samples, "
            f"background ~{bg_rate:.0f} readings/s posted:"
        )
        if latencies:
            print(
                f"  p50 {statistics.median(latencies):7.1f} ms   p99 {pct(latencies, 0.99):7.1f} ms"
                f"   max {max(latencies):7.1f} ms"
            )
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:  # a triage worker finishing a long drain
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(30)
        rd.stop()
        pg.stop()
    return 0


def _prefill(patients: list[str], start: datetime, minutes: float, interval: float) -> None:
    """History before `start` for every patient, written by Postgres itself (generate_series):
    the look-back full from the first scoring on, as at steady state."""
    import sqlalchemy as sa

    from healthguard.db import session_scope

    t = time.perf_counter()
    total = 0
    chunk = timedelta(minutes=1)
    at = start - timedelta(minutes=minutes)
    while at < start:
        upto = min(start, at + chunk)
        with session_scope() as session:
            result = session.execute(
                sa.text(
                    """
                    INSERT INTO observations
                        (patient_id, parameter, value, unit, source, observed_at, received_at)
                    SELECT CAST(p AS uuid), v.parameter,
                           v.value + (CAST(extract(epoch FROM ts) AS int) % 7), v.unit,
                           'bench-gw', ts, ts
                    FROM unnest(CAST(:patients AS text[])) AS p,
                         generate_series(CAST(:lo AS timestamptz), CAST(:hi AS timestamptz)
                                         - interval '1 microsecond',
                                         make_interval(secs => :step)) AS ts,
                         (VALUES ('heart_rate', 72.0, '/min'), ('spo2', 95.0, '%'),
                                 ('resp_rate', 15.0, '/min'), ('systolic_bp', 120.0, 'mmHg'),
                                 ('temperature_c', 36.8, 'Cel')) AS v(parameter, value, unit)
                    """
                ),
                {"patients": patients, "lo": at, "hi": upto, "step": interval},
            )
            total += result.rowcount or 0
        at = upto
    print(
        f"prefill: {total} readings ({len(patients)} patients x {minutes:g} min) "
        f"in {time.perf_counter() - t:.0f} s"
    )


def _warm_up(
    base: str,
    headers: dict[str, str],
    patients: list[str],
    start: datetime,
    args: argparse.Namespace,
    client: redis.Redis,
    wait_until: object,
) -> int:
    """Post at --rate for --warmup-seconds, unmeasured, then wait until scoring caught up.
    Returns the offset the measured phase continues from."""
    rate = args.rate or 10000
    t0 = time.perf_counter()
    offset = 0
    poster = httpx.Client(base_url=base, headers=headers, timeout=60)
    while time.perf_counter() - t0 < args.warmup_seconds:
        time.sleep(max(0.0, t0 + offset / rate - time.perf_counter()))
        response = poster.post(
            "/api/v1/vitals", json=batch(patients, start, BATCH, offset, args.interval)
        )
        assert response.status_code == 202, response.text
        offset += BATCH
    posted = time.perf_counter() - t0
    wait_until(  # type: ignore[operator]
        lambda: (
            client.scard("healthguard:triage:dirty") == 0
            and client.zcard("healthguard:triage:processing") == 0
            and not client.exists("healthguard:triage:pending")
        ),
        900,
        interval=0.2,
    )
    print(
        f"warm-up: {offset} readings posted in {posted:.0f} s at {rate:g}/s, scoring caught up "
        f"{time.perf_counter() - t0 - posted:.0f} s after the last"
    )
    return offset


def _create_patients(session: object, count: int) -> list[str]:
    """`count` more patients (not admitted to a bed: scoring does not need one)."""
    from datetime import date

    from healthguard.patients.phi import (
        PatientIdentity,
        index_key_from_settings,
        keyring_from_settings,
        new_patient,
    )

    keyring, index_key = keyring_from_settings(), index_key_from_settings()
    made = []
    for i in range(count):
        identity = PatientIdentity(
            mrn=f"BENCH{i:06d}", family_name="Bench", given_name=f"P{i}",
            date_of_birth=date(1950, 1, 1),
        )  # fmt: skip
        patient = new_patient(identity, keyring, index_key)
        session.add(patient)  # type: ignore[attr-defined]
        made.append(str(patient.id))
    session.flush()  # type: ignore[attr-defined]
    return made


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _resolve_arrest(patient: str) -> None:
    from sqlmodel import col, select

    from healthguard.db import session_scope
    from healthguard.models import Incident

    with session_scope() as session:
        for incident in session.exec(
            select(Incident).where(
                Incident.dedup_key == f"{patient}:arrest", col(Incident.status) != "resolved"
            )
        ):
            incident.status, incident.resolved_at = "resolved", datetime.now(UTC)
            session.add(incident)


def _wait_incident(patient: str) -> str | None:
    from sqlmodel import col, select

    from healthguard.db import session_scope
    from healthguard.models import Incident
    from healthguard.runtime.embedded import wait_until

    found: list[str] = []

    def check() -> bool:
        with session_scope() as session:
            row = session.exec(
                select(Incident).where(
                    Incident.dedup_key == f"{patient}:arrest", col(Incident.status) != "resolved"
                )
            ).first()
        if row is not None:
            found.append(str(row.id))
        return row is not None

    wait_until(check, 10, 0.01)
    return found[0] if found else None


if __name__ == "__main__":
    sys.exit(main())
