"""Storing readings: one bulk, idempotent statement, then scoring after the commit.

``store_readings`` sends every reading of a batch in ONE statement
(``INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT (source, patient_id,
parameter, observed_at) DO NOTHING RETURNING ...``): a replayed batch stores nothing twice
and the statement costs one round trip whatever the batch size. It returns the readings
that were newly stored.

Durability: a 202 (REST/FHIR) or an AA (HL7) is only sent after the transaction that holds
the readings has committed in Postgres. Scoring is asked for afterwards
(``after_commit_scoring``): it only marks the patients dirty and enqueues one batch job, so a
lost request delays a score but never loses a reading.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.patients.phi import index_key_from_settings, mrn_index

log = logging.getLogger(__name__)

_INSERT = sa.text(
    """
    INSERT INTO observations
        (patient_id, parameter, value, value_text, unit, source, observed_at, received_at)
    SELECT r.patient_id, r.parameter, r.value, r.value_text, r.unit, r.source, r.observed_at,
           CAST(:received_at AS timestamptz)
    FROM unnest(
        CAST(:patient_id AS uuid[]), CAST(:parameter AS varchar[]), CAST(:value AS float8[]),
        CAST(:value_text AS varchar[]), CAST(:unit AS varchar[]), CAST(:source AS varchar[]),
        CAST(:observed_at AS timestamptz[])
    ) AS r(patient_id, parameter, value, value_text, unit, source, observed_at)
    ON CONFLICT (source, patient_id, parameter, observed_at) DO NOTHING
    RETURNING source, patient_id, parameter, observed_at
    """
)

Key = tuple[str, uuid.UUID, str, datetime]


def _key(reading: Reading) -> Key:
    return (reading.source, reading.patient_id, reading.parameter, reading.observed_at)


def store_readings(
    session: Session, readings: list[Reading], received_at: datetime
) -> list[Reading]:
    """Insert `readings` in one statement (no commit); the ones newly stored, in input order.

    A reading already stored (same source, patient, parameter and observed_at) is skipped,
    as is a repeat of it within the same batch (the first one wins)."""
    if not readings:
        return []
    rows = session.connection().execute(
        _INSERT,
        {
            "received_at": received_at,
            "patient_id": [r.patient_id for r in readings],
            "parameter": [r.parameter for r in readings],
            "value": [r.value for r in readings],
            "value_text": [r.value_text for r in readings],
            "unit": [r.unit for r in readings],
            "source": [r.source for r in readings],
            "observed_at": [r.observed_at for r in readings],
        },
    )
    inserted: set[Key] = {(row[0], row[1], row[2], row[3]) for row in rows}
    new: list[Reading] = []
    for reading in readings:
        key = _key(reading)
        if key in inserted:
            inserted.discard(key)  # a repeat within the batch was not stored twice
            new.append(reading)
    return new


def after_commit_scoring(patient_ids: set[uuid.UUID]) -> None:
    """Ask the triage worker to score these patients; call AFTER the readings committed.

    Delegates to ``workers.triage.request_scoring`` (marks the patients dirty in Redis and
    enqueues one batch job). Does nothing while that function does not exist. A failure is
    logged, not raised: the readings are already durable and the caller has answered."""
    if not patient_ids:
        return
    try:
        module = importlib.import_module("workers.triage")
    except ModuleNotFoundError as exc:
        if exc.name in ("workers", "workers.triage"):
            return
        raise
    request_scoring = getattr(module, "request_scoring", None)
    if request_scoring is None:
        return
    try:
        request_scoring(set(patient_ids))
    except Exception:
        log.exception("could not request scoring of %d patient(s)", len(patient_ids))


def resolve_patients(
    session: Session, identifiers: Iterable[str], index_key: str | None = None
) -> dict[str, uuid.UUID]:
    """Map each identifier that names a known patient (a patient id, or an MRN through the
    blind index; whitespace and case of MRNs ignored) to the patient id. Two queries at most,
    whatever the number of identifiers."""
    found: dict[str, uuid.UUID] = {}
    wanted = {i for i in identifiers if isinstance(i, str) and i.strip()}
    as_uuid: dict[uuid.UUID, str] = {}
    for identifier in wanted:
        try:
            as_uuid[uuid.UUID(identifier.strip())] = identifier
        except ValueError:
            continue
    if as_uuid:
        rows = session.connection().execute(
            sa.text("SELECT id FROM patients WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": list(as_uuid)},
        )
        for (pid,) in rows:
            found[as_uuid[pid]] = pid
    mrns = [i for i in wanted if i not in found]
    if mrns:
        key = index_key if index_key is not None else index_key_from_settings()
        by_index: dict[str, list[str]] = {}
        for mrn in mrns:
            by_index.setdefault(mrn_index(key, mrn), []).append(mrn)
        rows = session.connection().execute(
            sa.text(
                "SELECT mrn_index, id FROM patients "
                "WHERE mrn_index = ANY(CAST(:indexes AS varchar[]))"
            ),
            {"indexes": list(by_index)},
        )
        for index, pid in rows:
            for mrn in by_index.get(index, []):
                found[mrn] = pid
    return found


def ingest(readings: list[Reading], received_at: datetime) -> list[Reading]:
    """Store `readings` in their own transaction, commit, then request scoring of the
    patients with new readings. The newly stored readings."""
    with session_scope() as session:
        new = store_readings(session, readings, received_at)
    after_commit_scoring({r.patient_id for r in new})
    return new
