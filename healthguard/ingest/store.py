"""Storing readings: one bulk, idempotent statement, then scoring after the commit.

``store_readings`` sends every reading of a batch in ONE statement
(``INSERT ... SELECT FROM json_to_recordset(<the batch as one JSON document>) ON CONFLICT
(source, patient_id, parameter, observed_at) DO NOTHING``, counted per patient): a replayed
batch stores nothing twice and the statement costs one round trip whatever the batch size.
It returns how many readings were new, per patient.

Durability: a 202 (REST/FHIR) or an AA (HL7) is only sent after the transaction that holds
the readings has committed in Postgres. Scoring is asked for afterwards
(``after_commit_scoring``): it only marks the patients dirty and enqueues one batch job, so a
lost request delays a score but never loses a reading.
"""

from __future__ import annotations

import importlib
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from healthguard.clinical.triage import is_urgent
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
    FROM json_to_recordset(CAST(:rows AS json)) AS r(
        patient_id uuid, parameter varchar, value float8, value_text varchar, unit varchar,
        source varchar, observed_at timestamptz)
    ON CONFLICT (source, patient_id, parameter, observed_at) DO NOTHING
    RETURNING patient_id
    """
)
# Only a count per patient comes back: returning every stored row cost ~10 ms per 500.
_INSERT_COUNTED = sa.text(
    f"WITH stored AS ({_INSERT.text}) SELECT patient_id, count(*) FROM stored GROUP BY patient_id"
)


@dataclass(frozen=True)
class Stored:
    """What one store_readings call stored: readings new to the database, per patient."""

    per_patient: dict[uuid.UUID, int] = field(default_factory=dict)
    # Patients with a new reading that may meet an arrest rule (scored in the urgent lane).
    urgent: frozenset[uuid.UUID] = frozenset()

    def __len__(self) -> int:
        return sum(self.per_patient.values())

    @property
    def patient_ids(self) -> set[uuid.UUID]:
        return set(self.per_patient)


def store_readings(session: Session, readings: list[Reading], received_at: datetime) -> Stored:
    """Insert `readings` in one statement (no commit); how many were new, per patient.

    A reading already stored (same source, patient, parameter and observed_at) is skipped,
    as is a repeat of it within the same batch (the first one wins)."""
    if not readings:
        return Stored()
    # One JSON document for the whole batch: Postgres parses it in C, where binding one
    # array per column cost about 15 ms per 500 readings in the driver (profiled).
    rows = session.connection().execute(
        _INSERT_COUNTED,
        {
            "received_at": received_at,
            "rows": json.dumps(
                [
                    {
                        "patient_id": str(r.patient_id),
                        "parameter": r.parameter,
                        "value": r.value,
                        "value_text": r.value_text,
                        "unit": r.unit,
                        "source": r.source,
                        "observed_at": r.observed_at.isoformat(),
                    }
                    for r in readings
                ]
            ),
        },
    )
    per_patient = {pid: int(count) for pid, count in rows}
    urgent = frozenset(
        r.patient_id
        for r in readings
        if r.patient_id in per_patient and is_urgent(r.parameter, r.value, r.value_text)
    )
    return Stored(per_patient, urgent)


def after_commit_scoring(
    patient_ids: set[uuid.UUID], urgent: Iterable[uuid.UUID] = frozenset()
) -> None:
    """Ask the triage worker to score these patients; call AFTER the readings committed.

    Delegates to ``workers.triage.request_scoring`` (marks the patients dirty in Redis and
    enqueues one batch job; the `urgent` ones also go to the urgent lane, scored at once).
    Does nothing while that function does not exist. A failure is
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
        request_scoring(set(patient_ids), urgent=set(urgent))
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


def ingest(readings: list[Reading], received_at: datetime) -> Stored:
    """Store `readings` in their own transaction, commit, then request scoring of the
    patients with new readings. What was new."""
    with session_scope() as session:
        new = store_readings(session, readings, received_at)
    after_commit_scoring(new.patient_ids, new.urgent)
    return new
