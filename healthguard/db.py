"""Database engines and sessions.

Sync SQLAlchemy everywhere: the web backend runs blocking queries in a thread
(`asyncio.to_thread`) so the event loop never waits on Postgres.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from healthguard.settings import get_settings

_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().effective_database_url()
    if url not in _engines:
        # prepare_threshold None: no server-side prepared statements. psycopg's automatic
        # ones (after 5 runs of a statement) were seen colliding ("prepared statement _pg3_0
        # already exists") in a job mixing savepoints and bulk statements; every statement
        # here is planned cheaply, and this also keeps the app usable behind pgbouncer.
        _engines[url] = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={"prepare_threshold": None},
        )
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


AFTER_COMMIT = "healthguard.after_commit"
log = logging.getLogger(__name__)


def after_commit(session: OrmSession, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction commits (dropped on rollback): the fast
    path of work whose truth is already in the transaction, e.g. enqueueing the RQ job of an
    escalation timer stored in the same transaction. A callback that fails is logged and
    skipped, never raised: the sweeps that read the stored state do it later."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


@event.listens_for(OrmSession, "after_commit")
def _run_after_commit(session: OrmSession) -> None:
    for callback in session.info.pop(AFTER_COMMIT, []):
        try:
            callback()
        except Exception:
            log.exception(
                "after-commit callback %r failed; the periodic sweep will redo it", callback
            )


@event.listens_for(OrmSession, "after_rollback")
def _drop_after_commit(session: OrmSession) -> None:
    session.info.pop(AFTER_COMMIT, None)


def dispose_engines() -> None:
    """Close pooled connections (after a fork, or when tests switch databases)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
