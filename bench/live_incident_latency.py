"""Benchmark: from an RQ job's commit to the incident visible in a browser.

Starts its own embedded Postgres and Redis (temporary folder, free loopback ports), the
prod-built web app and a real RQ worker, opens the dashboard in Chromium, then enqueues N
`open_incident_job`s one after another. For each incident it records:

  commit -> visible   the change event's timestamp (taken right after the job's commit)
                      to the moment a MutationObserver in the page sees the card;
  enqueue -> visible  from `queue.enqueue` to the same moment (adds the RQ pick-up).

Both clocks are this machine's wall clock (the browser's Date.now() and Python's time).
Run:  .venv/bin/python bench/live_incident_latency.py [--events 20] [--pages 1]
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
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import redis
from playwright.sync_api import sync_playwright
from rq import Queue

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from e2e_support import CHROMIUM_ARGS, chromium_executable  # noqa: E402

from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, wait_until  # noqa: E402

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--pages", type=int, default=1, help="browser pages on the dashboard")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per event")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-"))
    pg = EmbeddedPostgres(data_dir, free_port())
    rd = EmbeddedRedis(data_dir, free_port())
    pg.start()
    rd.start()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=pg.url(),
        REDIS_URL=rd.url(),
        HEALTHGUARD_MODE="demo",
        HEALTHGUARD_DATA_DIR=str(data_dir),
        HEALTHGUARD_WEB_PORT=str(free_port()),
    )
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "HEALTHGUARD_MODE")})
    hg = str(Path(sys.executable).parent / "healthguard")
    for command in ("migrate", "seed"):
        subprocess.run([hg, command], env=env, check=True, stdout=subprocess.DEVNULL)
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

    # Change events carry the time taken right after the job's commit.
    commit_at: dict[str, float] = {}
    client = redis.Redis.from_url(rd.url())
    pubsub = client.pubsub()
    pubsub.subscribe("healthguard:changes")
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                event = json.loads(message["data"])
                commit_at[event["entity_id"]] = datetime.fromisoformat(event["at"]).timestamp()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        if not wait_until(web_ready, 900, interval=0.5):
            print(f"web app did not start; see {data_dir / 'processes.log'}")
            return 1
        queue = Queue("default", connection=client)
        commit_to_visible: list[float] = []
        enqueue_to_visible: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
            pages = []
            for _ in range(args.pages):
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{base}/")
                page.wait_for_selector('[data-testid="bed-card"]', timeout=60_000)
                page.evaluate(OBSERVER_JS)
                pages.append(page)
            for _ in range(args.events):
                tag = f"bench-{uuid.uuid4().hex[:8]}"
                enqueued = time.time()
                job = queue.enqueue("workers.jobs.open_incident_job", f"Bench {tag}", "P1", "CARD")
                seen_ms = []
                for page in pages:
                    page.wait_for_function(
                        f"() => window.__seen && window.__seen['{tag}']",
                        timeout=args.timeout * 1000,
                    )
                    seen_ms.append(page.evaluate(f"window.__seen['{tag}']"))
                visible = max(seen_ms) / 1000  # the last page to show it
                if not wait_until(lambda j=job: j.return_value() in commit_at, 5):
                    print(f"no change event seen for {tag}")
                    return 1
                commit_to_visible.append(visible - commit_at[job.return_value()])
                enqueue_to_visible.append(visible - enqueued)
            browser.close()
    finally:
        stop.set()
        listener.join(2)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            child.wait(30)
        rd.stop()
        pg.stop()

    def report(name: str, values: list[float]) -> None:
        ms = [v * 1000 for v in values]
        print(
            f"{name:<18} n={len(ms)}  median={statistics.median(ms):7.1f} ms  "
            f"p90={percentile(ms, 0.9):7.1f} ms  min={min(ms):7.1f} ms  max={max(ms):7.1f} ms"
        )

    print(f"live incident latency, {args.pages} page(s), {args.events} events")
    report("commit -> visible", commit_to_visible)
    report("enqueue -> visible", enqueue_to_visible)
    return 0


if __name__ == "__main__":
    sys.exit(main())
