"""The supervisor behind `healthguard up`: children and their process groups stop together."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from healthguard.runtime.embedded import wait_until
from healthguard.runtime.supervisor import Supervisor

pytestmark = pytest.mark.integration

# A child that starts a grandchild in its own process group (as a web server forks its
# workers), writes the grandchild's pid to a file and then waits for a signal.
PARENT = """
import signal, subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(grandchild.pid))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.pause()
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_all_ends_children_and_their_process_groups(tmp_path: Path) -> None:
    supervisor = Supervisor()
    env = dict(os.environ)
    pid_files = [tmp_path / "one.pid", tmp_path / "two.pid"]
    children = [
        supervisor.spawn(name, [sys.executable, "-c", PARENT, str(pid_file)], env)
        for name, pid_file in zip(("one", "two"), pid_files, strict=True)
    ]
    cleaned: list[str] = []
    supervisor.cleanups.append(lambda: cleaned.append("first registered"))
    supervisor.cleanups.append(lambda: cleaned.append("last registered"))
    try:
        assert wait_until(lambda: all(p.exists() for p in pid_files), 20)
        grandchildren = [int(p.read_text()) for p in pid_files]
        for child, grandchild in zip(children, grandchildren, strict=True):
            assert os.getpgid(child.process.pid) == child.process.pid  # own group
            assert os.getpgid(grandchild) == child.process.pid
            assert alive(grandchild)
        assert supervisor.first_exited() is None

        supervisor.stop_all(timeout=10)

        assert all(c.process.poll() is not None for c in children)
        assert wait_until(lambda: not any(alive(pid) for pid in grandchildren), 10)
        assert supervisor.children == []
        assert cleaned == ["last registered", "first registered"]  # last first, once each
        assert supervisor.cleanups == []
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait(5)


def test_wait_returns_1_when_a_child_exits_by_itself() -> None:
    supervisor = Supervisor()
    env = dict(os.environ)
    blocker = supervisor.spawn(
        "blocker", [sys.executable, "-c", "import signal; signal.pause()"], env
    )
    quitter = supervisor.spawn("quitter", [sys.executable, "-c", "raise SystemExit(3)"], env)
    try:
        assert supervisor.wait(poll_seconds=0.05) == 1
        assert supervisor.first_exited() is quitter
        assert quitter.process.returncode == 3
        assert blocker.process.poll() is None  # the rest is still running until stop_all
    finally:
        supervisor.stop_all(timeout=10)
    assert blocker.process.poll() is not None


def test_wait_returns_0_when_asked_to_stop() -> None:
    supervisor = Supervisor()
    child = supervisor.spawn(
        "blocker", [sys.executable, "-c", "import signal; signal.pause()"], dict(os.environ)
    )
    try:
        supervisor.stopping = True
        assert supervisor.wait(poll_seconds=0.05) == 0
        assert child.process.poll() is None
    finally:
        supervisor.stop_all(timeout=10)
    assert child.process.poll() is not None
