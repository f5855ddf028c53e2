"""The `healthguard` command.

    healthguard up         everything: services, migrations, demo data, workers, scheduler, web
    healthguard services   only the embedded Postgres and Redis; prints their URLs
    healthguard web        the Reflex app in prod mode (UI + API on one port)
    healthguard worker     an RQ worker (--triage, --alerts: the non-forking ones)
    healthguard scheduler  the rq-scheduler (periodic jobs, escalation timers)
    healthguard migrate    apply migrations      healthguard seed        load the demo data
    healthguard doctor     check versions, connectivity and migrations, in plain words
    healthguard user create|reset-password|lock|unlock   manage sign-in accounts
    healthguard keys rotate                               re-encrypt patient data with the new key
    healthguard audit verify|export                       check or export the audit log
    healthguard mllp       the HL7 v2 (ORU^R01) listener over MLLP
    healthguard news2      score NEWS2 for each JSON line on stdin

Expected failures print one clear paragraph and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    import uuid

    from sqlmodel import Session

    from healthguard.security.accounts import Origin


# Alerts workers (HEALTHGUARD_ALERTS_WORKERS, 2): with two, a timer never waits behind a slow
# delivery (an SMTP or voice call can take seconds), and 1,000 timers due within a minute keep
# p99 lateness well under 1 s on a busy 2-core machine (bench/escalation_timers.py).


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
        if settings.is_demo:
            from healthguard.security.demo import set_demo_passwords
            from healthguard.seed import DEMO_USERS

            created["demo passwords"] = set_demo_passwords(
                session, [u[0] for u in DEMO_USERS], now=datetime.now(UTC)
            )
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
        sys.executable,
        "-m",
        "reflex",
        "run",
        "--env",
        "prod",
        "--frontend-port",
        str(settings.web_port),
        "--backend-port",
        str(settings.web_port),
        "--backend-host",
        settings.web_host,
    ]


def check_keys(settings: Settings) -> None:
    """Refuse to start when the patient-data keys cannot decrypt the data (named key id)."""
    from healthguard.security.crypto import DecryptionError, KeyringError
    from healthguard.security.rotation import check_keys_at_startup

    try:
        check_keys_at_startup(settings)
    except (KeyringError, DecryptionError) as exc:
        raise CommandError(
            f"The patient-data keys do not work: {exc} HealthGuard Ops will not start rather "
            "than show or write unreadable patient data."
        ) from None


def cmd_web(settings: Settings) -> int:
    check_web_port(settings)
    check_keys(settings)
    os.chdir(PROJECT_ROOT)
    os.execvpe(sys.executable, web_argv(settings), child_env(settings))
    return 0  # not reached


def cmd_worker(
    settings: Settings,
    burst: bool = False,
    triage: bool = False,
    alerts: bool = False,
    urgent: bool = False,
) -> int:
    from workers.run import run_worker

    check_keys(settings)
    run_worker(burst=burst, triage=triage, alerts=alerts, urgent=urgent)
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
        check_keys(settings)
        env = child_env(settings)
        hg = [sys.executable, "-m", "healthguard.cli"]
        for i in range(settings.rq_workers):
            supervisor.spawn(f"worker {i + 1}", [*hg, "worker"], env, cwd=str(PROJECT_ROOT))
        for i in range(settings.triage_workers):
            triage = [*hg, "worker", "--triage"]
            supervisor.spawn(f"triage worker {i + 1}", triage, env, cwd=str(PROJECT_ROOT))
        for i in range(settings.urgent_triage_workers):
            urgent = [*hg, "worker", "--urgent"]
            supervisor.spawn(f"urgent worker {i + 1}", urgent, env, cwd=str(PROJECT_ROOT))
        alerts_workers = settings.alerts_workers
        for i in range(alerts_workers):
            alerts = [*hg, "worker", "--alerts"]
            supervisor.spawn(f"alerts worker {i + 1}", alerts, env, cwd=str(PROJECT_ROOT))
        supervisor.spawn("scheduler", [*hg, "scheduler"], env, cwd=str(PROJECT_ROOT))
        say(
            f"  Started {settings.rq_workers} worker(s), {settings.triage_workers} triage "
            f"worker(s), {settings.urgent_triage_workers} urgent-lane worker(s), "
            f"{alerts_workers} alerts worker(s) (escalation timers, notifications) "
            "and the scheduler."
        )
        if settings.mllp_port:
            supervisor.spawn("HL7 listener", [*hg, "mllp"], env, cwd=str(PROJECT_ROOT))
            say(f"  HL7 v2 over MLLP listening on port {settings.mllp_port}.")
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
        from healthguard.security.demo import DEMO_PASSWORD
        from healthguard.seed import DEMO_USERS

        lines.append(f"  Demo sign-ins (demo mode only), password {DEMO_PASSWORD!r}:")
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


def _origin() -> Origin:
    from healthguard.security.accounts import Origin

    return Origin(ip=None, user_agent="healthguard-cli")


def read_new_password(args: argparse.Namespace) -> str:
    """From --password-stdin, or asked twice on the terminal (never from the command line,
    where it would land in the shell history and the process list)."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise CommandError("The two passwords differ; nothing was changed.")
    return first


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    from healthguard.db import session_scope
    from healthguard.security.accounts import (
        AccountError,
        create_user,
        reset_password,
        set_locked,
    )
    from healthguard.security.audit_cli import cli_actor

    now, actor = datetime.now(UTC), cli_actor()
    try:
        with session_scope(settings.effective_database_url()) as session:
            if args.action == "create":
                staff_id = _staff_id(session, args.staff) if args.staff else None
                user = create_user(
                    session,
                    username=args.username,
                    role=args.role,
                    password=read_new_password(args),
                    actor=actor,
                    now=now,
                    origin=_origin(),
                    staff_id=staff_id,
                )
                say(f"Created {user.username} ({user.role}).")
            elif args.action == "reset-password":
                reset_password(
                    session,
                    username=args.username,
                    password=read_new_password(args),
                    actor=actor,
                    now=now,
                    origin=_origin(),
                )
                say(f"Password of {args.username} changed; its sessions were ended.")
            else:
                locked = args.action == "lock"
                set_locked(
                    session,
                    username=args.username,
                    locked=locked,
                    actor=actor,
                    now=now,
                    origin=_origin(),
                )
                done = "locked: every session and token stopped" if locked else "unlocked"
                say(f"{args.username} {done}.")
    except AccountError as exc:
        raise CommandError(f"{exc.field}: {exc.message}") from None
    return 0


