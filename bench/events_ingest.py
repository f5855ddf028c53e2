"""Benchmark: PagerDuty Events API v2 ingestion (POST /v2/enqueue) with dedup at steady
state, and the latency of a nurse's acknowledge under that load.

Starts its own embedded Postgres and Redis (temporary folder, free loopback ports) and the
prod web app (`healthguard web`, --web-workers processes), creates a PagerDuty integration
(no practical rate limit) for the ICU, then, for --seconds, --clients connections post
events back to back (keep-alive, loopback only):

- dedup keys drawn from a bounded set of --keys, so after the first round every trigger is
  a repeat of an open incident (evidence appended, never a second incident); a share of the
  events (--ack-share, --resolve-share) acknowledge and resolve them, so new incidents keep
  being opened for the same keys at steady state;
- events/s accepted (202): each one committed (incident change, timeline entry and its
  `inbound_events` row) before the answer;

and, during that load, one nurse (nurse.icu) acknowledges incidents through
`POST /api/v1/incidents/{id}/acknowledge`, one every --ack-every seconds, on incidents opened
before the load: p50 / p99 / max of that request. (With --pd-ack, the PagerDuty acknowledge
event path is measured too.) At the end, the rows of `inbound_events` are counted against the
202s (nothing accepted is lost).

Every loop is bounded in count and time.

With --wrk the load is posted by wrk (Debian package ``wrk``: apt-get install wrk), a C load
generator, instead of Python threads: the server then has more of the two CPUs.

Run:  .venv/bin/python bench/events_ingest.py [--seconds 20] [--clients 16] [--keys 200]
      [--ack-share 0.02] [--resolve-share 0.02] [--floor 3] [--pd-ack] [--wrk]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NURSE = "nurse.icu"
MAX_ACK_SAMPLES = 1000
IDLE_ACKS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Poster:
    """One keep-alive HTTP/1.1 connection (http.client: cheaper per request than httpx, so
    the load generator leaves more of the machine to the server)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: dict, headers: dict[str, str] | None = None) -> int:
        data = json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.conn.request(
                    "POST",
                    path,
                    body=data,
                    headers={"Content-Type": "application/json", **(headers or {})},
                )
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def event(key: str, action: str, dedup: str) -> dict:
    body: dict = {"routing_key": key, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {
            "summary": f"Bench alert {dedup}",
            "source": "bench-gw",
            "severity": "warning",
            "custom_details": {"value": 42, "unit": "ms"},
        }
    return body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--keys", type=int, default=200, help="distinct dedup keys")
    parser.add_argument("--ack-share", type=float, default=0.02)
    parser.add_argument("--resolve-share", type=float, default=0.02)
    parser.add_argument("--ack-every", type=float, default=0.2, help="seconds between acks")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--rate", type=float, default=0, help="events/s to post in all (0: as fast as accepted)"
    )
    parser.add_argument("--pd-ack", action="store_true", help="also time PagerDuty acks")
    parser.add_argument(
        "--wrk",
        action="store_true",
        help="post the load with wrk (Debian package wrk; a C load generator that leaves "
        "more of the 2 CPUs to the server than Python threads do)",
    )
    parser.add_argument(
        "--floor", type=float, default=0, help="seconds of GET /healthz first (the HTTP floor)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from testsupport import create_database

    from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, wait_until

    data = Path(tempfile.mkdtemp(prefix="hg-bench-events-"))
    pg, rd = EmbeddedPostgres(data, free_port()), EmbeddedRedis(data, free_port())
    pg.start()
    rd.start()
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=create_database(pg.url("postgres")),
        REDIS_URL=rd.url(),
        HEALTHGUARD_MODE="demo",
        HEALTHGUARD_DATA_DIR=str(data),
        HEALTHGUARD_WEB_PORT=str(port),
        HEALTHGUARD_WEB_WORKERS=str(args.web_workers),
        HEALTHGUARD_LOG_LEVEL="warning",
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

    from healthguard.db import session_scope
    from healthguard.integrations import service as svc
    from healthguard.security.accounts import Origin

    with session_scope() as session:
        integration, key = svc.create_integration(
            session,
            name="bench gateway",
            kind="pagerduty",
            created_by="bench",
            now=datetime.now(UTC),
            origin=Origin(),
            default_ward_code="ICU",
            rate_limit_per_minute=svc.MAX_RATE_LIMIT_PER_MINUTE,
        )
        integration_id = integration.id
    log = open(data / "processes.log", "wb")  # noqa: SIM115
    child = subprocess.Popen(
        [hg, "web"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _ready(base), 900, interval=0.5), "the web app did not start"
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            json={"username": NURSE, "password": "healthguard-demo"},
            timeout=30,
        ).json()["access_token"]

        # Incidents for the nurse to acknowledge during the load (opened before it).
        samples = min(MAX_ACK_SAMPLES, int(args.seconds / args.ack_every) + 5) + IDLE_ACKS
        opener = Poster(port)
        for i in range(samples):
            status = opener.post("/v2/enqueue", event(key, "trigger", f"ack-{i}"))
            assert status == 202, status
        ack_ids = _incident_ids(integration_id, [f"ack-{i}" for i in range(samples)])
        if args.pd_ack:
            for i in range(samples):
                assert opener.post("/v2/enqueue", event(key, "trigger", f"pdack-{i}")) == 202

        if args.floor:
            rate = _floor(port, args.clients, args.floor)
            print(f"HTTP floor: GET /healthz (no database) {rate:8.0f} requests/s")

        # Warm-up, not counted: every key of the set triggered once, so the measured load is
        # the steady state (repeats, with the acknowledges and resolves that make new ones).
        warm = Poster(port)
        for i in range(args.keys):
            assert warm.post("/v2/enqueue", event(key, "trigger", f"k{i}")) == 202
        # Every incident opened above made the web workers reload the live dashboard feeds
        # (one reload per change event); let that backlog drain before measuring.
        idle = _wait_idle(port, timeout=300)
        print(f"warm-up: {args.keys} keys opened; web workers idle again: {idle}")

        # The same acknowledge with no load, for comparison.
        idle_acks: list[float] = []
        nurse = Poster(port)
        for incident_id in ack_ids[:IDLE_ACKS]:
            t0 = time.perf_counter()
            status = nurse.post(
                f"/api/v1/incidents/{incident_id}/acknowledge",
                {},
                {"Authorization": f"Bearer {token}"},
            )
            assert status == 200, status
            idle_acks.append((time.perf_counter() - t0) * 1000)
        ack_ids = ack_ids[IDLE_ACKS:]
        idle_acks_done = _wait_idle(port, timeout=120)

        stop_at = time.perf_counter() + args.seconds
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def load(seed: int) -> None:
            rng = random.Random(seed)
            poster = Poster(port)
            local: Counter[int] = Counter()
            interval = args.clients / args.rate if args.rate else 0.0
            next_at = time.perf_counter()
            while time.perf_counter() < stop_at:
                if interval:  # paced: this client's share of --rate
                    next_at += interval
                    time.sleep(max(0.0, next_at - time.perf_counter()))
                roll = rng.random()
                action = (
                    "acknowledge"
                    if roll < args.ack_share
                    else "resolve"
                    if roll < args.ack_share + args.resolve_share
                    else "trigger"
                )
                dedup = f"k{rng.randrange(args.keys)}"
                local[poster.post("/v2/enqueue", event(key, action, dedup))] += 1
            with lock:
                statuses.update(local)

        ack_latencies: list[float] = []
        pd_ack_latencies: list[float] = []
        ack_statuses: Counter[int] = Counter()

        def acknowledge() -> None:
            poster = Poster(port)
            headers = {"Authorization": f"Bearer {token}"}
            next_at = time.perf_counter() + 1.0  # once the load runs
            for i, incident_id in enumerate(ack_ids):
                time.sleep(max(0.0, next_at - time.perf_counter()))
                if time.perf_counter() > stop_at - 0.5:
                    break
                t0 = time.perf_counter()
                status = poster.post(f"/api/v1/incidents/{incident_id}/acknowledge", {}, headers)
                ack_latencies.append((time.perf_counter() - t0) * 1000)
                ack_statuses[status] += 1
                if args.pd_ack:
                    t0 = time.perf_counter()
                    status = poster.post("/v2/enqueue", event(key, "acknowledge", f"pdack-{i}"))
                    pd_ack_latencies.append((time.perf_counter() - t0) * 1000)
                    ack_statuses[status] += 1
                next_at += args.ack_every

        started = time.perf_counter()
        if args.wrk:
            threads = [
                threading.Thread(target=_wrk_load, args=(port, key, args, data, statuses, lock))
            ]
        else:
            threads = [threading.Thread(target=load, args=(n,)) for n in range(args.clients)]
        threads.append(threading.Thread(target=acknowledge))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 120)
        elapsed = time.perf_counter() - started

        accepted = statuses[202]
        print(
            f"PagerDuty Events API v2 (POST /v2/enqueue): {args.clients} connections, "
            f"{args.web_workers} web workers, {args.keys} dedup keys, "
            f"{args.ack_share:.0%} acknowledge / {args.resolve_share:.0%} resolve, "
            f"{f'paced at {args.rate:.0f}/s' if args.rate else 'as fast as accepted'}, "
            f"{elapsed:.1f} s, {os.cpu_count()} CPUs shared by server, Postgres and load"
        )
        print(f"  accepted (202, committed):  {accepted / elapsed:8.0f} events/s  ({accepted})")
        other = {s: n for s, n in statuses.items() if s != 202}
        print(f"  other answers:              {other or 'none'}")
        recorded, outcomes, opened = _recorded(integration_id)
        warmups = args.keys + samples * (2 if args.pd_ack else 1)
        rows = recorded - warmups - ack_statuses.get(202, 0)
        # wrk stops counting answers at its deadline: the requests then in flight are
        # committed but not counted, so with wrk there may be a few more rows than 202s.
        kept = rows >= accepted if args.wrk else rows == accepted
        late = "; wrk does not count the answers after its deadline" if args.wrk else ""
        print(
            f"  inbound_events rows:        {rows} for the load's {accepted} accepted events "
            f"(nothing lost: {kept}{late})"
        )
        print(f"  outcomes (whole run):       {dict(outcomes)}; incidents opened: {opened}")
        print(
            f"POST /api/v1/incidents/{{id}}/acknowledge with no load, {len(idle_acks)} samples: "
            f"p50 {statistics.median(idle_acks):6.1f} ms   p99 {pct(idle_acks, 0.99):6.1f} ms"
            f"{'' if idle_acks_done else ' (web workers not idle afterwards)'}"
        )
        if ack_latencies:
            print(
                f"POST /api/v1/incidents/{{id}}/acknowledge during the load, "
                f"{len(ack_latencies)} samples ({dict(ack_statuses)}):"
            )
            print(
                f"  p50 {statistics.median(ack_latencies):7.1f} ms   "
                f"p99 {pct(ack_latencies, 0.99):7.1f} ms   max {max(ack_latencies):7.1f} ms"
            )
        if pd_ack_latencies:
            print(f"PagerDuty acknowledge event during the load, {len(pd_ack_latencies)} samples:")
            print(
                f"  p50 {statistics.median(pd_ack_latencies):7.1f} ms   "
                f"p99 {pct(pd_ack_latencies, 0.99):7.1f} ms   max {max(pd_ack_latencies):7.1f} ms"
            )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(30)
        rd.stop()
        pg.stop()
    return 0


