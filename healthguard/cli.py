"""The `healthguard` command.

    healthguard up         everything: services, migrations, demo data, workers, scheduler, web
    healthguard services   only the embedded Postgres and Redis; prints their URLs
    healthguard web        the Reflex app in prod mode (UI + API on one port)
    healthguard worker     an RQ worker          healthguard scheduler   the rq-scheduler
    healthguard migrate    apply migrations      healthguard seed        load the demo data
    healthguard doctor     check versions, connectivity and migrations, in plain words

Expected failures print one clear paragraph and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from healthguard.runtime.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceError,
    port_is_free,
    wait_until,
)
from healthguard.runtime.supervisor import Supervisor
from healthguard.runtime.toolchain import reflex_env
from healthguard.settings import PROJECT_ROOT, MissingSecretError, Settings, get_settings


class CommandError(RuntimeError):
    """An expected failure: the message says what happened and what to do."""


def say(message: str) -> None:
    print(message, flush=True)


# --- services -----------------------------------------------------------------------------


def start_services(settings: Settings, supervisor: Supervisor | None = None) -> tuple[str, str]:
    """Start (or reuse) the embedded servers the settings ask for; return the two URLs."""
    if settings.uses_embedded_postgres():
        pg = EmbeddedPostgres(settings.data_dir, settings.embedded_postgres_port)
        started = pg.start()
        say(
            f"  Postgres 16 {'started' if started else 'already running'} on 127.0.0.1:{pg.port}"
            f" (data in {pg.pgdata})"
        )
        if started and supervisor is not None:
            supervisor.cleanups.append(pg.stop)
    else:
        say("  Postgres: using DATABASE_URL")
    if settings.uses_embedded_redis():
        rd = EmbeddedRedis(settings.data_dir, settings.embedded_redis_port)
        started = rd.start()
        say(f"  Redis {'started' if started else 'already running'} on 127.0.0.1:{rd.port}")
        if started and supervisor is not None:
            supervisor.cleanups.append(rd.stop)
    else:
        say("  Redis: using REDIS_URL")
    return settings.effective_database_url(), settings.effective_redis_url()


def child_env(settings: Settings) -> dict[str, str]:
    """The environment every child process gets: the same services, the same mode."""
    env = reflex_env()
    env["DATABASE_URL"] = settings.effective_database_url()
    env["REDIS_URL"] = settings.effective_redis_url()
    env["HEALTHGUARD_MODE"] = settings.mode
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["GRANIAN_WORKERS"] = str(settings.web_workers)
    return env


# --- commands -----------------------------------------------------------------------------


def cmd_migrate(settings: Settings) -> int:
    from healthguard.migrations import check_schema, current_revision, upgrade_to_head

    url = settings.effective_database_url()
    state = check_schema(url)
    if state == "ahead":
        raise CommandError(
            f"The database is at migration {current_revision(url)!r}, which this version of "
            "HealthGuard Ops does not know: it was migrated by a newer version. Run that "
            "version, or restore a backup taken before the upgrade. Nothing was changed."
        )
    if state == "current":
        say("  Migrations: already at head.")
        return 0
    upgrade_to_head(url)
    say(f"  Migrations: applied, now at {current_revision(url)}.")
    return 0


def cmd_seed(settings: Settings) -> int:
    from healthguard.db import session_scope
    from healthguard.seed import seed_demo_data

    with session_scope(settings.effective_database_url()) as session:
        created = seed_demo_data(session, datetime.now(UTC))
    added = {k: v for k, v in created.items() if v}
    say("  Demo data: " + (", ".join(f"{v} {k}" for k, v in added.items()) or "already loaded."))
    return 0


def cmd_services(settings: Settings) -> int:
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    say("Starting the embedded services…")
    try:
        db_url, redis_url = start_services(settings, supervisor)
        say(f"\nDATABASE_URL={db_url}\nREDIS_URL={redis_url}\n\nPress Ctrl-C to stop.")
        while not supervisor.stopping:
            time.sleep(0.2)
    finally:
        supervisor.stop_all()
    return 0


def web_argv(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "reflex", "run", "--env", "prod",
        "--frontend-port", str(settings.web_port),
        "--backend-port", str(settings.web_port),
        "--backend-host", settings.web_host,
    ]  # fmt: skip


def cmd_web(settings: Settings) -> int:
    check_web_port(settings)
    os.chdir(PROJECT_ROOT)
    os.execvpe(sys.executable, web_argv(settings), child_env(settings))
    return 0  # not reached


def cmd_worker(settings: Settings, burst: bool = False) -> int:
    from workers.run import run_worker

    run_worker(burst=burst)
    return 0


def cmd_scheduler(settings: Settings) -> int:
    from workers.run import run_scheduler

    run_scheduler()
    return 0


def check_web_port(settings: Settings) -> None:
    if not port_is_free(settings.web_port, settings.web_host):
        raise CommandError(
            f"Port {settings.web_port} is already in use, so the web app cannot listen on it. "
            "Another HealthGuard may still be running (stop it with Ctrl-C in its terminal), "
            f"or choose another port: HEALTHGUARD_WEB_PORT=3001 make run."
        )


def cmd_up(settings: Settings) -> int:
    check_web_port(settings)
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    started = time.monotonic()
    try:
        say("HealthGuard Ops: starting services")
        start_services(settings, supervisor)
        check_readiness_or_fail(settings, parts=("database", "redis"))
        cmd_migrate(settings)
        if settings.is_demo:
            cmd_seed(settings)
        env = child_env(settings)
        hg = [sys.executable, "-m", "healthguard.cli"]
        for i in range(settings.rq_workers):
            supervisor.spawn(f"worker {i + 1}", [*hg, "worker"], env, cwd=str(PROJECT_ROOT))
        supervisor.spawn("scheduler", [*hg, "scheduler"], env, cwd=str(PROJECT_ROOT))
        say(f"  Started {settings.rq_workers} worker(s) and the scheduler.")
        say("  Building and starting the web app (the first build takes a minute)…")
        supervisor.spawn("web", web_argv(settings), env, cwd=str(PROJECT_ROOT))
        if wait_for_web(settings, supervisor):
            print_banner(settings, time.monotonic() - started)
            return supervisor.wait()
        return 1 if not supervisor.stopping else 0
    finally:
        supervisor.stop_all()
        say("HealthGuard Ops stopped. Data is kept for next time.")


def wait_for_web(settings: Settings, supervisor: Supervisor, timeout: float = 900) -> bool:
    url = f"http://127.0.0.1:{settings.web_port}/healthz"

    def ready() -> bool:
        if supervisor.stopping or supervisor.first_exited() is not None:
            return True
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(ready, timeout, interval=0.5):
        raise CommandError(f"The web app did not answer on {url} within {timeout:.0f}s.")
    dead = supervisor.first_exited()
    if dead is not None:
        raise CommandError(
            f"{dead.name} exited with code {dead.process.returncode} while "
            "starting; its messages are above."
        )
    return not supervisor.stopping


def print_banner(settings: Settings, seconds: float) -> None:
    lines = [
        "",
        "=" * 64,
        f"  HealthGuard Ops is ready ({seconds:.0f}s): {settings.url}",
        f"  API reference: {settings.url}/api/v1/docs",
    ]
    if settings.is_demo:
        from healthguard.seed import DEMO_USERS

        lines.append("  Demo logins (passwords arrive with sign-in; demo mode only):")
        lines += [f"    {u[0]:<14} {u[1]}" for u in DEMO_USERS]
    lines += ["  Press Ctrl-C to stop everything.", "=" * 64, ""]
    say("\n".join(lines))


def check_readiness_or_fail(settings: Settings, parts: tuple[str, ...]) -> None:
    from healthguard.runtime.checks import readiness

    failing = [c for c in readiness(settings) if c.name in parts and not c.ok]
    if failing:
        raise CommandError(
            "HealthGuard Ops cannot start: "
            + "; ".join(f"{c.name} {c.detail}" for c in failing)
            + ". Check the URL in DATABASE_URL / REDIS_URL, or unset them to use the embedded "
            "servers."
        )


def cmd_doctor(settings: Settings) -> int:
    import platform

    from healthguard.runtime.checks import readiness
    from healthguard.runtime.toolchain import bun_dir, node_dir

    problems = 0
    say(f"Python {platform.python_version()} ({sys.executable})")
    try:
        import reflex

        say(f"Reflex {reflex.constants.Reflex.VERSION}")
    except Exception as exc:  # a broken install is exactly what doctor is for
        say(f"Reflex: cannot be imported ({exc}); run `make run` to reinstall.")
        problems += 1
    for name, path in (("bun", bun_dir() / "bun"), ("node", node_dir() / "node")):
        ok = path.exists()
        say(f"{name}: {path if ok else 'missing: reinstall the project (make run)'}")
        problems += not ok
    say(f"Mode: {settings.mode}")
    try:
        settings.require_secrets()
        say("Secrets: present")
    except MissingSecretError as exc:
        say(f"Secrets: {exc}")
        problems += 1
    for check in readiness(settings):
        say(f"{check.name}: {'ok, ' if check.ok else 'PROBLEM: '}{check.detail}")
        problems += not check.ok
    if settings.uses_embedded_postgres() and problems:
        say(
            "Embedded services are only running while `healthguard up` or "
            "`healthguard services` runs."
        )
    say("All good." if not problems else f"{problems} problem(s) found.")
    return 0 if not problems else 1


# --- entry point --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthguard",
        description="HealthGuard Ops: vital signs to the right nurse or doctor, in seconds.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start everything and serve the app")
    sub.add_parser("services", help="start only the embedded Postgres and Redis")
    sub.add_parser("web", help="serve the web app (UI + API) in prod mode")
    worker = sub.add_parser("worker", help="run an RQ worker")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    sub.add_parser("scheduler", help="run the rq-scheduler")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="load the demo data (idempotent)")
    sub.add_parser("doctor", help="check versions, connectivity and migrations")
    return parser


COMMANDS: dict[str, Callable[..., int]] = {
    "up": cmd_up,
    "services": cmd_services,
    "web": cmd_web,
    "worker": cmd_worker,
    "scheduler": cmd_scheduler,
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "doctor": cmd_doctor,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        if args.command != "doctor":
            settings.require_secrets()
        if args.command == "worker":
            return cmd_worker(settings, burst=args.burst)
        return COMMANDS[args.command](settings)
    except (CommandError, ServiceError, MissingSecretError) as exc:
        print(f"healthguard {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError | RedisConnectionError):
            print(
                f"healthguard {args.command}: a service is unreachable: "
                f"{str(exc).strip().splitlines()[0]}. Start it (`healthguard services`), or "
                "check DATABASE_URL / REDIS_URL; `healthguard doctor` says more.",
                file=sys.stderr,
            )
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
