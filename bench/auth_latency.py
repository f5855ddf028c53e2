"""Benchmark: what authentication adds to an API request.

Starts its own embedded Postgres and Redis (temporary folder, free loopback ports), migrates
and seeds the demo hospital with the demo passwords, creates one integration key, then sends
requests to the API in-process (FastAPI's TestClient over ASGI, no network, the security
headers wrapper included as in the app) one after another and times each round trip:

  GET  /healthz                 no credentials, no database: the floor of the stack
  GET  /api/v1/wards            the wards handler mounted WITHOUT the auth dependency (by
                                this script only, at /bench/wards-open): the route's own cost
  GET  /api/v1/wards            Bearer access token (JWT check + one user look-up)
  GET  /api/v1/wards            integration key (Bearer; hash look-up + last_used_at write)
  GET  /api/v1/me               access token, then integration key (a route both may call)
  POST /api/v1/auth/token       sign-in: Argon2id verify, tokens issued, two audit rows

Every row prints the HTTP status it got: integration keys carry only machine scopes
(ingest:vitals, events:write), so an integration key on /api/v1/wards is answered 403 (and
the refusal is audited); its row times that refusal, and /api/v1/me shows the key accepted.

Run:  .venv/bin/python bench/auth_latency.py [--requests 300] [--logins 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAX_REQUESTS = 5000
MAX_LOGINS = 200
WARM_UP = 5
USERNAME = "dr.attending"  # a physician: sees the hospital, may read wards


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(send: Callable[[], int], count: int) -> tuple[list[float], set[int]]:
    """Wall time of ``count`` calls in milliseconds (after a short warm-up) and the
    statuses answered."""
    statuses: set[int] = set()
    for _ in range(min(WARM_UP, count)):
        statuses.add(send())
    times: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        statuses.add(send())
        times.append((time.perf_counter() - start) * 1000)
    return times, statuses


def prepare(data_dir: Path, database_url: str, redis_url: str) -> str:
    """Point the settings at the bench services, migrate, seed, set the demo passwords and
    create an integration key; returns the key."""
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HEALTHGUARD_MODE="demo",
        HEALTHGUARD_DATA_DIR=str(data_dir),  # demo secrets are generated there
    )
    from healthguard.db import dispose_engines, session_scope
    from healthguard.migrations import upgrade_to_head
    from healthguard.security.accounts import Origin, create_api_key
    from healthguard.security.demo import set_demo_passwords
    from healthguard.seed import DEMO_USERS, seed_demo_data
    from healthguard.settings import get_settings

    get_settings.cache_clear()
    dispose_engines()
    upgrade_to_head(database_url)
    now = datetime.now(UTC)
    with session_scope() as session:
        seed_demo_data(session, now)
        set_demo_passwords(session, [u[0] for u in DEMO_USERS], now=now)
        _, key = create_api_key(
            session,
            name="bench gateway",
            scopes=["ingest:vitals"],
            created_by="bench",
            now=now,
            origin=Origin(user_agent="bench"),
        )
    return key


def run(requests: int, logins: int, key: str) -> list[tuple[str, list[float], set[int]]]:
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    from healthguard.api import build_api
    from healthguard.api.wards import get_wards
    from healthguard.security.demo import DEMO_PASSWORD
    from healthguard.security.headers import security_headers

    api = build_api()
    # The same handler with no auth dependency: the baseline for the authenticated rows.
    api.add_api_route("/bench/wards-open", get_wards, methods=["GET"], include_in_schema=False)
    # The catch-all 404 route of /api/v1 is registered last, so this route (outside
    # /api/v1) is reachable.
    client = TestClient(security_headers(api), base_url="http://localhost")
    credentials = {"username": USERNAME, "password": DEMO_PASSWORD}
    answer = client.post("/api/v1/auth/token", json=credentials)
    answer.raise_for_status()
    token = answer.json()["access_token"]
    as_user = {"Authorization": f"Bearer {token}"}
    as_key = {"Authorization": f"Bearer {key}"}

    def get(path: str, headers: dict[str, str] | None = None) -> Callable[[], int]:
        return lambda: client.get(path, headers=headers).status_code

    def sign_in() -> int:
        return client.post("/api/v1/auth/token", json=credentials).status_code

    cases: list[tuple[str, Callable[[], int], int]] = [
        ("GET /healthz, no credentials", get("/healthz"), requests),
        ("GET wards, no auth dependency", get("/bench/wards-open"), requests),
        ("GET /api/v1/wards, access token", get("/api/v1/wards", as_user), requests),
        ("GET /api/v1/wards, integration key", get("/api/v1/wards", as_key), requests),
        ("GET /api/v1/me, access token", get("/api/v1/me", as_user), requests),
        ("GET /api/v1/me, integration key", get("/api/v1/me", as_key), requests),
        ("POST /api/v1/auth/token (sign-in)", sign_in, logins),
    ]
    results = []
    for label, send, count in cases:
        times, statuses = timed(send, count)
        results.append((label, times, statuses))
    client.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=300, help=f"requests per GET case (<= {MAX_REQUESTS})"
    )
    parser.add_argument(
        "--logins", type=int, default=30, help=f"sign-ins through /auth/token (<= {MAX_LOGINS})"
    )
    args = parser.parse_args()
    requests = max(1, min(args.requests, MAX_REQUESTS))
    logins = max(1, min(args.logins, MAX_LOGINS))

    from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis

    data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-auth-"))
    pg = EmbeddedPostgres(data_dir, free_port())
    rd = EmbeddedRedis(data_dir, free_port())
    try:
        pg.start()
        rd.start()
        key = prepare(data_dir, pg.url(), rd.url())
        results = run(requests, logins, key)
    finally:
        from healthguard.db import dispose_engines

        dispose_engines()
        rd.stop()
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"API latency in-process (TestClient over ASGI), sequential, after {WARM_UP} warm-up "
        "requests per case"
    )
    header = f"{'request':<38} {'status':>7} {'n':>5} {'median ms':>10} {'p90 ms':>8}"
    print(header)
    print("-" * len(header))
    for label, times, statuses in results:
        status = ",".join(str(s) for s in sorted(statuses))
        print(
            f"{label:<38} {status:>7} {len(times):>5} {statistics.median(times):>10.2f} "
            f"{percentile(times, 0.9):>8.2f}"
        )
    by_label = {label: statistics.median(times) for label, times, _ in results}
    base = by_label["GET wards, no auth dependency"]
    print()
    print(
        "auth cost on GET /api/v1/wards (median, access token minus no auth dependency): "
        f"{by_label['GET /api/v1/wards, access token'] - base:+.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
