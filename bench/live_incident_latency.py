"""Benchmark: from the API call that raises a P0 to its card visible on the dashboard.

Starts its own embedded Postgres and Redis (temporary folder, free loopback ports), the
prod-built web app and an RQ worker (notifications), signs pages in as a charge nurse of
CARD and opens the dashboard in Chromium. Then, N times, one after another:

  POST /api/v1/incidents {"ward": "CARD", "priority": "P0", ...}   (Bearer token)

and waits until a MutationObserver in EVERY page has seen the new card. Reported:

  API call -> visible (last page)   from just before the POST to the moment the slowest
                                    page's observer saw the card (the browser's Date.now()
                                    and Python's time.time(): the same machine clock);
  API answer time                   the POST alone.

`--pages 50` opens 50 dashboard tabs, one after another, 10 per Chromium (the "50 screens"
case: 50 Reflex clients, 50 websockets).

`--socket-clients 50` (with `--pages 1`): the other way to measure 50 screens that the issue
allows, 50 websocket clients plus one measuring browser (see `SocketScreens`): reported as
the time to the last of the 50 sockets receiving the new card, next to the browser's.

`--first-load N` (separately, before the events): adds a ward BENCH with 200 beds, each with
an admitted patient, and 100 open incidents in it, then loads `/?ward=BENCH` N times in fresh
signed-in browser contexts and reports the time from navigation start to all 200 bed cards
and 100 incident cards on screen. The rows reach the page through the websocket after the
page has hydrated and its on_load handler has run, so at that moment the page is
interactive (its event handlers answer).

Run:  .venv/bin/python bench/live_incident_latency.py --events 50 [--pages 50] [--first-load 10]
      .venv/bin/python bench/live_incident_latency.py --events 50 --socket-clients 50
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests"))

from e2e_support import CHROMIUM_ARGS, chromium_executable, session_cookie  # noqa: E402

from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, wait_until  # noqa: E402

VIEWER = "charge.card"  # a charge nurse of CARD: the dashboard shows CARD
LOAD_VIEWER = "rrt.lead"  # hospital-wide: may watch the BENCH ward
TABS_PER_BROWSER = 10
# Screens on a ward are visible: keep Chromium from throttling the tabs that are not in front.
BENCH_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

OBSERVER_JS = """
() => {
  window.__seen = {};
  const scan = () => {
    for (const card of document.querySelectorAll('[data-testid="incident-card"]')) {
      const m = card.textContent.match(/bench-[0-9a-f]{8}/);
      if (m && !(m[0] in window.__seen)) window.__seen[m[0]] = Date.now();
    }
  };
  new MutationObserver(scan).observe(document.body, {childList: true, subtree: true,
                                                     characterData: true});
  scan();
}
"""

# Run before any page script: records when 200 beds and 100 cards are first all on screen.
FIRST_LOAD_JS = """
(() => {
  const check = () => {
    if (window.__full) return;
    const beds = document.querySelectorAll('[data-testid="bed-card"]').length;
    const cards = document.querySelectorAll('[data-testid="incident-card"]').length;
    if (beds >= BEDS && cards >= CARDS) window.__full = performance.now();
  };
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(check).observe(document.body, {childList: true, subtree: true});
    check();
  });
})();
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, seconds: list[float]) -> None:
    ms = [v * 1000 for v in seconds]
    print(
        f"{name:<28} n={len(ms):<3} p50={statistics.median(ms):7.1f} ms  "
        f"p99={percentile(ms, 0.99):7.1f} ms  min={min(ms):7.1f} ms  max={max(ms):7.1f} ms"
    )


def api_token(username: str) -> str:
    from sqlmodel import select

    from healthguard.db import session_scope
    from healthguard.models import User
    from healthguard.security.tokens import issue_access_token
    from healthguard.settings import get_settings

    settings = get_settings()
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return issue_access_token(
            user_id=str(user.id),
            role=user.role,
            key=settings.secret("secret_key"),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=3600,
            now=datetime.now(UTC),
        )


