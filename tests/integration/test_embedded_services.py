"""The embedded Postgres and Redis: start, reuse, survive restarts and kill -9, busy ports."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from testsupport import free_port

from healthguard.runtime.embedded import (
    PG_DATABASE,
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceError,
    wait_until,
)

pytestmark = pytest.mark.integration


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill_9(server: EmbeddedPostgres | EmbeddedRedis, pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    if server.process is not None and server.process.pid == pid:
        assert wait_until(lambda: server.process.poll() is not None, 10)  # type: ignore[union-attr]
    assert wait_until(lambda: gone(pid), 10)


@pytest.fixture(scope="module")
def pg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised cluster for the module (initdb takes seconds)."""
    data_dir = tmp_path_factory.mktemp("embedded-pg")
    EmbeddedPostgres(data_dir, free_port()).initialise()
    return data_dir


@pytest.fixture
def started() -> Iterator[list[EmbeddedPostgres | EmbeddedRedis]]:
    """Servers a test started; stopped afterwards whatever happens."""
    servers: list[EmbeddedPostgres | EmbeddedRedis] = []
    yield servers
    for server in reversed(servers):
        server.stop()


def pg_connect(port: int) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname=PG_DATABASE, autocommit=True
    )


def listening_socket(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_postgres_starts_is_reused_and_keeps_data_across_restarts(
    pg_dir: Path, started: list[EmbeddedPostgres | EmbeddedRedis]
) -> None:
    port = free_port()
    first = EmbeddedPostgres(pg_dir, port)
    started.append(first)
    assert first.start() is True
    pid = first.running_pid()
    assert pid is not None and first.is_ready()

    again = EmbeddedPostgres(pg_dir, port)
    assert again.start() is False  # reused, not started twice
    assert again.process is None
    assert again.running_pid() == pid

    with pg_connect(port) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('survives a restart')")

    first.stop()
    assert gone(pid)
    assert first.running_pid() is None
    assert not first.is_ready()

    second = EmbeddedPostgres(pg_dir, port)
    started.append(second)
    assert second.start() is True
    with pg_connect(port) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("survives a restart",)]
        conn.execute("DROP TABLE kept")


def test_postgres_starts_again_after_kill_9(
    pg_dir: Path, started: list[EmbeddedPostgres | EmbeddedRedis]
) -> None:
    port = free_port()
    server = EmbeddedPostgres(pg_dir, port)
    started.append(server)
    assert server.start() is True
    with pg_connect(port) as conn:
        conn.execute("CREATE TABLE crash (v text)")
        conn.execute("INSERT INTO crash VALUES ('committed before the crash')")
    pid = server.running_pid()
    assert pid is not None

    kill_9(server, pid)
    assert (pg_dir / "postgres" / "postmaster.pid").exists()  # stale lock file left behind
    assert server.running_pid() is None

    restarted = EmbeddedPostgres(pg_dir, port)
    started.append(restarted)
    assert restarted.start() is True
    assert restarted.running_pid() not in (None, pid)
    with pg_connect(port) as conn:
        assert conn.execute("SELECT v FROM crash").fetchall() == [("committed before the crash",)]
        conn.execute("DROP TABLE crash")


def test_postgres_port_in_use_is_explained(pg_dir: Path) -> None:
    port = free_port()
    with listening_socket(port):
        server = EmbeddedPostgres(pg_dir, port)
        with pytest.raises(ServiceError) as info:
            server.start()
    message = str(info.value)
    assert str(port) in message
    assert "HEALTHGUARD_EMBEDDED_POSTGRES_PORT" in message
    assert "DATABASE_URL" in message
    assert server.process is None and server.running_pid() is None


def test_redis_starts_and_is_reused(
    tmp_path: Path, started: list[EmbeddedPostgres | EmbeddedRedis]
) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path, port)
    started.append(server)
    assert server.start() is True
    assert server.is_ready()
    again = EmbeddedRedis(tmp_path, port)
    assert again.start() is False
    assert again.process is None
    assert again.running_pid() == server.running_pid() == server.process.pid  # type: ignore[union-attr]


def test_redis_port_in_use_is_explained(tmp_path: Path) -> None:
    port = free_port()
    with listening_socket(port):
        server = EmbeddedRedis(tmp_path, port)
        with pytest.raises(ServiceError) as info:
            server.start()
    message = str(info.value)
    assert str(port) in message
    assert "HEALTHGUARD_EMBEDDED_REDIS_PORT" in message
    assert "REDIS_URL" in message
    assert server.process is None


def test_redis_restarts_over_a_stale_pid_file_after_kill_9(
    tmp_path: Path, started: list[EmbeddedPostgres | EmbeddedRedis]
) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path, port)
    started.append(server)
    assert server.start() is True
    pid = server.running_pid()
    assert pid is not None

    kill_9(server, pid)
    assert server.pid_file.read_text().strip() == str(pid)  # stale
    assert server.running_pid() is None
    assert not server.is_ready()

    restarted = EmbeddedRedis(tmp_path, port)
    started.append(restarted)
    assert restarted.start() is True
    assert restarted.is_ready()
    new_pid = restarted.running_pid()
    assert new_pid is not None and new_pid != pid
