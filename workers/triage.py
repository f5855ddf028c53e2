"""The triage worker: score dirty patients in batches, record alerts, open/update incidents.

Hot path: ingest stores readings in Postgres (durable) and marks the patients dirty in a
Redis set; one drain job at a time takes up to BATCH patients, scores them all in ONE
transaction (a handful of queries for the whole batch, no query per reading) and publishes
the changes after commit. Never one RQ job per reading; the triage queue runs on a
non-forking worker (`healthguard worker --triage`).

Crash safety: patients taken from the dirty set are kept in a "processing" sorted set until
their batch commits; a sweep puts back any left behind by a killed worker. A retried batch
creates no duplicate: alerts carry a unique dedup key (patient, rule, trigger time), NEWS2
scores are unique per (patient, observed_at), incidents are unique per open
(patient, condition); a finding whose alert already exists is not acted on again.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from healthguard.alarms.pauses import active_pauses
from healthguard.alarms.rules import cached_rules
from healthguard.clinical import triage
from healthguard.clinical.history import PatientHistory
from healthguard.clinical.news2 import news2_from_readings
from healthguard.clinical.rules import Finding, PatientWindow, evaluate, lookback_for
from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import (
    Admission,
    Alert,
    Bed,
    Incident,
    IncidentEvent,
    News2Score,
    Observation,
    Patient,
    Ward,
)
from healthguard.models.base import PRIORITIES
from healthguard.models.incidents import DONE_STATUSES
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.realtime.events import VITALS_UPDATED
from healthguard.security.audit import record_audit
from healthguard.settings import get_settings
from workers import kept_history
from workers.kept_history import KeptPatient
from workers.queues import redis_connection

log = logging.getLogger(__name__)

TRIAGE_QUEUE = "triage"
URGENT_QUEUE = "triage-urgent"
TRIAGE_QUEUES = (URGENT_QUEUE, TRIAGE_QUEUE)  # what a triage worker listens to, urgent first
# The batch lane stays with one triage worker while it is busy. Each worker keeps the
# histories of the patients it scores (workers.kept_history), so a drain job taken by the
# other worker first had to catch up on everything since it last ran, or load every patient
# cold: at steady state the job moved to the other worker every DRAIN_SECONDS, and py-spy
# showed that worker spending three quarters of its time in cold loads. The worker draining
# the batch lane names its own queue in OWNER (refreshed after every batch); the next drain
# job goes there, and to the shared queue once OWNER has expired (the worker stopped).
OWNER = "healthguard:triage:owner"
OWNER_SECONDS = 30
OWN_QUEUE: str | None = None  # this process's own queue, in a triage worker (own_queue_name)
DIRTY = "healthguard:triage:dirty"
URGENT = "healthguard:triage:urgent"
PROCESSING = "healthguard:triage:processing"
PENDING = "healthguard:triage:pending"
# Patients the urgent lane is scoring now (sorted set, score: when claimed). The batch lane
# leaves them alone: scoring the same new reading at the same time, both would find the same
# arrest, and the urgent lane's insert of its alert would wait on the batch's uncommitted one
# (unique alert key) until the whole batch committed. The batch lane
# puts such patients in DEFERRED; the urgent lane moves them back to DIRTY when it is done
# (the sweep does it for a claim left by a killed worker).
URGENT_CLAIMS = "healthguard:triage:urgent-claims"
DEFERRED = "healthguard:triage:deferred"
URGENT_PENDING = "healthguard:triage:urgent-pending"
# Patients per batch: one transaction each. The urgent-lane worker scores an arrest at once;
# without it (HEALTHGUARD_URGENT_TRIAGE_WORKERS=0) the urgent lane is looked at between
# batches, so an arrest waits behind at most one. Batches sized by time (a few patients each)
# were tried: the fixed cost of each cold load then made catching up after a restart take
# many minutes.
BATCH = 100
# A drain job stops taking batches after this long (the next job carries on): under
# sustained load the dirty set never empties, and a job that reached its RQ timeout (300 s)
# was killed in the middle of a batch (seen in bench/clinical_pipeline.py; its patients then
# waited for the sweep).
DRAIN_SECONDS = 60.0
LOOKBACK = timedelta(minutes=30)  # at most; the enabled rules' longest window (lookback_for)
NEWS2_HISTORY = timedelta(hours=6)
SILENT_HORIZON = timedelta(hours=24)  # a monitor silent for longer is taken as removed
STALE_PROCESSING_SECONDS = 60
NEWS2_SUSTAIN = timedelta(seconds=15)
# Set by the triage worker process: after each batch, move every object alive to the garbage
# collector's permanent generation. The kept histories hold millions of readings that live
# for minutes; without this each full collection walks them all (profiled: seconds per
# drain). Objects are still freed by reference counting; only reference cycles made before
# a freeze stay (the scoring makes none on purpose).
FREEZE_AFTER_BATCH = False


# --- producers -----------------------------------------------------------------------------


def request_scoring(
    patient_ids: set[uuid.UUID],
    client: redis.Redis | None = None,
    *,
    urgent: set[uuid.UUID] | None = None,
) -> None:
    """Mark patients dirty and make sure one drain job is queued (call after commit).

    `urgent` patients (a reading that may meet an arrest rule, see
    `clinical.triage.is_urgent`) also go to the urgent lane: their own small job on the
    urgent queue, which every triage worker takes before the batch queue, so a cardiac
    arrest is scored at once instead of waiting behind the batch being scored."""
    if not patient_ids and not urgent:
        return
    client = client or redis_connection()
    if urgent:
        client.sadd(URGENT, *(str(p) for p in urgent))
        _ensure_urgent_job(client)
    if patient_ids:
        client.sadd(DIRTY, *(str(p) for p in patient_ids))
        _ensure_drain_job(client)


def own_queue_name() -> str:
    """The queue of this triage worker process alone (the batch lane's drain jobs it is to
    carry on with): ``triage:<host>:<pid>``."""
    return f"{TRIAGE_QUEUE}:{socket.gethostname()}:{os.getpid()}"


def triage_worker_queues(own_queue: str) -> list[str]:
    """What a triage worker listens to, in order: the urgent lane, its own queue, the shared
    batch queue."""
    return [URGENT_QUEUE, own_queue, TRIAGE_QUEUE]


def _ensure_drain_job(client: redis.Redis) -> None:
    """Queue a drain job unless one is queued or running: on the queue of the worker that
    drained last while it is alive (OWNER), else on the shared queue."""
    if client.set(PENDING, "1", nx=True, ex=120):
        from rq import Queue

        owner = client.get(OWNER)
        queue = _members([owner])[0] if owner else TRIAGE_QUEUE
        Queue(queue, connection=client).enqueue(
            "workers.triage.drain_dirty_patients", job_timeout=300, result_ttl=60
        )


def _ensure_urgent_job(client: redis.Redis) -> None:
    if client.set(URGENT_PENDING, "1", nx=True, ex=120):
        from rq import Queue

        Queue(URGENT_QUEUE, connection=client).enqueue(
            "workers.triage.drain_urgent_patients", job_timeout=300, result_ttl=60
        )


# --- the job -------------------------------------------------------------------------------


def drain_dirty_patients(max_batches: int = 1000) -> int:
    """Score dirty patients batch by batch until none are left. Returns patients scored."""
    return _drain(DIRTY, PENDING, _ensure_drain_job, max_batches)


def drain_urgent_patients(max_batches: int = 1000) -> int:
    """The urgent lane: score the patients of the urgent set (usually one) at once."""
    return _drain(URGENT, URGENT_PENDING, _ensure_urgent_job, max_batches)


def _drain(queue_set: str, pending: str, ensure_job: Any, max_batches: int) -> int:
    client = redis_connection()
    scored = 0
    stop_at = time.monotonic() + DRAIN_SECONDS
    try:
        for _ in range(max_batches):
            if time.monotonic() > stop_at:
                break  # well inside the job's timeout; the finally below queues the next job
            if queue_set != URGENT:
                if OWN_QUEUE:  # the next drain job comes back to this worker
                    client.set(OWNER, OWN_QUEUE, ex=OWNER_SECONDS)
                # The urgent lane first, between batches: an arrest never waits behind more
                # than one batch, even while this job drains a long backlog.
                scored += _score_batch(client, URGENT)
            done = _score_batch(client, queue_set)
            if not done:
                break
            scored += done
    finally:
        # Release the "a job is queued" flag, then look again: whichever of us and a producer
        # comes second queues the next job, so no dirty patient is ever left without one.
        client.delete(pending)
        if client.scard(queue_set):
            ensure_job(client)
    return scored


def _score_batch(client: redis.Redis, queue_set: str) -> int:
    """Take up to BATCH patients of `queue_set`, score them in one transaction, publish.
    Returns how many were taken (scored, or deferred while the urgent lane scores them)."""
    ids = _members(client.spop(queue_set, BATCH))
    if not ids:
        return 0
    urgent = queue_set == URGENT
    if urgent:
        client.zadd(URGENT_CLAIMS, {i: time.time() for i in ids})
    client.zadd(PROCESSING, {i: time.time() for i in ids})
    taken = ids if urgent else _leave_claimed(client, ids)
    try:
        patient_ids = [uuid.UUID(i) for i in taken]
        changes = (
            score_patients(patient_ids, now=datetime.now(UTC), client=client) if patient_ids else []
        )
    finally:
        if urgent:  # done (or failed: the sweep puts them back); the batch lane's turn
            client.zrem(URGENT_CLAIMS, *ids)
            moved = [i for i in ids if client.smove(DEFERRED, DIRTY, i)]
            if moved:
                _ensure_drain_job(client)
    client.zrem(PROCESSING, *ids)
    for change in changes:
        publish_change(client, change)
    if FREEZE_AFTER_BATCH:
        gc.freeze()
    return len(ids)


def _members(raw: Any) -> list[str]:
    """Set members as Redis gives them (bytes) as strings."""
    return [m.decode() if isinstance(m, bytes) else str(m) for m in (raw or [])]


def _claimed_at(client: redis.Redis, ids: list[str]) -> list[float | None]:
    """When the urgent lane claimed each patient, or None."""
    return cast(list[float | None], client.zmscore(URGENT_CLAIMS, ids))


def _leave_claimed(client: redis.Redis, ids: list[str]) -> list[str]:
    """The patients of a batch not being scored by the urgent lane; the others are put in
    DEFERRED first, then looked up (the urgent lane drops its claim, then moves DEFERRED
    back: in every order of the two, a deferred patient ends up in DIRTY or scored here)."""
    client.sadd(DEFERRED, *ids)
    fresh_after = time.time() - STALE_PROCESSING_SECONDS
    claimed = {
        i for i, at in zip(ids, _claimed_at(client, ids), strict=True)
        if at is not None and at > fresh_after
    }  # fmt: skip
    free = [i for i in ids if i not in claimed]
    if free:
        client.srem(DEFERRED, *free)
    return free


def sweep(now: datetime | None = None) -> int:
    """Scheduled: put back patients a killed worker left in processing or deferred for a
    claim it never dropped, and score monitored patients whose monitor has gone silent (the
    silent-monitor rule needs no new reading)."""
    client = redis_connection()
    stale = _members(
        client.zrangebyscore(PROCESSING, "-inf", time.time() - STALE_PROCESSING_SECONDS)
    )
    if stale:
        client.sadd(DIRTY, *stale)
        client.zrem(PROCESSING, *stale)
    # Claims of a killed urgent-lane worker, and the patients the batch lane deferred for them.
    client.zremrangebyscore(URGENT_CLAIMS, "-inf", time.time() - STALE_PROCESSING_SECONDS)
    deferred = _members(client.smembers(DEFERRED))
    if deferred:
        claims = _claimed_at(client, deferred)
        orphans = [i for i, at in zip(deferred, claims, strict=True) if at is None]
        for i in orphans:
            client.smove(DEFERRED, DIRTY, i)
        stale = [*stale, *orphans]
    now = now or datetime.now(UTC)
    with session_scope() as session:
        silent = monitored_patients(session, now=now)
    if silent:
        client.sadd(DIRTY, *(str(p) for p in silent))
    if stale or silent:
        _ensure_drain_job(client)
    return len(stale) + len(silent)


def monitored_patients(session: Session, *, now: datetime) -> list[uuid.UUID]:
    """Admitted patients with any reading in the last 24 h (a monitor is attached)."""
    since = now - SILENT_HORIZON
    rows = session.exec(
        select(Admission.patient_id)
        .where(col(Admission.discharged_at).is_(None))
        .where(
            sa.exists().where(
                Observation.patient_id == Admission.patient_id,  # type: ignore[arg-type]
                col(Observation.observed_at) >= since,
            )
        )
    ).all()
    return list(rows)


# --- scoring -------------------------------------------------------------------------------


@dataclass
class PatientContext:
    patient_id: uuid.UUID
    spo2_scale: int = 1
    ward_code: str | None = None
    ward_id: uuid.UUID | None = None
    bed_label: str | None = None
    readings: list[Reading] = field(default_factory=list)
    last_reading_at: datetime | None = None
    news2_history: list[tuple[datetime, int, bool]] = field(default_factory=list)
    # The worker's kept history of this patient (workers.kept_history); `history` only when
    # it serves this scoring (then `readings` holds just what NEWS2 reads).
    kept: KeptPatient | None = None
    history: PatientHistory | None = None
    new_readings: bool = True  # anything observed since this worker last scored the patient


def score_patients(
    patient_ids: list[uuid.UUID], *, now: datetime, client: redis.Redis
) -> list[ChangeEvent]:
    """Score one batch in one transaction; the change events to publish after commit.

    A failed batch forgets its patients' kept histories (they may hold a NEWS2 marked as
    stored that was rolled back): the retry loads them afresh."""
    try:
        return _score_patients(patient_ids, now=now, client=client)
    except BaseException:
        for pid in patient_ids:
            kept_history.kept().pop(pid, None)
        raise


def _score_patients(
    patient_ids: list[uuid.UUID], *, now: datetime, client: redis.Redis
) -> list[ChangeEvent]:
    """Score one batch in one transaction; the change events to publish after commit."""
    settings = get_settings()
    changes: list[ChangeEvent] = []
    with session_scope() as session:
        rules = cached_rules(client, session, now=now)
        lookback = min(LOOKBACK, lookback_for(rules, NEWS2_SUSTAIN))
        contexts = load_contexts(session, patient_ids, now=now, lookback=lookback)
        open_by_patient = open_incidents(session, patient_ids)
        resolved_by_patient = recently_resolved(session, patient_ids, now=now)
        pauses = active_pauses(session, patient_ids, now=now)
        freshness = timedelta(seconds=settings.news2_freshness_seconds)
        scores: list[dict[str, Any]] = []
        found: list[tuple[PatientContext, Finding]] = []
        for ctx in contexts.values():
            # Scored like the alarms are (a brief probe dip is not the patient's score).
            news2 = news2_from_readings(
                ctx.readings,
                now=now,
                freshness=freshness,
                spo2_scale=ctx.spo2_scale,
                sustain=NEWS2_SUSTAIN,
            )
            last_at = ctx.last_reading_at
            if last_at is not None and (news2.total or not news2.partial or news2.subscores):
                signature = (
                    news2.total,
                    news2.partial,
                    news2.risk,
                    tuple(sorted(news2.subscores.items())),
                )
                if kept_history.should_store_news2(ctx.kept, last_at, signature):
                    scores.append(_news2_row(ctx.patient_id, last_at, news2, now))
                    point = (last_at, news2.total, news2.partial)
                    if ctx.kept is not None:
                        ctx.kept.last_stored = (last_at, signature)
                        kept_history.add_news2(ctx.kept, point)
                    elif not ctx.news2_history or ctx.news2_history[-1][0] != last_at:
                        ctx.news2_history.append(point)
            window = PatientWindow(
                patient_id=ctx.patient_id,
                readings=ctx.readings,
                news2_history=ctx.news2_history,
                spo2_scale=ctx.spo2_scale,
                now=now,
                last_reading_at=last_at,
                monitored=last_at is not None,
                news2_freshness=freshness,
                news2_sustain=NEWS2_SUSTAIN,
                news2=news2,
                history=ctx.history,
            )
            found.extend((ctx, f) for f in evaluate(rules, window))
        store_news2_scores(session, scores)
        # One "vitals updated" per ward with new readings: its bed board reloads (coalesced).
        updated = {c.ward_code or "" for c in contexts.values() if c.new_readings}
        for ward_code in sorted(updated - {""}):
            changes.append(
                ChangeEvent(kind=VITALS_UPDATED, entity_id=ward_code, ward_code=ward_code)
            )
        # Only the findings whose alert is new act: a retried batch acts on nothing twice.
        alert_ids = record_alerts(session, found, now)
        fresh: dict[uuid.UUID, list[Finding]] = defaultdict(list)
        acted: set[str] = set()
        for ctx, finding in found:
            key = alert_key(ctx, finding)
            if key in alert_ids and key not in acted:  # the first finding of a key only
                acted.add(key)
                fresh[ctx.patient_id].append(finding)
        for pid, findings in fresh.items():
            ctx = contexts[pid]
            pause = pauses.get(pid)
            actions = triage.decide(
                findings,
                open_incidents=open_by_patient.get(pid, {}),
                recently_resolved=resolved_by_patient.get(pid, {}),
                pause=(
                    triage.PauseState(until=pause.ends_at, reason=pause.reason) if pause else None
                ),
                now=now,
                open_from=set(settings.triage_open_priorities),
                hysteresis=timedelta(seconds=settings.triage_hysteresis_seconds),
            )
            for action in actions:
                alert_id = alert_ids.get(alert_key(ctx, action.finding))
                change = apply_action(session, ctx, action, now, alert_id)
                if change is not None:
                    changes.append(change)
    kept_history.forget_idle(now)
    return changes


def any_of(ids: Iterable[uuid.UUID]) -> Any:
    """`= ANY(<one uuid[] parameter>)`: one bound array instead of one parameter per id (an
    IN list of 500 made the driver re-parse every query; profiled)."""
    return sa.any_(sa.literal(list(ids), ARRAY(sa.Uuid())))


def load_contexts(
    session: Session,
    patient_ids: list[uuid.UUID],
    *,
    now: datetime,
    lookback: timedelta = LOOKBACK,
) -> dict[uuid.UUID, PatientContext]:
    """Each patient's placement, readings and NEWS2 history for a scoring at `now`.

    Patients this worker keeps a history of (workers.kept_history) only read what arrived
    since; the others are loaded in full and kept from now on."""
    contexts = {pid: PatientContext(pid) for pid in patient_ids}
    columns: list[Any] = [Patient.id, Patient.spo2_scale, Ward.code, Ward.id, Bed.label]
    placement = session.execute(
        sa.select(*columns)
        .select_from(Patient)
        .join(
            Admission,
            sa.and_(
                col(Admission.patient_id) == col(Patient.id),
                col(Admission.discharged_at).is_(None),
            ),
            isouter=True,
        )
        .join(Bed, col(Bed.id) == col(Admission.bed_id), isouter=True)
        .join(Ward, col(Ward.id) == col(Bed.ward_id), isouter=True)
        .where(col(Patient.id) == any_of(patient_ids))
    ).all()
    for pid, scale, ward_code, ward_id, bed_label in placement:
        ctx = contexts[pid]
        ctx.spo2_scale, ctx.ward_code, ctx.bed_label = scale, ward_code, bed_label
        ctx.ward_id = ward_id
    placed = {row[0] for row in placement}
    for pid in [p for p in contexts if p not in placed]:
        contexts.pop(pid)  # a patient removed meanwhile: nothing to score
    freshness = timedelta(seconds=get_settings().news2_freshness_seconds)
    warm = kept_history.warm(contexts, now=now, lookback=lookback, freshness=freshness)
    cold = [pid for pid in contexts if pid not in warm]
    if cold:
        _load_cold(session, cold, now=now, lookback=lookback, freshness=freshness)
    kept_history.catch_up(session, warm, now=now, news2_horizon=NEWS2_HISTORY)
    for pid, ctx in contexts.items():
        kp = kept_history.kept()[pid]
        kept_history.prune(kp, now=now, news2_horizon=NEWS2_HISTORY)
        ctx.kept = kp
        history = kp.history
        candidates = [
            at
            for at in (history.last_observed_at(now), kp.last_seen)
            if at is not None and at >= now - SILENT_HORIZON
        ]
        ctx.last_reading_at = max(candidates, default=None)
        ctx.new_readings = ctx.last_reading_at != kp.last_published
        kp.last_published = ctx.last_reading_at
        if history.serves(now):
            ctx.history = history
            ctx.readings = history.news2_readings(now, freshness, NEWS2_SUSTAIN)
        else:  # a reading from a clock ahead of ours: score the classic way
            ctx.readings = [r for r in history.all_readings() if r.observed_at <= now]
        ctx.news2_history = kp.news2_history
    return contexts


def _load_cold(
    session: Session,
    patient_ids: list[uuid.UUID],
    *,
    now: datetime,
    lookback: timedelta,
    freshness: timedelta,
) -> None:
    """Load patients in full and keep them (workers.kept_history.remember_cold)."""
    obs = Observation.__table__  # type: ignore[attr-defined]
    # One statement (one snapshot) for the look-back and, when freshness > lookback, the
    # freshest older reading of each parameter and source (NEWS2 takes the freshest value of
    # each parameter within the freshness window, 1 h by default: a nurse's manual BP from
    # 45 minutes ago still counts). Id and received_at only for rows received within the
    # overlap (what the next catch-up re-reads); raw driver rows (profiled: row objects and
    # unused columns were a third of a cold load).
    params = {
        "ids": list(patient_ids),
        "since": now - lookback,
        "fresh": now - freshness,
        "recent": now - 3 * kept_history.OVERLAP,
    }
    older = (
        """
        UNION ALL
        SELECT * FROM (
            SELECT DISTINCT ON (patient_id, parameter, source)
                   patient_id, parameter, value, value_text, unit, source, observed_at,
                   id, received_at
            FROM observations
            WHERE patient_id = ANY(%(ids)s) AND observed_at >= %(fresh)s
              AND observed_at < %(since)s
            ORDER BY patient_id, parameter, source, observed_at DESC) AS older
        """
        if freshness > lookback
        else ""
    )
    cursor = session.connection().connection.cursor()
    cursor.execute(
        f"""
        SELECT patient_id, parameter, value, value_text, unit, source, observed_at,
               CASE WHEN received_at > %(recent)s THEN id END,
               CASE WHEN received_at > %(recent)s THEN received_at END
        FROM (
            SELECT patient_id, parameter, value, value_text, unit, source, observed_at,
                   id, received_at
            FROM observations
            WHERE patient_id = ANY(%(ids)s) AND observed_at >= %(since)s
            {older}
        ) AS o
        ORDER BY observed_at
        """,
        params,
    )
    loaded: dict[uuid.UUID, list[tuple[int | None, Reading, datetime | None]]] = defaultdict(list)
    for pid, parameter, value, text, unit, source, observed_at, oid, received in cursor.fetchall():
        reading = Reading(pid, parameter, value, text, unit, source, observed_at)
        loaded[pid].append((oid, reading, received))
    cursor.close()
    # The newest reading of each patient however old: a silent monitor is itself an alarm.
    latest = dict(
        session.execute(
            sa.select(obs.c.patient_id, sa.func.max(obs.c.observed_at))
            .where(
                obs.c.patient_id == any_of(patient_ids),
                obs.c.observed_at >= now - SILENT_HORIZON,
                obs.c.observed_at <= now,
            )
            .group_by(obs.c.patient_id)
        ).all()
    )
    history_columns: list[Any] = [
        News2Score.patient_id,
        News2Score.observed_at,
        News2Score.total,
        News2Score.partial,
    ]
    scores: dict[uuid.UUID, list[tuple[datetime, int, bool]]] = defaultdict(list)
    for pid, observed_at, total, partial in session.execute(
        sa.select(*history_columns)
        .where(
            col(News2Score.patient_id) == any_of(patient_ids),
            col(News2Score.observed_at) >= now - NEWS2_HISTORY,
            col(News2Score.observed_at) <= now,
        )
        .order_by(col(News2Score.observed_at))
    ).all():
        scores[pid].append((observed_at, total, partial))
    for pid in patient_ids:
        kept_history.remember_cold(
            pid,
            loaded.get(pid, []),
            now=now,
            lookback=lookback,
            freshness=freshness,
            last_seen=latest.get(pid),
            news2_history=scores.get(pid, []),
        )


def _condition_of(dedup_key: str | None) -> str:
    return (dedup_key or "").split(":", 1)[1] if dedup_key and ":" in dedup_key else ""


def open_incidents(
    session: Session, patient_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, triage.OpenIncidentState]]:
    result: dict[uuid.UUID, dict[str, triage.OpenIncidentState]] = defaultdict(dict)
    rows = session.exec(
        select(Incident).where(
            col(Incident.patient_id) == any_of(patient_ids),
            col(Incident.status).not_in(DONE_STATUSES),
            col(Incident.source) == "triage",
        )
    ).all()
    for incident in rows:
        assert incident.patient_id is not None
        result[incident.patient_id][_condition_of(incident.dedup_key)] = triage.OpenIncidentState(
            incident_id=incident.id, priority=incident.priority, opened_at=incident.opened_at
        )
    return result


def recently_resolved(
    session: Session, patient_ids: list[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, dict[str, tuple[datetime, str]]]:
    window = timedelta(seconds=get_settings().triage_hysteresis_seconds)
    result: dict[uuid.UUID, dict[str, tuple[datetime, str]]] = defaultdict(dict)
    rows = session.exec(
        select(Incident).where(
            col(Incident.patient_id) == any_of(patient_ids),
            col(Incident.status).in_(DONE_STATUSES),
            col(Incident.source) == "triage",
            col(Incident.resolved_at) >= now - window,
        )
    ).all()
    for incident in rows:
        assert incident.patient_id is not None and incident.resolved_at is not None
        result[incident.patient_id][_condition_of(incident.dedup_key)] = (
            incident.resolved_at,
            incident.priority,
        )
    return result


_INSERT_NEWS2 = sa.text(
    """
    INSERT INTO news2_scores (patient_id, observed_at, computed_at, total, partial, risk, subscores)
    SELECT r.patient_id, r.observed_at, r.computed_at, r.total, r.partial, r.risk, r.subscores
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        patient_id uuid, observed_at timestamptz, computed_at timestamptz, total int,
        partial boolean, risk varchar, subscores jsonb)
    ON CONFLICT (patient_id, observed_at) DO NOTHING
    RETURNING patient_id
    """
)

_INSERT_ALERTS = sa.text(
    """
    INSERT INTO alerts (id, patient_id, ward_id, priority, kind, rule, news2_score, summary,
                        details, condition, dedup_key, observed_at, created_at)
    SELECT r.id, r.patient_id, r.ward_id, r.priority, r.kind, r.rule, r.news2_score, r.summary,
           r.details, r.condition, r.dedup_key, r.observed_at, r.created_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        id uuid, patient_id uuid, ward_id uuid, priority varchar, kind varchar, rule varchar,
        news2_score int, summary varchar, details jsonb, condition varchar, dedup_key varchar,
        observed_at timestamptz, created_at timestamptz)
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING dedup_key, id
    """
)


def _news2_row(pid: uuid.UUID, at: datetime, news2: Any, now: datetime) -> dict[str, Any]:
    return {
        "patient_id": str(pid),
        "observed_at": at.isoformat(),
        "computed_at": now.isoformat(),
        "total": news2.total,
        "partial": news2.partial,
        "risk": news2.risk,
        "subscores": dict(news2.subscores),
    }


def store_news2_scores(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """All NEWS2 scores of a batch in one statement; a score already stored is kept. The
    patients with a new score."""
    if not rows:
        return set()
    result = session.connection().execute(_INSERT_NEWS2, {"rows": json.dumps(rows)})
    return {pid for (pid,) in result}


def alert_key(ctx: PatientContext, finding: Finding) -> str:
    """Unique per patient, rule, condition and trigger time: a retried batch stores the same
    alert once; two technical alarms of one rule at one time stay two alerts."""
    at = finding.observed_at.isoformat()
    return f"{ctx.patient_id}:{finding.rule_key}:{finding.condition}:{at}"


def record_alerts(
    session: Session, found: list[tuple[PatientContext, Finding]], now: datetime
) -> dict[str, uuid.UUID]:
    """Store the alert of every finding in one statement; {dedup key: alert id} of those new
    now (a finding whose alert was stored before, by an earlier or retried batch, is absent).
    Each alert keeps the values and sub-scores that triggered it (`details`)."""
    rows: dict[str, dict[str, Any]] = {}
    for ctx, finding in found:
        key = alert_key(ctx, finding)
        rows.setdefault(
            key,
            {
                "id": str(uuid.uuid4()),
                "patient_id": str(ctx.patient_id),
                "ward_id": str(ctx.ward_id) if ctx.ward_id else None,
                "priority": finding.priority,
                "kind": finding.kind,
                "rule": finding.rule_key,
                "news2_score": finding.evidence.get("news2_total"),
                "summary": finding.summary[:500],
                "details": finding.evidence,
                "condition": finding.condition,
                "dedup_key": key,
                "observed_at": finding.observed_at.isoformat(),
                "created_at": now.isoformat(),
            },
        )
    if not rows:
        return {}
    result = session.connection().execute(
        _INSERT_ALERTS, {"rows": json.dumps(list(rows.values()), default=str)}
    )
    return {key: alert_id for key, alert_id in result}


def apply_action(
    session: Session,
    ctx: PatientContext,
    action: Any,
    now: datetime,
    alert_id: uuid.UUID | None = None,
) -> ChangeEvent | None:
    """Carry out one triage decision; the change event to publish after commit, if any.
    `alert_id`: the alert recorded for the action's finding (a suppression is written on it,
    an incident linked to it)."""
    finding = action.finding
    if isinstance(action, triage.Suppress):
        if alert_id is not None:
            session.execute(
                sa.update(Alert)
                .where(col(Alert.id) == alert_id)
                .values(suppressed_reason=action.reason)
            )
        return None
    if isinstance(action, triage.OpenIncident):
        dedup = f"{ctx.patient_id}:{action.condition}"
        try:
            with session.begin_nested():  # another batch may have opened it meanwhile
                incident = open_incident(
                    session,
                    title=action.title,
                    priority=action.priority,
                    now=now,
                    summary=finding.summary,
                    ward_code=ctx.ward_code,
                    bed_label=ctx.bed_label,
                    source="triage",
                    actor="triage",
                    dedup_key=dedup,
                )
                incident.patient_id = ctx.patient_id
                session.add(incident)
            kind = "incident.opened"
        except IntegrityError:
            existing = session.exec(
                select(Incident).where(
                    Incident.dedup_key == dedup,
                    col(Incident.status).not_in(DONE_STATUSES),
                )
            ).first()
            if existing is None:
                raise
            incident = existing
            _event(session, incident, now, "evidence", finding.summary, finding)
            kind = "incident.updated"
    else:
        # Locked, then looked at again: a person may have changed it since this batch read it
        # (their actions lock the row and check its version, so neither write is lost).
        found = session.exec(
            select(Incident).where(col(Incident.id) == action.incident_id).with_for_update()
        ).first()
        if found is None or found.status in DONE_STATUSES:
            return None  # resolved meanwhile: the next scoring decides afresh
        incident = found
        if isinstance(action, triage.UpgradeIncident) and PRIORITIES.index(
            action.to_priority
        ) < PRIORITIES.index(incident.priority):
            old = incident.priority
            incident.priority = action.to_priority
            incident.version += 1
            incident.updated_at = now
            session.add(incident)
            _event(
                session,
                incident,
                now,
                "upgraded",
                f"{old} -> {incident.priority}: {finding.summary}",
                finding,
            )
            record_audit(session, actor="triage", action="incident.updated", record_type="incident",
                         record_id=str(incident.id), now=now,
                         details={"priority": {"from": old, "to": incident.priority}})  # fmt: skip
            kind = "incident.upgraded"
        else:
            _event(session, incident, now, "evidence", finding.summary, finding)
            kind = "incident.updated"
    if alert_id is not None:
        session.execute(
            sa.update(Alert).where(col(Alert.id) == alert_id).values(incident_id=incident.id)
        )
    return ChangeEvent(kind=kind, entity_id=str(incident.id), ward_code=ctx.ward_code)


def _event(
    session: Session, incident: Incident, now: datetime, kind: str, message: str, finding: Any
) -> None:
    session.add(
        IncidentEvent(
            incident_id=incident.id,
            at=now,
            kind=kind,
            actor="triage",
            message=message[:2000],
            data={"rule": finding.rule_key, "evidence": finding.evidence},
        )
    )