class SocketScreens:
    """`count` dashboard screens as bare websocket clients (python-socketio) instead of tabs.

    Each is a real Reflex client made by a real tab: the tab opens the dashboard (its
    on_load links its state to the CARD feed on the server), hands over its session token
    (sessionStorage "token") and closes; a socket.io client then connects with that token,
    as the tab's own socket would, and the server pushes it every delta of the feed: for
    each client the web worker loads its state from Redis, patches the feed in, computes
    and sends the delta, the same work as for a browser. Only the rendering is left out,
    which on this 2-CPU machine 50 Chromium renderers would share (each real screen has its
    own computer). The clients send no events of their own (no idle-session heartbeat, no
    metrics refresh), so the server does a little less than for 50 real screens.
    """

    def __init__(self, base: str, tokens: list[str]) -> None:
        import asyncio
        import threading

        self.base, self.tokens = base, tokens
        self.seen: dict[str, dict[int, float]] = {}  # tag -> {client: time.time()}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list = []
        self.tags: set[str] = set()

    def watch(self, tag: str) -> None:
        self.tags.add(tag)

    def _on_update(self, index: int):
        def handler(data) -> None:
            text = str(data)
            now = time.time()
            for tag in list(self.tags):
                if tag in text:
                    self.seen.setdefault(tag, {}).setdefault(index, now)

        return handler

    def connect(self, timeout: float = 60) -> None:
        import asyncio

        import socketio

        async def one(index: int, token: str):
            client = socketio.AsyncClient(reconnection=False)
            # The page's socket connects to ws://host/_event: path and namespace "/_event".
            client.on("event", self._on_update(index), namespace="/_event")
            await client.connect(
                f"{self.base}?token={token}",
                socketio_path="/_event",
                namespaces=["/_event"],
                transports=["websocket"],
                wait_timeout=timeout,
            )
            return client

        async def all_of_them():
            return [await one(i, t) for i, t in enumerate(self.tokens)]

        self.clients = asyncio.run_coroutine_threadsafe(all_of_them(), self.loop).result(timeout)

    def last_seen(self, tag: str) -> float | None:
        """When the last client saw `tag` (None until every client has)."""
        got = self.seen.get(tag, {})
        return max(got.values()) if len(got) == len(self.tokens) else None

    def close(self) -> None:
        import asyncio

        async def bye():
            for client in self.clients:
                with contextlib.suppress(Exception):
                    await client.disconnect()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(bye(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


def harvest_tokens(browser, base: str, count: int) -> list[str]:
    """`count` Reflex client tokens, each from a dashboard tab that loaded the CARD feed and
    was then closed (its state stays linked to the feed on the server)."""
    tokens = []
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies([session_cookie(base, VIEWER)])
    for _ in range(count):
        page = context.new_page()
        page.goto(f"{base}/")
        page.wait_for_selector('[data-testid="bed-card"]', timeout=120_000)
        tokens.append(page.evaluate("() => window.sessionStorage.getItem('token')"))
        page.close()
    context.close()
    return tokens


def add_busy_ward(beds: int, incidents: int) -> None:
    """Ward BENCH: `beds` beds, each with an admitted patient; `incidents` open incidents."""
    from healthguard.db import session_scope
    from healthguard.incidents.service import open_incident
    from healthguard.models import Admission, Bed, Ward
    from healthguard.patients.phi import (
        PatientIdentity,
        index_key_from_settings,
        keyring_from_settings,
        new_patient,
    )

    keyring, index_key = keyring_from_settings(), index_key_from_settings()
    with session_scope() as session:
        ward = Ward(code="BENCH", name="Bench ward")
        session.add(ward)
        session.flush()
        for i in range(beds):
            bed = Bed(ward_id=ward.id, label=f"B{i + 1}")
            identity = PatientIdentity(
                mrn=f"BENCHLOAD{i:05d}", family_name="Load", given_name=f"P{i}",
                date_of_birth=date(1950, 1, 1),
            )  # fmt: skip
            patient = new_patient(identity, keyring, index_key)
            session.add_all([bed, patient])
            session.flush()
            session.add(Admission(patient_id=patient.id, bed_id=bed.id))
        session.flush()
        now = datetime.now(UTC)
        for i in range(incidents):
            priority = ("P1", "P2", "P3", "P4")[i % 4]
            open_incident(
                session,
                title=f"Load incident {i}",
                priority=priority,
                now=now,
                ward_code="BENCH",
                bed_label=f"B{i + 1}",
            )


def measure_first_loads(browser, base: str, loads: int, beds: int, cards: int) -> list[float]:
    script = FIRST_LOAD_JS.replace("BEDS", str(beds)).replace("CARDS", str(cards))
    times = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_cookies([session_cookie(base, LOAD_VIEWER)])
        context.add_init_script(script)
        page = context.new_page()
        page.goto(f"{base}/?ward=BENCH")
        if not wait_until(lambda p=page: p.evaluate("() => window.__full || 0") > 0, 120, 0.05):
            raise SystemExit("the busy ward never showed all its beds and incidents")
        times.append(page.evaluate("() => window.__full") / 1000)  # from navigation start
        context.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20, help="P0s raised one after another")
    parser.add_argument("--pages", type=int, default=1, help="dashboard pages that must see it")
    parser.add_argument(
        "--socket-clients",
        type=int,
        default=0,
        help="screens as bare websocket clients, next to the measuring page(s)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per event")
    parser.add_argument(
        "--first-load", type=int, default=0, help="loads of a 200-bed, 100-incident ward"
    )
    args = parser.parse_args()
    if not (
        1 <= args.events <= 500
        and 1 <= args.pages <= 60
        and 0 <= args.first_load <= 50
        and 0 <= args.socket_clients <= 200
    ):
        parser.error(
            "--events 1-500, --pages 1-60, --first-load 0-50, --socket-clients 0-200 (bounded)"
        )

    from testsupport import create_database

    data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-"))
    pg = EmbeddedPostgres(data_dir, free_port())
    rd = EmbeddedRedis(data_dir, free_port())
    pg.start()
    rd.start()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=create_database(pg.url("postgres")),
        REDIS_URL=rd.url(),
        HEALTHGUARD_MODE="demo",
        HEALTHGUARD_DATA_DIR=str(data_dir),
        HEALTHGUARD_WEB_PORT=str(free_port()),
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
    if args.first_load:
        add_busy_ward(200, 100)
    log = open(data_dir / "processes.log", "wb")  # noqa: SIM115
    children = [
        subprocess.Popen([hg, name], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
        for name in ("web", "worker")
    ]  # fmt: skip
    base = f"http://localhost:{env['HEALTHGUARD_WEB_PORT']}"

    def web_ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    api_to_visible: list[float] = []
    api_to_first: list[float] = []
    socket_last: list[float] = []
    screens: SocketScreens | None = None
    api_answer: list[float] = []
    first_loads: list[float] = []
    try:
        if not wait_until(web_ready, 900, interval=0.5):
            print(f"web app did not start; see {data_dir / 'processes.log'}")
            return 1
        headers = {"Authorization": f"Bearer {api_token(VIEWER)}"}
        with sync_playwright() as p, httpx.Client(base_url=base, headers=headers) as api:
            browser = p.chromium.launch(executable_path=chromium_executable(), args=BENCH_ARGS)
            if args.first_load:
                first_loads = measure_first_loads(browser, base, args.first_load, 200, 100)
            # One tab per screen, opened one after another (each tab is its own Reflex client
            # with its own websocket), at most TABS_PER_BROWSER per Chromium: one Chromium
            # opens only so many websockets to one host (about 30), a ward's screens are
            # separate machines anyway.
            browsers = [browser] + [
                p.chromium.launch(executable_path=chromium_executable(), args=BENCH_ARGS)
                for _ in range((args.pages - 1) // TABS_PER_BROWSER)
            ]
            contexts = []
            for each in browsers:
                context = each.new_context(viewport={"width": 1440, "height": 900})
                context.add_cookies([session_cookie(base, VIEWER)])
                contexts.append(context)
            pages = []
            for n in range(args.pages):
                page = contexts[n // TABS_PER_BROWSER].new_page()
                page.goto(f"{base}/")
                page.wait_for_selector('[data-testid="bed-card"]', timeout=120_000)
                page.evaluate(OBSERVER_JS)
                pages.append(page)
            if args.socket_clients:
                screens = SocketScreens(base, harvest_tokens(browser, base, args.socket_clients))
                screens.connect()
            for _ in range(args.events):
                tag = f"bench-{uuid.uuid4().hex[:8]}"
                if screens is not None:
                    screens.watch(tag)
                started = time.time()
                answer = api.post(
                    "/api/v1/incidents",
                    json={"ward": "CARD", "priority": "P0", "title": f"Arrest {tag}"},
                )
                answered = time.time()
                if answer.status_code != 201:
                    print(f"raising the P0 failed: {answer.status_code} {answer.text}")
                    return 1
                seen_ms = []
                for page in pages:
                    check = f"() => (window.__seen && window.__seen['{tag}']) || 0"
                    if not wait_until(lambda pg_=page, c=check: pg_.evaluate(c) > 0, args.timeout):
                        print(
                            f"{tag} not visible within {args.timeout} s in tab {pages.index(page)}"
                        )
                        if api_to_visible:
                            report("API call -> visible (last)", api_to_visible)
                        return 1
                    seen_ms.append(page.evaluate(check))
                if screens is not None:
                    if not wait_until(lambda t=tag: screens.last_seen(t) is not None, args.timeout):
                        got = len(screens.seen.get(tag, {}))
                        print(f"{tag}: {got} of {args.socket_clients} socket clients saw it")
                        return 1
                    socket_last.append((screens.last_seen(tag) or 0) - started)
                api_to_visible.append(max(seen_ms) / 1000 - started)
                api_to_first.append(min(seen_ms) / 1000 - started)
                api_answer.append(answered - started)
                # Resolve it, so the queue stays the size a real ward's is.
                incident = answer.json()["id"]
                api.post(f"/api/v1/incidents/{incident}/acknowledge")
                api.post(f"/api/v1/incidents/{incident}/resolve", json={"reason": "treated"})
            for each in browsers:
                each.close()
    finally:
        if screens is not None:
            screens.close()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            child.wait(30)
        rd.stop()
        pg.stop()

    if first_loads:
        print("dashboard first load, 200 beds + 100 open incidents (prod build)")
        report("navigation -> all rows", first_loads)
    print(f"P0 raised through the API, {args.pages} dashboard page(s), {args.events} events")
    report("API call -> visible (last)", api_to_visible)
    if socket_last:
        report(f"API call -> last of {args.socket_clients} sockets", socket_last)
    if args.pages > 1:
        report("API call -> visible (first)", api_to_first)
    report("API answer", api_answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
