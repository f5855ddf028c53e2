"""Schema migrations as plain functions taking a database URL.

Used by ``healthguard migrate``, ``healthguard doctor`` and ``/readyz``. The migration
scripts live in ``alembic/`` at the repository root (``alembic.ini`` next to it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, pool

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
SCRIPT_LOCATION = PROJECT_ROOT / "alembic"

SchemaState = Literal["current", "behind", "ahead", "empty"]


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration of this code base, optionally pointed at ``url``."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        # configparser interpolation: a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Leave the caller's logging alone (env.py would otherwise load alembic.ini's).
    config.attributes["configure_logger"] = False
    return config


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    """One connection, no pool left behind (tests drop databases right after)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _run_command(url: str, fn: Any, revision: str) -> None:
    with _connect(url) as conn:
        config = alembic_config(url)
        config.attributes["connection"] = conn
        fn(config, revision)
        conn.commit()


def upgrade_to_head(url: str) -> None:
    """Apply every pending migration (on every branch, should two ever meet)."""
    _run_command(url, command.upgrade, "heads")


def downgrade_to_base(url: str) -> None:
    """Revert every migration (drops all HealthGuard tables; keeps ``alembic_version``)."""
    _run_command(url, command.downgrade, "base")


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


def _current_heads(conn: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(conn).get_current_heads()


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with _connect(url) as conn:
        heads = _current_heads(conn)
    return heads[0] if heads else None


def pending_model_changes(url: str) -> list[Any]:
    """Differences between the models and the database (Alembic autogenerate diffs).

    Empty when the migrated database matches ``healthguard.models`` exactly.
    """
    from healthguard.models import metadata

    with _connect(url) as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def check_schema(url: str) -> SchemaState:
    """Where the database stands relative to this code's migrations.

    "empty": never migrated (or downgraded to base); "current": at the head revision;
    "behind": at an older known revision (run the migrations); "ahead": at a revision this
    code does not know, i.e. migrated by a newer version of HealthGuard.
    """
    script = ScriptDirectory.from_config(alembic_config())
    with _connect(url) as conn:
        db_heads = set(_current_heads(conn))
    if not db_heads:
        return "empty"
    known = {rev.revision for rev in script.walk_revisions()}
    if not db_heads <= known:
        return "ahead"
    if db_heads == set(script.get_heads()):
        return "current"
    return "behind"


def table_names(url: str) -> list[str]:
    """Tables in the public schema (handy for checks and tests)."""
    with _connect(url) as conn:
        return sorted(inspect(conn).get_table_names())
