"""Run and stop a group of child processes together (used by `healthguard up`).

Children run in their own sessions so a Ctrl-C reaches only the supervisor, which then
stops them in reverse start order (web first, databases last) and waits for each. Each
child also gets SIGTERM if the supervisor itself dies (PDEATHSIG), so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from healthguard.runtime.embedded import die_with_parent


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    stopping: bool = False
    # Extra cleanups (embedded servers) run after every child has stopped, last first.
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str], cwd: str | None = None
    ) -> Child:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),
            start_new_session=True,
        )
        child = Child(name, process)
        self.children.append(child)
        return child

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            if not self.stopping:
                print(f"\nStopping HealthGuard Ops ({signal.Signals(signum).name})…", flush=True)
            self.stopping = True

        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)

    def first_exited(self) -> Child | None:
        for child in self.children:
            if child.process.poll() is not None:
                return child
        return None

    def wait(self, poll_seconds: float = 0.2) -> int:
        """Block until asked to stop (0) or until a child dies unexpectedly (1)."""
        while not self.stopping:
            dead = self.first_exited()
            if dead is not None:
                print(
                    f"{dead.name} exited with code {dead.process.returncode}; stopping the "
                    "rest. Its messages are above.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            time.sleep(poll_seconds)
        return 0

    def stop_all(self, timeout: float = 15.0) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                # The whole process group: web servers fork workers of their own.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, child.stop_signal)
                try:
                    child.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    print(f"{child.name} did not stop in {timeout:.0f}s; killing it.", flush=True)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.process.pid, signal.SIGKILL)
                    child.process.wait(5)
        self.children.clear()
        while self.cleanups:
            self.cleanups.pop()()
