"""Helpers shared by the test modules and fixtures (import as `from testsupport import ...`)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_conninfo(server_url: str) -> str:
    url = sa.engine.make_url(server_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(server_url: str, prefix: str = "test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    from healthguard.db import dispose_engines

    dispose_engines()
    name = sa.engine.make_url(database_url).database
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def env_override(**values: str) -> Iterator[None]:
    """Point HealthGuard's settings (environment, cached settings, engines) elsewhere, then
    back."""
    from healthguard.db import dispose_engines
    from healthguard.settings import get_settings

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    get_settings.cache_clear()
    dispose_engines()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        dispose_engines()


ONCALL_TIMELINE_KINDS = frozenset({"assigned", "not_assigned", "escalation", "declined"})


def people_and_rules(entries: Iterable[Any]) -> list[Any]:
    """Timeline entries without those the on-call writes by itself (assignment, escalation
    steps, notifications): tests of the incident workflow compare the rest exactly. Takes API
    dicts or IncidentEvent rows."""

    def kind(entry: Any) -> str:
        return str(entry["kind"] if isinstance(entry, dict) else entry.kind)

    return [
        e
        for e in entries
        if kind(e) not in ONCALL_TIMELINE_KINDS and not kind(e).startswith("notification.")
    ]


def quiet_incident(session: Any, incident: Any) -> Any:
    """Undo, in the caller's transaction, what opening `incident` started on its own
    (assignment, escalation state, notifications and their timeline entries): for tests of the
    notification service that count exactly the notifications they ask for. The delivery
    jobs of the removed notifications and timers are not queued."""
    from healthguard.db import AFTER_COMMIT
    from healthguard.models import IncidentEscalation, IncidentEvent, Notification

    session.flush()
    session.info.pop(AFTER_COMMIT, None)  # the jobs of what is removed here
    for model in (Notification, IncidentEscalation):
        session.execute(sa.delete(model).where(model.incident_id == incident.id))
    session.execute(
        sa.delete(IncidentEvent).where(
            IncidentEvent.incident_id == incident.id,
            sa.or_(
                IncidentEvent.kind.in_(ONCALL_TIMELINE_KINDS),
                IncidentEvent.kind.like("notification.%"),
            ),
        )
    )
    incident.assignee_staff_id = None
    session.add(incident)
    session.flush()
    return incident