def _staff_id(session: Session, name: str) -> uuid.UUID:
    from sqlmodel import select

    from healthguard.models import Staff

    staff = session.exec(select(Staff).where(Staff.display_name == name)).first()
    if staff is None:
        raise CommandError(f"No staff member named {name!r}.")
    return staff.id


def cmd_mllp(settings: Settings, args: argparse.Namespace) -> int:
    from healthguard.ingest.mllp import cmd_mllp as serve

    check_keys(settings)
    return serve(settings, args.host or settings.mllp_host, args.port or settings.mllp_port)


def cmd_news2(settings: Settings, args: argparse.Namespace) -> int:
    from healthguard.clinical.news2_cli import run_news2_lines

    return run_news2_lines(sys.stdin, sys.stdout)


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from healthguard.security.rotation import cmd_keys_rotate

    return cmd_keys_rotate(settings, batch_size=args.batch_size)


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from healthguard.security.audit_cli import cmd_audit_export, cmd_audit_verify

    if args.action == "verify":
        return cmd_audit_verify(settings)
    return cmd_audit_export(
        settings, args.format, args.output, actor_filter=args.actor, action=args.filter_action
    )


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
    kind = worker.add_mutually_exclusive_group()
    kind.add_argument(
        "--triage", action="store_true", help="the non-forking worker of the triage queue"
    )
    kind.add_argument(
        "--urgent",
        action="store_true",
        help="the non-forking worker of the urgent lane only (possible cardiac arrests)",
    )
    kind.add_argument(
        "--alerts",
        action="store_true",
        help="the non-forking worker of the alerts queue (escalation timers, notifications)",
    )
    sub.add_parser("scheduler", help="run the rq-scheduler")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="load the demo data (idempotent)")
    sub.add_parser("doctor", help="check versions, connectivity and migrations")

    user = sub.add_parser("user", help="manage sign-in accounts (administrators)")
    user_sub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = user_sub.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument(
        "--role",
        required=True,
        help="nurse, charge_nurse, physician, rapid_response, admin or auditor",
    )
    create.add_argument("--staff", help="the staff member's display name, to link the account")
    for name, text in (
        ("reset-password", "set a new password (ends the account's sessions)"),
        ("lock", "disable an account: every session and token stops"),
        ("unlock", "enable an account again and clear a lockout"),
    ):
        user_sub.add_parser(name, help=text).add_argument("username")
    for action_parser in (create, user_sub.choices["reset-password"]):
        action_parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )

    mllp = sub.add_parser("mllp", help="the HL7 v2 ORU^R01 listener over MLLP")
    mllp.add_argument("--host", help="address to bind (default HEALTHGUARD_MLLP_HOST)")
    mllp.add_argument("--port", type=int, help="port (default HEALTHGUARD_MLLP_PORT, 2575)")
    sub.add_parser("news2", help="score NEWS2 for each JSON object on stdin, one per line")

    keys = sub.add_parser("keys", help="patient-data encryption keys")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = keys_sub.add_parser("rotate", help="re-encrypt everything under the current key")
    rotate.add_argument("--batch-size", type=int, default=500)

    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    audit_sub.add_parser("verify", help="check the hash chain; names the first bad row")
    export = audit_sub.add_parser("export", help="export the audit log (itself audited)")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.add_argument("--actor", help="only rows of this actor")
    export.add_argument("--action", dest="filter_action", help='only this action, or "login.*"')
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


WITH_ARGS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "user": cmd_user,
    "keys": cmd_keys,
    "mllp": cmd_mllp,
    "news2": cmd_news2,
    "audit": cmd_audit,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        if args.command not in ("doctor", "news2"):
            settings.require_secrets()
        if args.command == "worker":
            return cmd_worker(
                settings,
                burst=args.burst,
                triage=args.triage,
                alerts=args.alerts,
                urgent=args.urgent,
            )
        if args.command in WITH_ARGS:
            return WITH_ARGS[args.command](settings, args)
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
