"""Benchmark: one refresh of the dashboard's key-metrics panel with 8 days of incidents.

Starts its own embedded Postgres (temporary folder, free loopback port), migrates and seeds
the demo hospital, then writes ``--per-day`` incidents a day over the last 8 days, spread
over every ward, each with a realistic timeline (opened, acknowledged, started, sometimes
escalated, notification events, resolved; one in eight a false alarm; the youngest still
open). Then it times what one panel refresh does on the server,
``healthguard.ui.states.key_metrics.load_key_metrics`` (ward scope, the two metrics queries,
the figures), for a charge nurse's ward and for a physician's whole hospital, and counts the
SQL statements of one refresh: "loaded" reads the incidents every time (the first screen of
a ward in a 10 s window), "shared" is every other screen of that ward in the window (the
scope check only).

Run:  .venv/bin/python bench/key_metrics_refresh.py [--per-day 300] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAYS = 8
MAX_PER_DAY = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepare(data_dir: Path, database_url: str, per_day: int, now: datetime) -> tuple[int, int]:
    """Migrate, seed, write the incidents; (incidents, timeline events) written."""
    os.environ.update(
        DATABASE_URL=database_url, HEALTHGUARD_MODE="demo", HEALTHGUARD_DATA_DIR=str(data_dir)
    )
    import sqlalchemy as sa

    from healthguard.db import dispose_engines, session_scope
    from healthguard.migrations import upgrade_to_head
    from healthguard.models import Incident, IncidentEvent, Ward
    from healthguard.seed import seed_demo_data
    from healthguard.settings import get_settings

    get_settings.cache_clear()
    dispose_engines()
    upgrade_to_head(database_url)
    rng = random.Random(7)
    with session_scope() as session:
        seed_demo_data(session, now)
        ward_ids = [w.id for w in session.exec(sa.select(Ward)).scalars()]  # type: ignore[call-overload]
    incidents: list[dict] = []
    events: list[dict] = []
    for i in range(per_day * DAYS):
        opened = now - timedelta(seconds=rng.uniform(60, DAYS * 86400))
        incident_id = uuid.uuid4()
        priority = rng.choices(["P0", "P1", "P2", "P3"], weights=[1, 10, 40, 20])[0]
        timeline = [(0.0, "opened", {})]
        t = rng.uniform(20, 400)
        timeline.append((t, "acknowledged", {}))
        for n in range(rng.randint(1, 4)):
            timeline.append((n * 2.0, "notification.sent", {"notification_id": f"{i}-{n}"}))
            timeline.append(
                (n * 2.0 + 3, "notification.delivered", {"notification_id": f"{i}-{n}"})
            )
        if rng.random() < 0.2:
            timeline.append((t / 2, "escalated", {"step": 1}))
        timeline.append((t + rng.uniform(30, 300), "started", {}))
        young = (now - opened) < timedelta(hours=1)
        if not young:
            reason = "false_alarm" if rng.random() < 0.125 else "treated"
            timeline.append((t + rng.uniform(600, 5400), "resolved", {"reason": reason}))
        incidents.append(
            {
                "id": incident_id,
                "title": f"Bench incident {i}",
                "summary": "",
                "priority": priority,
                "status": "triggered" if young else "resolved",
                "ward_id": rng.choice(ward_ids),
                "source": "bench",
                "escalation_step": 0,
                "version": 1,
                "opened_at": opened,
                "updated_at": opened,
                "reopened_count": 0,
            }
        )
        events.extend(
            {
                "incident_id": incident_id,
                "at": opened + timedelta(seconds=s),
                "kind": kind,
                "actor": "bench",
                "message": "",
                "data": data,
            }
            for s, kind, data in timeline
        )
    with session_scope() as session:
        session.execute(sa.insert(Incident.__table__), incidents)  # type: ignore[attr-defined]
        session.execute(sa.insert(IncidentEvent.__table__), events)  # type: ignore[attr-defined]
    with session_scope() as session:
        session.execute(sa.text("ANALYZE incidents; ANALYZE incident_events"))
    return len(incidents), len(events)


def run(repeat: int, now: datetime) -> list[tuple[str, list[float], int, int]]:
    import sqlalchemy as sa
    from sqlmodel import select

    from healthguard.db import get_engine, session_scope
    from healthguard.models import User
    from healthguard.security.accounts import principal_of
    from healthguard.ui.states.key_metrics import load_key_metrics

    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    sa.event.listen(get_engine(), "before_cursor_execute", count)
    results = []
    for label, username, ward in (
        ("charge nurse, ward CARD", "charge.card", "CARD"),
        ("physician, all wards", "dr.attending", "ALL"),
    ):
        with session_scope() as session:
            user = session.exec(select(User).where(User.username == username)).one()
            principal = principal_of(user)
        for _ in range(3):  # warm-up
            load_key_metrics(principal, ward, now, max_age=0)
        for cached, max_age in (("loaded", 0.0), ("shared", 3600.0)):
            statements = 0
            view = load_key_metrics(principal, ward, now, max_age=max_age)
            per_refresh = statements
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                load_key_metrics(principal, ward, now, max_age=max_age)
                times.append((time.perf_counter() - started) * 1000)
            results.append((f"{label}, {cached}", times, per_refresh, view.incidents_24h))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-day", type=int, default=300, help="incidents a day, hospital-wide")
    parser.add_argument("--repeat", type=int, default=30, help="timed refreshes per case")
    args = parser.parse_args()
    per_day = max(1, min(args.per_day, MAX_PER_DAY))
    repeat = max(1, args.repeat)

    from healthguard.runtime.embedded import EmbeddedPostgres

    data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-metrics-"))
    pg = EmbeddedPostgres(data_dir, free_port())
    now = datetime.now(UTC)
    try:
        pg.start()
        incidents, events = prepare(data_dir, pg.url(), per_day, now)
        results = run(repeat, now)
    finally:
        from healthguard.db import dispose_engines

        dispose_engines()
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"Key-metrics refresh (load_key_metrics), {incidents} incidents over {DAYS} days "
        f"({per_day} a day), {events} timeline events; {repeat} refreshes per case"
    )
    header = f"{'who':<34} {'SQL/refresh':>11} {'24 h':>6} {'median ms':>10} {'p90 ms':>8}"
    print(header)
    print("-" * len(header))
    for label, times, statements, loaded in results:
        print(
            f"{label:<34} {statements:>11} {loaded:>6} {statistics.median(times):>10.1f} "
            f"{percentile(times, 0.9):>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
