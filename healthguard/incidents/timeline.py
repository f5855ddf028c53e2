"""An incident's timeline: writing entries (free text encrypted) and reading them back.

Free text typed by a person (a note, the reason of a reassignment or a downgrade, a
resolution text, the concern of a staff-raised incident) never goes into ``message`` or
``data``: it is stored in ``incident_events.note_enc`` as AES-256-GCM with the patient-data
keyring (``HEALTHGUARD_PHI_KEYRING``, healthguard/security/crypto.py). The associated data
binds the value to its row, ``incident_events.note:<event id>`` (and a resolution text to its
incident, ``incidents.resolution_text:<incident id>``), so a value copied to another row
does not decrypt. Entries are written in the caller's transaction, with the change they
record.

Readers decrypt only after the caller has checked that the person may see the incident
(``healthguard.incidents.access.visible_incident``); a value that cannot be decrypted reads
as ``UNREADABLE`` and is logged with its key id and row id only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.incidents.lifecycle import TimelineEntry
from healthguard.models import Incident, IncidentEvent
from healthguard.patients.phi import keyring_from_settings
from healthguard.security.crypto import DecryptionError, Keyring, decrypt, encrypt, reencrypt

log = logging.getLogger(__name__)

UNREADABLE = "?"


def note_aad(event_id: int) -> str:
    return f"incident_events.note:{event_id}"


def resolution_text_aad(incident_id: uuid.UUID | str) -> str:
    return f"incidents.resolution_text:{incident_id}"


def encrypt_resolution_text(
    incident_id: uuid.UUID, text: str | None, keyring: Keyring | None = None
) -> str | None:
    if text is None:
        return None
    return encrypt(keyring or keyring_from_settings(), text, resolution_text_aad(incident_id))


def decrypt_resolution_text(
    incident_id: uuid.UUID, token: str | None, keyring: Keyring | None = None
) -> str | None:
    if token is None:
        return None
    return _decrypt(token, resolution_text_aad(incident_id), f"incident {incident_id}", keyring)


def _decrypt(token: str, aad: str, where: str, keyring: Keyring | None) -> str:
    try:
        return decrypt(keyring or keyring_from_settings(), token, aad)
    except DecryptionError as exc:
        log.error("cannot decrypt the free text of %s: %s", where, exc)
        return UNREADABLE


def _next_event_ids(session: Session, count: int) -> list[int]:
    """Ids for new timeline rows, taken from the identity's sequence (a note's associated
    data names its row, so the id is needed before the row is written)."""
    rows = session.execute(
        sa.text(
            "SELECT nextval(pg_get_serial_sequence('incident_events', 'id')) "
            "FROM generate_series(1, :n)"
        ),
        {"n": count},
    ).all()
    return [int(row[0]) for row in rows]


def write_entries(
    session: Session,
    incident_id: uuid.UUID,
    entries: Sequence[TimelineEntry],
    *,
    keyring: Keyring | None = None,
) -> list[IncidentEvent]:
    """Add the entries to the session (flushed), their notes encrypted. The caller commits."""
    # With a note, every row of the batch takes its id first, so the ids keep the order of
    # the entries (the timeline is read in (at, id) order).
    has_note = any(e.note is not None for e in entries)
    ids: list[int | None] = (
        list(_next_event_ids(session, len(entries))) if has_note else [None] * len(entries)
    )
    if has_note:
        keyring = keyring or keyring_from_settings()
    rows: list[IncidentEvent] = []
    for entry, event_id in zip(entries, ids, strict=True):
        row = IncidentEvent(
            id=event_id,
            incident_id=incident_id,
            at=entry.at,
            kind=entry.kind,
            actor=entry.actor,
            message=entry.message,
            data=dict(entry.data),
        )
        if entry.note is not None:
            assert keyring is not None and event_id is not None
            row.note_enc = encrypt(keyring, entry.note, note_aad(event_id))
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


@dataclass(frozen=True)
class TimelineRow:
    """One entry as a reader sees it (``note`` decrypted)."""

    id: int
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]
    note: str | None


def read_timeline(
    session: Session, incident_id: uuid.UUID, *, keyring: Keyring | None = None
) -> list[TimelineRow]:
    """Every entry of the incident in order (time, then the order written), notes
    decrypted. Call only for a person who may see the incident."""
    events = session.exec(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
    ).all()
    rows: list[TimelineRow] = []
    for event in events:
        note = None
        if event.note_enc is not None:
            note = _decrypt(
                event.note_enc, note_aad(int(event.id or 0)), f"event {event.id}", keyring
            )
        rows.append(
            TimelineRow(
                id=int(event.id or 0),
                at=event.at,
                kind=event.kind,
                actor=event.actor,
                message=event.message,
                data=dict(event.data or {}),
                note=note,
            )
        )
    return rows


# --- key rotation (``healthguard keys rotate`` runs this after the patient data) ------------


def _stale_notes(current_id: str) -> sa.ColumnElement[bool]:
    column = IncidentEvent.__table__.c.note_enc  # type: ignore[attr-defined]
    return sa.and_(column.is_not(None), sa.func.split_part(column, ".", 2) != current_id)


def _stale_resolutions(current_id: str) -> sa.ColumnElement[bool]:
    column = Incident.__table__.c.resolution_text_enc  # type: ignore[attr-defined]
    return sa.and_(column.is_not(None), sa.func.split_part(column, ".", 2) != current_id)


def count_stale_text(session: Session, keyring: Keyring) -> int:
    """Incident free-text values (notes, resolution texts) not under the current key."""
    notes = session.execute(
        sa.select(sa.func.count())
        .select_from(IncidentEvent.__table__)  # type: ignore[attr-defined]
        .where(_stale_notes(keyring.current_id))
    ).scalar_one()
    resolutions = session.execute(
        sa.select(sa.func.count())
        .select_from(Incident.__table__)  # type: ignore[attr-defined]
        .where(_stale_resolutions(keyring.current_id))
    ).scalar_one()
    return int(notes) + int(resolutions)


def rotate_text(
    session_factory: Callable[[], AbstractContextManager[Session]],
    keyring: Keyring,
    batch_size: int = 500,
) -> tuple[int, int]:
    """Re-encrypt every incident note and resolution text still under an older key, in
    batches, each its own short transaction (rows locked until it commits); resumable like
    the patient rotation. Returns (values re-encrypted, batches). DecryptionError (naming
    the key id) when a value's key is not in the keyring; that batch is rolled back."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    events = IncidentEvent.__table__  # type: ignore[attr-defined]
    incidents = Incident.__table__  # type: ignore[attr-defined]
    jobs: list[tuple[Any, Any, Any, Callable[[Any], str]]] = [
        (events, events.c.note_enc, _stale_notes, lambda row_id: note_aad(int(row_id))),
        (
            incidents,
            incidents.c.resolution_text_enc,
            _stale_resolutions,
            resolution_text_aad,
        ),
    ]
    done = batches = 0
    for table, column, stale, aad in jobs:
        last_id: Any = None
        while True:
            with session_factory() as session:
                stmt = (
                    sa.select(table.c.id, column)
                    .where(stale(keyring.current_id))
                    .order_by(table.c.id)
                    .limit(batch_size)
                    .with_for_update()
                )
                if last_id is not None:
                    stmt = stmt.where(table.c.id > last_id)
                rows = session.execute(stmt).all()
                if not rows:
                    session.rollback()
                    break
                for row_id, token in rows:
                    session.execute(
                        sa.update(table)
                        .where(table.c.id == row_id)
                        .values({column.name: reencrypt(keyring, token, aad(row_id))})
                    )
                session.commit()
            last_id = rows[-1][0]
            done += len(rows)
            batches += 1
    return done, batches
