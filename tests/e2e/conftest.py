"""End-to-end fixtures: the prod-built app, a real RQ worker and real Chromium.

The web app runs as `healthguard web` (Reflex prod build, Granian, one port) and the
worker as `healthguard worker`, both as subprocesses pointed at this module's database
and the test Redis. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import CHROMIUM_ARGS, chromium_executable
from playwright.sync_api import Browser, sync_playwright
from testsupport import free_port

from healthguard.runtime.embedded import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
HEALTHGUARD = str(Path(sys.executable).parent / "healthguard")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _spawn(args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "wb")  # noqa: SIM115 - the child writes to it
    return subprocess.Popen(
        [HEALTHGUARD, *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def child_env(app_env: dict[str, str], seeded: dict[str, int], tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env.update(app_env)
    env["HEALTHGUARD_DATA_DIR"] = str(tmp_path_factory.mktemp("hg-data"))
    env["HEALTHGUARD_WEB_PORT"] = str(free_port())
    env["HEALTHGUARD_WEB_WORKERS"] = "2"
    # The 30 s safety-net resync would hide a broken live path: the tests see events only.
    env["HEALTHGUARD_REALTIME_RESYNC_SECONDS"] = "600"
    return env


@pytest.fixture(scope="module")
def web_app(child_env: dict[str, str]) -> Iterator[str]:
    """Base URL of the prod-built app (the first build of a checkout takes a while)."""
    port = child_env["HEALTHGUARD_WEB_PORT"]
    process = _spawn(["web"], child_env, "web.log")
    base = f"http://localhost:{port}"

    def up() -> bool:
        if process.poll() is not None:
            return True
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=900, interval=0.5)
        assert process.poll() is None, "the web app exited; see test-artifacts/web.log"
        yield base
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def rq_worker(child_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = _spawn(["worker"], child_env, "worker.log")
    try:
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def alerts_workers(child_env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The scheduler (escalation timers), the non-forking alerts worker (timers and
    deliveries) and a general worker (the sweeps), as `healthguard up` starts them."""
    processes = [
        _spawn(["scheduler"], child_env, "scheduler.log"),
        _spawn(["worker", "--alerts"], child_env, "alerts-worker.log"),
        _spawn(["worker"], child_env, "general-worker.log"),
    ]
    try:
        yield processes
    finally:
        for process in processes:
            _stop(process)


@pytest.fixture(scope="module")
def triage_worker(child_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = _spawn(["worker", "--triage"], child_env, "triage-worker.log")
    try:
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def mllp_port(child_env: dict[str, str]) -> Iterator[int]:
    """The real `healthguard mllp` listener on a free port."""
    import socket

    port = free_port()
    process = _spawn(["mllp", "--host", "127.0.0.1", "--port", str(port)], child_env, "mllp.log")

    def listening() -> bool:
        if process.poll() is not None:
            return True
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, timeout=60, interval=0.2)
        assert process.poll() is None, "the MLLP listener exited; see test-artifacts/mllp.log"
        yield port
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