WRK_SCRIPT = """
local key, keys, ack, resolve = "%(key)s", %(keys)d, %(ack)f, %(resolve)f
counts = {}  -- global: done() reads each thread's with thread:get
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} ; math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
function request()
  local roll, dedup = math.random(), "k" .. math.random(0, keys - 1)
  local action = "trigger"
  if roll < ack then action = "acknowledge" elseif roll < ack + resolve then action = "resolve" end
  local body = '{"routing_key": "' .. key .. '", "event_action": "' .. action ..
    '", "dedup_key": "' .. dedup .. '"'
  if action == "trigger" then
    body = body .. ', "payload": {"summary": "Bench alert ' .. dedup ..
      '", "source": "bench-gw", "severity": "warning", ' ..
      '"custom_details": {"value": 42, "unit": "ms"}}'
  end
  body = body .. "}"
  return wrk.format("POST", "/v2/enqueue", {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do all[status] = (all[status] or 0) + n end
  end
  for status, n in pairs(all) do io.write(string.format("STATUS %%d %%d\\n", status, n)) end
  io.write(string.format("LATENCY p50 %%.1f p99 %%.1f\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _wrk_load(
    port: int,
    key: str,
    args: argparse.Namespace,
    data: Path,
    statuses: Counter[int],
    lock: threading.Lock,
) -> None:
    """The load posted by wrk (2 threads, --clients connections), its status counts added to
    `statuses`."""
    script = data / "events.lua"
    script.write_text(
        WRK_SCRIPT
        % {"key": key, "keys": args.keys, "ack": args.ack_share, "resolve": args.resolve_share}
    )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{args.clients}", f"-d{args.seconds:.0f}s", "--timeout", "30s",
         "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=args.seconds + 120,
    )  # fmt: skip
    if out.returncode:
        print(f"  wrk failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    local: Counter[int] = Counter()
    for line in out.stdout.splitlines():
        if line.startswith("STATUS "):
            _, status, n = line.split()
            local[int(status)] += int(n)
        elif line.startswith("LATENCY "):
            print(f"  wrk: event request latency (ms) {line[len('LATENCY ') :]}")
    with lock:
        statuses.update(local)


def _wait_idle(port: int, timeout: float) -> bool:
    """Until 20 GET /healthz in a row each answer within 15 ms (the web workers have no
    backlog), at most `timeout` seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        slowest = 0.0
        for _ in range(20):
            t0 = time.perf_counter()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            slowest = max(slowest, time.perf_counter() - t0)
        if slowest < 0.015:
            return True
        time.sleep(0.5)
    return False


