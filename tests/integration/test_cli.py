"""The `healthguard` command as a user runs it: a subprocess with a controlled environment."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis
from testsupport import create_database, drop_database, free_port

from healthguard.migrations import check_schema, head_revision, upgrade_to_head

pytestmark = pytest.mark.integration

HEALTHGUARD = str(Path(sys.executable).with_name("healthguard"))


def base_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The caller's environment without any HealthGuard or service settings, plus `values`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HEALTHGUARD_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env["HEALTHGUARD_DATA_DIR"] = str(tmp_path / "data")
    env["HEALTHGUARD_MODE"] = "demo"
    # Should a command wrongly start embedded servers, keep them off the real ports.
    env["HEALTHGUARD_EMBEDDED_POSTGRES_PORT"] = str(free_port())
    env["HEALTHGUARD_EMBEDDED_REDIS_PORT"] = str(free_port())
    env.update(values)
    return env


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEALTHGUARD, *args],
        env=base_env(tmp_path, **env),
        cwd=tmp_path,  # no stray .env
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def scratch_db(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url, prefix="cli")
    yield url
    drop_database(postgres_server_url, url)


def test_doctor_all_good(database_url: str, redis_url: str, tmp_path: Path) -> None:
    result = run(tmp_path, "doctor", DATABASE_URL=database_url, REDIS_URL=redis_url)
    assert result.returncode == 0, output(result)
    lines = result.stdout.splitlines()
    assert lines[-1] == "All good."
    assert any(line.startswith("database: ok") for line in lines)
    assert any(line.startswith("redis: ok") for line in lines)
    assert f"migrations: ok, at head ({head_revision()})" in lines
    assert "Secrets: present" in lines


def test_doctor_database_unreachable(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/healthguard"
    result = run(tmp_path, "doctor", DATABASE_URL=url, REDIS_URL=redis_url)
    assert result.returncode == 1
    text = output(result)
    assert "Traceback" not in text
    assert any(
        line.startswith("database: PROBLEM: unreachable") and str(port) in line
        for line in result.stdout.splitlines()
    ), text
    assert "redis: ok" in text
    assert "All good." not in text
    assert "problem(s) found." in text


def test_migrate_applies_then_says_already_at_head(
    scratch_db: str, redis_url: str, tmp_path: Path
) -> None:
    assert check_schema(scratch_db) == "empty"
    first = run(tmp_path, "migrate", DATABASE_URL=scratch_db, REDIS_URL=redis_url)
    assert first.returncode == 0, output(first)
    assert f"applied, now at {head_revision()}" in first.stdout
    assert check_schema(scratch_db) == "current"

    second = run(tmp_path, "migrate", DATABASE_URL=scratch_db, REDIS_URL=redis_url)
    assert second.returncode == 0, output(second)
    assert "already at head" in second.stdout
    assert "applied" not in second.stdout


def test_migrate_refuses_a_database_from_a_newer_version(
    scratch_db: str, redis_url: str, tmp_path: Path
) -> None:
    conninfo = scratch_db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('zzzz_future')")
    result = run(tmp_path, "migrate", DATABASE_URL=scratch_db, REDIS_URL=redis_url)
    assert result.returncode == 1
    text = output(result)
    assert "Traceback" not in text
    assert "newer version" in result.stderr
    assert "zzzz_future" in result.stderr
    with psycopg.connect(conninfo) as conn:  # nothing was changed
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("zzzz_future",)
        ]
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (1,)


def test_seed_twice_second_run_says_already_loaded(
    scratch_db: str, redis_url: str, tmp_path: Path
) -> None:
    upgrade_to_head(scratch_db)
    first = run(tmp_path, "seed", DATABASE_URL=scratch_db, REDIS_URL=redis_url)
    assert first.returncode == 0, output(first)
    assert "Demo data:" in first.stdout
    assert "wards" in first.stdout
    assert "already loaded" not in first.stdout

    second = run(tmp_path, "seed", DATABASE_URL=scratch_db, REDIS_URL=redis_url)
    assert second.returncode == 0, output(second)
    assert "Demo data: already loaded." in second.stdout


def test_seed_on_an_unreachable_database_is_one_clear_message(
    redis_url: str, tmp_path: Path
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/healthguard"
    result = run(tmp_path, "seed", DATABASE_URL=url, REDIS_URL=redis_url)
    assert result.returncode == 1
    assert "Traceback" not in output(result)
    assert "unreachable" in result.stderr


def test_up_in_production_without_secret_key(tmp_path: Path) -> None:
    result = run(tmp_path, "up", HEALTHGUARD_MODE="production")
    assert result.returncode == 1
    assert "HEALTHGUARD_SECRET_KEY" in result.stderr
    assert "Traceback" not in output(result)
    assert not (tmp_path / "data" / "postgres").exists()  # nothing was started


def test_web_port_taken(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run(
            tmp_path, "web", HEALTHGUARD_WEB_PORT=str(port), HEALTHGUARD_WEB_HOST="127.0.0.1"
        )
    assert result.returncode == 1
    assert f"Port {port} is already in use" in result.stderr
    assert "HEALTHGUARD_WEB_PORT" in result.stderr
    assert "Traceback" not in output(result)


def _lines(stream: object, sink: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line.rstrip("\n"))
    sink.put(None)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_services_prints_urls_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    pg_port, redis_port = free_port(), free_port()
    env = base_env(
        tmp_path,
        HEALTHGUARD_EMBEDDED_POSTGRES_PORT=str(pg_port),
        HEALTHGUARD_EMBEDDED_REDIS_PORT=str(redis_port),
    )
    data_dir = env["HEALTHGUARD_DATA_DIR"]
    proc = subprocess.Popen(
        [HEALTHGUARD, "services"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        urls: dict[str, str] = {}
        seen: list[str] = []
        while "REDIS_URL" not in urls:
            line = lines.get(timeout=90)
            assert line is not None, "services exited early:\n" + "\n".join(seen)
            seen.append(line)
            key, sep, value = line.partition("=")
            if sep and key in ("DATABASE_URL", "REDIS_URL"):
                urls[key] = value
        assert urls["DATABASE_URL"] == (
            f"postgresql+psycopg://postgres@127.0.0.1:{pg_port}/healthguard"
        )
        assert urls["REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"

        # The printed URLs work.
        conninfo = urls["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert redis.Redis.from_url(urls["REDIS_URL"]).ping()

        service = psutil.Process(proc.pid)
        servers = service.children(recursive=True)
        names = {p.name() for p in servers}
        assert any("postgres" in n for n in names) and any("redis" in n for n in names), names
        server_pids = [p.pid for p in servers]
        server_pids += [c.pid for p in servers for c in p.children(recursive=True)]

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    leftovers = [pid for pid in server_pids if _alive(pid)]
    assert leftovers == []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        assert data_dir not in cmdline, f"left behind: {p.info['pid']} {cmdline}"
