"""Benchmark: assigning an incident, database included, and the pure ranking alone.

Starts its own embedded Postgres (temporary folder, free loopback port), migrates it and
builds a hospital of ``--staff`` people (default 500) over ``--wards`` wards (default 20):
nurses, charge nurses, residents, attendings (a home ward each), a rapid-response team and
operators (hospital-wide); skills with expiry dates (some expired), covered wards, shifts from
yesterday to tomorrow (about half on shift now), availability (some busy or on a break), last
assignment times; and ``--open`` open incidents (default 50) held by nurses.

Then ``--runs`` times (default 300, after 20 warm-up runs not counted), for a random ward and
priority: a new incident is inserted (not timed), then
  assign_incident     ``healthguard.oncall.assign_service.assign_incident``: the five roster
                      queries, the ranking, the assignee, ``last_assigned_at`` and the
                      timeline entry, flushed (the transaction is then rolled back, so the
                      hospital stays the same run after run);
  load_candidates     the roster queries alone;
  rank_candidates     the pure ranking alone, on the candidates loaded.
Prints p50 / p99 / mean / max of each and the candidates per ward. Bounded: --runs
iterations; loopback only.

Run:  .venv/bin/python bench/assignment.py [--staff 500] [--open 50] [--runs 300]

Figures (shared 2-core machine, other engineers' test suites running at the same time, load
average 0.7-1.3, so only indicative; 53 candidates per ward on average):
  .venv/bin/python bench/assignment.py
                   p50       p99       mean      max
  assign_incident  13.1 ms   21.0 ms   13.8 ms   22.8 ms   (18.0 / 36.7 / 19.0 / 40.1 ms
  load_candidates   8.7 ms   15.4 ms    9.6 ms  118.2 ms    in a second, busier run)
  rank_candidates   0.22 ms   0.41 ms   0.23 ms   0.45 ms
  (With one bind parameter per person in the IN lists, assign_incident was 22 ms p50: the
  ids now go as one uuid[] parameter.)
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from healthguard.runtime.embedded import EmbeddedPostgres  # noqa: E402

ROLES = (  # (role, share of the staff, hospital-wide)
    ("nurse", 0.60, False),
    ("charge_nurse", 0.08, False),
    ("resident", 0.12, False),
    ("attending", 0.12, False),
    ("rapid_response", 0.06, True),
    ("operator", 0.02, True),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def report(name: str, values: list[float]) -> None:
    print(
        f"  {name:<16} p50 {percentile(values, 0.5):7.2f} ms   p99 {percentile(values, 0.99):7.2f}"
        f" ms   mean {statistics.fmean(values):7.2f} ms   max {max(values):7.2f} ms"
    )


def build_hospital(args: argparse.Namespace, now: datetime, rng: random.Random) -> list[str]:
    from healthguard.db import session_scope
    from healthguard.models import (
        Incident,
        Shift,
        Staff,
        StaffSkill,
        StaffWardCover,
        Ward,
    )

    today = now.date()
    with session_scope() as session:
        wards = [Ward(code=f"W{w:02d}", name=f"Ward {w}") for w in range(args.wards)]
        session.add_all(wards)
        session.flush()
        nurses: list[Staff] = []
        for n in range(args.staff):
            role, _, hospital_wide = rng.choices(ROLES, [share for _, share, _ in ROLES])[0]
            home = None if hospital_wide else rng.choice(wards)
            availability = rng.choices(["available", "busy", "on_break"], [85, 10, 5])[0]
            staff = Staff(
                display_name=f"Staff {n:04d}",
                role=role,
                home_ward_id=home.id if home else None,
                availability=availability,
                availability_until=(
                    now + timedelta(minutes=rng.randint(-30, 30))
                    if availability != "available"
                    else None
                ),
                last_assigned_at=(
                    now - timedelta(minutes=rng.randint(1, 600)) if rng.random() < 0.7 else None
                ),
            )
            session.add(staff)
            session.flush()
            if role == "nurse":
                nurses.append(staff)
            skills: dict[str, date] = {"BLS": today + timedelta(days=rng.randint(-30, 700))}
            if role != "nurse" or rng.random() < 0.4:
                skills["ACLS"] = today + timedelta(days=rng.randint(-30, 700))
            if rng.random() < 0.2:
                skills["critical_care"] = today + timedelta(days=rng.randint(-30, 700))
            for skill, expires in skills.items():
                session.add(StaffSkill(staff_id=staff.id, skill=skill, expires_on=expires))
            if home is not None and rng.random() < 0.3:
                for ward in rng.sample([w for w in wards if w.id != home.id], rng.randint(1, 2)):
                    session.add(StaffWardCover(staff_id=staff.id, ward_id=ward.id))
            on_now = rng.random() < 0.5
            for day in (-1, 0, 1):
                start = now + timedelta(days=day, hours=-1 if on_now else 2)
                session.add(
                    Shift(
                        staff_id=staff.id,
                        ward_id=home.id if home else None,
                        starts_at=start,
                        ends_at=start + timedelta(hours=12),
                    )
                )
        for i in range(args.open):
            holder = rng.choice(nurses)
            session.add(
                Incident(
                    title=f"open {i}",
                    priority=rng.choice(["P1", "P2", "P3", "P4"]),
                    status="acknowledged",
                    ward_id=holder.home_ward_id,
                    source="bench",
                    assignee_staff_id=holder.id,
                    opened_at=now,
                    updated_at=now,
                )
            )
        return [str(w.id) for w in wards]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--staff", type=int, default=500)
    parser.add_argument("--wards", type=int, default=20)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-assign-"))
    pg = EmbeddedPostgres(data_dir, free_port())
    pg.start()
    os.environ.update(DATABASE_URL=pg.url(), HEALTHGUARD_MODE="demo")
    try:
        import uuid

        from sqlmodel import Session

        from healthguard.db import get_engine
        from healthguard.migrations import upgrade_to_head
        from healthguard.models import Incident
        from healthguard.oncall.assign_service import assign_incident, load_candidates
        from healthguard.oncall.assignment import IncidentNeed, rank_candidates

        upgrade_to_head(pg.url())
        rng = random.Random(args.seed)
        now = datetime.now(UTC)
        ward_ids = build_hospital(args, now, rng)
        print(
            f"hospital: {args.staff} staff, {args.wards} wards, {args.open} open incidents",
            flush=True,
        )

        assign_ms: list[float] = []
        load_ms: list[float] = []
        rank_ms: list[float] = []
        sizes: list[int] = []
        assigned = 0
        engine = get_engine()
        for run in range(20 + args.runs):
            ward_id = uuid.UUID(rng.choice(ward_ids))
            priority = rng.choice(["P0", "P1", "P2", "P3", "P4"])
            with Session(engine) as session:
                incident = Incident(
                    title=f"bench {run}",
                    priority=priority,
                    ward_id=ward_id,
                    source="bench",
                    opened_at=now,
                    updated_at=now,
                )
                session.add(incident)
                session.flush()
                t0 = time.perf_counter()
                ranking = assign_incident(session, incident, now=now)
                t1 = time.perf_counter()
                candidates = load_candidates(session, ward_id, now, exclude_incident=incident.id)
                t2 = time.perf_counter()
                need = IncidentNeed(priority, str(ward_id), "Ward")
                rank_candidates(need, candidates, now, top=3)
                t3 = time.perf_counter()
                session.rollback()
            if run < 20:
                continue
            assign_ms.append((t1 - t0) * 1000)
            load_ms.append((t2 - t1) * 1000)
            rank_ms.append((t3 - t2) * 1000)
            sizes.append(len(candidates))
            assigned += ranking.first is not None
        print(
            f"{args.runs} runs: {assigned} assigned, {args.runs - assigned} to the fallback; "
            f"{statistics.fmean(sizes):.0f} candidates per ward on average "
            f"({min(sizes)}-{max(sizes)})"
        )
        report("assign_incident", assign_ms)
        report("load_candidates", load_ms)
        report("rank_candidates", rank_ms)
        return 0
    finally:
        from healthguard.db import dispose_engines

        dispose_engines()
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
