"""Database engines and sessions.

Sync SQLAlchemy everywhere: the web backend runs blocking queries in a thread
(`asyncio.to_thread`) so the event loop never waits on Postgres.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session, create_engine

from healthguard.settings import get_settings

_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().effective_database_url()
    if url not in _engines:
        _engines[url] = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    return _engines[url]


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dispose_engines() -> None:
    """Close pooled connections (after a fork, or when tests switch databases)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
