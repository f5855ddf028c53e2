"""Dependency checks shared by `/readyz` and `healthguard doctor`, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from healthguard.settings import Settings, get_settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def check_database(settings: Settings) -> Check:
    url = settings.effective_database_url()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        return Check("database", True, f"Postgres {version} reachable")
    except SQLAlchemyError as exc:
        return Check("database", False, f"unreachable at {_safe_url(url)}: {_short(exc)}")
    finally:
        engine.dispose()


def check_redis(settings: Settings) -> Check:
    url = settings.effective_redis_url()
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        info: dict[str, object] = client.info("server")  # type: ignore[assignment]
        version = info.get("redis_version", "?")
        return Check("redis", True, f"Redis {version} reachable")
    except redis.RedisError as exc:
        return Check("redis", False, f"unreachable at {_safe_url(url)}: {_short(exc)}")
    finally:
        client.close()


def check_migrations(settings: Settings) -> Check:
    from healthguard.migrations import check_schema, head_revision

    try:
        state = check_schema(settings.effective_database_url())
    except SQLAlchemyError as exc:
        return Check("migrations", False, f"cannot be read: {_short(exc)}")
    messages = {
        "current": (True, f"at head ({head_revision()})"),
        "behind": (False, "behind: run `healthguard migrate`"),
        "empty": (False, "empty database: run `healthguard migrate`"),
        "ahead": (
            False,
            "ahead: the database was migrated by a newer HealthGuard; run that version",
        ),
    }
    ok, detail = messages[state]
    return Check("migrations", ok, detail)


def readiness(settings: Settings | None = None) -> list[Check]:
    settings = settings or get_settings()
    database = check_database(settings)
    checks = [database, check_redis(settings)]
    if database.ok:
        checks.append(check_migrations(settings))
    else:
        checks.append(Check("migrations", False, "unknown: the database is unreachable"))
    return checks


def _safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
