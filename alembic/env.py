"""Alembic environment: migrates the HealthGuard schema (healthguard.models.metadata).

The database URL comes from the ``sqlalchemy.url`` option when set (healthguard.migrations
sets it) and otherwise from the settings (``DATABASE_URL`` or the embedded Postgres). A caller
may also hand over an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from logging.config import fileConfig

from sqlalchemy import Connection, create_engine, pool

from alembic import context
from healthguard.models import metadata

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from healthguard.settings import get_settings

    return get_settings().effective_database_url()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
