"""Database engines and sessions (sync for workers and services, async for the web backend)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session, create_engine

from healthguard.settings import get_settings

_engines: dict[str, Engine] = {}
_async_engines: dict[str, AsyncEngine] = {}


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().effective_database_url()
    if url not in _engines:
        _engines[url] = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    return _engines[url]


def get_async_engine(url: str | None = None) -> AsyncEngine:
    url = url or get_settings().effective_database_url()
    if url not in _async_engines:
        _async_engines[url] = create_async_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=5
        )
    return _async_engines[url]


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
    _async_engines.clear()