def _floor(port: int, clients: int, seconds: float) -> float:
    """Requests/s of GET /healthz from `clients` connections for `seconds`."""
    counts = [0] * clients
    stop_at = time.perf_counter() + seconds

    def run(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop_at:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            counts[n] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return sum(counts) / seconds


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _incident_ids(integration_id: object, dedup_keys: list[str]) -> list[str]:
    from sqlmodel import col, select

    from healthguard.db import session_scope
    from healthguard.integrations.service import incident_dedup_key
    from healthguard.models import Incident

    keys = {incident_dedup_key(str(integration_id), k): k for k in dedup_keys}
    with session_scope() as session:
        rows = session.exec(
            select(Incident.id, Incident.dedup_key).where(col(Incident.dedup_key).in_(keys))
        ).all()
    by_key = {keys[str(dedup)]: str(incident_id) for incident_id, dedup in rows}
    return [by_key[k] for k in dedup_keys]


def _recorded(integration_id: object) -> tuple[int, Counter[str], int]:
    import sqlalchemy as sa
    from sqlmodel import select

    from healthguard.db import session_scope
    from healthguard.models import Incident
    from healthguard.models.integrations import InboundEventLog

    with session_scope() as session:
        rows = session.exec(
            select(InboundEventLog.outcome, sa.func.count())
            .where(InboundEventLog.integration_id == integration_id)
            .group_by(InboundEventLog.outcome)
        ).all()
        opened = session.exec(
            select(sa.func.count()).select_from(Incident).where(Incident.source == "integration")
        ).one()
    outcomes = Counter({str(outcome): int(n) for outcome, n in rows})
    return sum(outcomes.values()), outcomes, int(opened)


if __name__ == "__main__":
    sys.exit(main())
