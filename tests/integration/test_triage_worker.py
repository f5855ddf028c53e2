"""The triage worker on real Postgres and Redis: readings stored as ingest stores them, then
scored by the same function the RQ job runs; incidents, alerts and suppressions checked."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from rq import Queue, SimpleWorker
from sqlmodel import col, select

from healthguard.alarms.pauses import pause_alarms
from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.ingest.store import store_readings
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
from healthguard.models.incidents import IncidentStatus
from workers import triage

pytestmark = pytest.mark.integration

NORMAL = {
    "resp_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 125,
    "heart_rate": 78,
    "consciousness": "A",
    "temperature_c": 36.9,
}


@pytest.fixture
def client(redis_url: str, app_env: dict[str, str]) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    for key in (
        triage.DIRTY,
        triage.PROCESSING,
        triage.PENDING,
        triage.URGENT,
        triage.URGENT_PENDING,
        triage.OWNER,
        triage.URGENT_CLAIMS,
        triage.DEFERRED,
    ):
        connection.delete(key)
    for name in triage.TRIAGE_QUEUES:  # jobs left by another test
        Queue(name, connection=connection).empty()
    yield connection


@pytest.fixture
def patient(seeded: dict[str, int]) -> uuid.UUID:
    """A fresh admitted patient for each test: one with no history of its own, scored on
    SpO2 Scale 1 (the demo has a COPD patient on Scale 2, whose SpO2 93-96 % on air scores 0:
    picking it by chance once made the expected totals here wrong)."""
    with session_scope() as session:
        taken = {
            a.patient_id
            for a in session.exec(select(Admission).where(col(Admission.discharged_at).is_(None)))
        }
        used = {
            i.patient_id for i in session.exec(select(Incident)) if i.patient_id is not None
        } | {s.patient_id for s in session.exec(select(News2Score))}
        scale_two = {p.id for p in session.exec(select(Patient).where(Patient.spo2_scale == 2))}
    free = sorted(p for p in taken if p not in used and p not in scale_two)
    assert free, "the demo data has run out of untouched admitted patients on Scale 1"
    with session_scope() as session:  # only this test's readings are scored
        session.execute(sa.delete(Observation).where(col(Observation.patient_id) == free[0]))
    return free[0]


def _ward_of(pid: uuid.UUID) -> str:
    with session_scope() as session:
        row = session.execute(
            sa.select(Ward.code)
            .join(Bed, col(Bed.ward_id) == col(Ward.id))
            .join(Admission, col(Admission.bed_id) == col(Bed.id))
            .where(col(Admission.patient_id) == pid, col(Admission.discharged_at).is_(None))
        ).one()
    return str(row[0])


def readings(pid: uuid.UUID, at: datetime, values: dict[str, object]) -> list[Reading]:
    out = []
    for name, value in values.items():
        if isinstance(value, bool):
            out.append(Reading(pid, name, 1.0 if value else 0.0, None, "", "bench-1", at))
        elif isinstance(value, str):
            out.append(Reading(pid, name, None, value, "", "bench-1", at))
        else:
            out.append(Reading(pid, name, float(value), None, "", "bench-1", at))  # type: ignore[arg-type]
    return out


def store(batch: list[Reading]) -> None:
    with session_scope() as session:
        store_readings(session, batch, datetime.now(UTC))


def incidents_of(pid: uuid.UUID) -> list[Incident]:
    with session_scope() as session:
        return list(session.exec(select(Incident).where(Incident.patient_id == pid)).all())


def alerts_of(pid: uuid.UUID) -> list[Alert]:
    with session_scope() as session:
        return list(session.exec(select(Alert).where(Alert.patient_id == pid)).all())


def test_cardiac_arrest_opens_one_p0_and_a_retry_adds_nothing(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    for seconds in (300, 240, 180, 120, 60):
        store(readings(patient, now - timedelta(seconds=seconds), NORMAL))
    store(readings(patient, now - timedelta(seconds=2), {"heart_rate": 0, "rhythm": "VF"}))

    changes = triage.score_patients([patient], now=now, client=client)
    incidents = incidents_of(patient)
    assert [(i.priority, i.source, i.status) for i in incidents] == [("P0", "triage", "triggered")]
    assert incidents[0].dedup_key == f"{patient}:arrest"
    ward = _ward_of(patient)
    # The incident, and the bed board of the patient's ward (a new NEWS2 score).
    assert sorted((c.kind, c.ward_code) for c in changes) == [
        ("incident.opened", ward), ("vitals.updated", ward)
    ]  # fmt: skip
    alert_count = len(alerts_of(patient))
    assert alert_count >= 1

    # The same batch again (a worker killed after commit, before it said so): no duplicate,
    # and nothing new to show.
    assert triage.score_patients([patient], now=now, client=client) == []
    assert len(incidents_of(patient)) == 1
    assert len(alerts_of(patient)) == alert_count


def test_slow_sepsis_opens_p2_then_upgrades_the_same_incident_to_p1(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    stages = [
        (start, {**NORMAL, "heart_rate": 95}),  # NEWS2 1
        (start + timedelta(hours=1, minutes=30), {  # NEWS2 6
            **NORMAL, "resp_rate": 22, "spo2": 95, "systolic_bp": 105, "heart_rate": 100,
            "temperature_c": 38.2}),
        (start + timedelta(hours=3), {  # NEWS2 10
            **NORMAL, "resp_rate": 26, "spo2": 93, "systolic_bp": 98, "heart_rate": 115,
            "temperature_c": 38.6}),
    ]  # fmt: skip
    priorities = []
    for at, values in stages:
        store(readings(patient, at, values))
        triage.score_patients([patient], now=at + timedelta(seconds=1), client=client)
        priorities.append([i.priority for i in incidents_of(patient)])

    assert priorities == [[], ["P2"], ["P1"]]  # one incident, priority only went up
    incident = incidents_of(patient)[0]
    with session_scope() as session:
        kinds = [
            e.kind
            for e in session.exec(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == incident.id)
                .order_by(col(IncidentEvent.id))
            )
        ]
        scores = [s.total for s in session.exec(
            select(News2Score).where(News2Score.patient_id == patient)
            .order_by(col(News2Score.observed_at)))]  # fmt: skip
    assert kinds[0] == "opened" and "upgraded" in kinds
    assert scores == [1, 6, 10]


def test_a_pause_records_but_suppresses_deterioration_and_never_an_arrest(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        pause_alarms(session, patient, minutes=20, reason="Bathing", actor="nurse.card", now=now)
    bad = {**NORMAL, "resp_rate": 26, "spo2": 93, "systolic_bp": 98, "heart_rate": 115}
    store(readings(patient, now - timedelta(seconds=5), bad))
    triage.score_patients([patient], now=now, client=client)
    assert incidents_of(patient) == []
    suppressed = [a for a in alerts_of(patient) if a.suppressed_reason]
    assert suppressed and all("paused" in (a.suppressed_reason or "") for a in suppressed)

    store(readings(patient, now + timedelta(seconds=1), {"rhythm": "ASYSTOLE"}))
    triage.score_patients([patient], now=now + timedelta(seconds=2), client=client)
    assert [i.priority for i in incidents_of(patient)] == ["P0"]


def test_request_scoring_runs_through_a_real_non_forking_worker(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    store(readings(patient, now - timedelta(seconds=1), {"heart_rate": 0}))
    triage.request_scoring({patient}, client=client)
    assert client.exists(triage.PENDING)
    worker = SimpleWorker([Queue(triage.TRIAGE_QUEUE, connection=client)], connection=client)
    worker.work(burst=True)
    assert [i.priority for i in incidents_of(patient)] == ["P0"]
    assert client.scard(triage.DIRTY) == 0
    assert client.zcard(triage.PROCESSING) == 0
    assert not client.exists(triage.PENDING)  # released for the next reading


def test_the_batch_lane_stays_with_the_worker_that_drains_it(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker draining the batch lane gets the next drain job on its own queue (its kept
    histories are warm there); once it has stopped (OWNER expired) the job is on the shared
    queue again, for any triage worker."""
    own = "triage:test-host:4242"
    monkeypatch.setattr(triage, "OWN_QUEUE", own)
    assert triage.triage_worker_queues(own) == [triage.URGENT_QUEUE, own, triage.TRIAGE_QUEUE]
    assert triage.own_queue_name().endswith(f":{os.getpid()}")
    # Unknown patients (nothing to score: the queues are what is looked at), one batch and more.
    client.sadd(triage.DIRTY, *(str(uuid.uuid4()) for _ in range(triage.BATCH + 1)))
    client.set(triage.PENDING, "1")  # this drain job's own flag, as _ensure_drain_job sets
    triage.drain_dirty_patients(max_batches=1)  # stops with patients left
    assert client.get(triage.OWNER) == own.encode()
    assert client.ttl(triage.OWNER) <= triage.OWNER_SECONDS
    mine, shared = Queue(own, connection=client), Queue(triage.TRIAGE_QUEUE, connection=client)
    assert (mine.count, shared.count) == (1, 0)  # the next job comes back to this worker
    # A worker listening to its own queue, the urgent lane and the shared queue drains it.
    SimpleWorker(triage.triage_worker_queues(own), connection=client).work(burst=True)
    assert client.scard(triage.DIRTY) == 0 and not client.exists(triage.PENDING)
    client.delete(triage.OWNER)  # that worker stopped: its OWNER mark expired
    triage.request_scoring({uuid.uuid4()}, client=client)
    assert (mine.count, shared.count) == (0, 1)
    shared.empty()
    mine.delete()


def test_an_arrest_reading_is_scored_in_the_urgent_lane_before_the_batch(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        stored = store_readings(
            session, readings(patient, now - timedelta(seconds=1), {"heart_rate": 0, "spo2": 97}),
            now,
        )  # fmt: skip
    assert stored.urgent == {patient} and len(stored) == 2
    triage.request_scoring(stored.patient_ids, client=client, urgent=set(stored.urgent))
    assert client.exists(triage.PENDING) and client.exists(triage.URGENT_PENDING)
    queues = [Queue(name, connection=client) for name in triage.TRIAGE_QUEUES]
    worker = SimpleWorker(queues, connection=client)
    worker.work(burst=True, max_jobs=1)  # one job: the urgent one, ahead of the batch job
    assert [i.priority for i in incidents_of(patient)] == ["P0"]
    assert client.scard(triage.URGENT) == 0 and not client.exists(triage.URGENT_PENDING)
    assert client.sismember(triage.DIRTY, str(patient))  # the batch job has not run yet
    worker.work(burst=True)
    assert client.scard(triage.DIRTY) == 0 and not client.exists(triage.PENDING)
    assert len(incidents_of(patient)) == 1  # scored twice, one incident


def test_the_urgent_lane_worker_scores_the_arrest_and_leaves_the_batch(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    """`healthguard worker --urgent` listens to the urgent queue alone: it scores the arrest
    while the batch (here: the same patient and a backlog) waits for the triage workers."""
    from workers.run import run_worker

    now = datetime.now(UTC)
    with session_scope() as session:
        stored = store_readings(
            session, readings(patient, now - timedelta(seconds=1), {"heart_rate": 0}), now
        )
    backlog = {str(uuid.uuid4()) for _ in range(5)}  # patients the batch workers would score
    client.sadd(triage.DIRTY, *backlog)
    triage.request_scoring(stored.patient_ids, client=client, urgent=set(stored.urgent))
    assert run_worker(burst=True, urgent=True)
    assert [i.priority for i in incidents_of(patient)] == ["P0"]
    assert client.scard(triage.URGENT) == 0 and not client.exists(triage.URGENT_PENDING)
    assert {m.decode() for m in client.smembers(triage.DIRTY)} == backlog | {str(patient)}
    assert Queue(triage.TRIAGE_QUEUE, connection=client).count == 1  # the batch job waits
    with pytest.raises(ValueError, match="one of"):
        run_worker(burst=True, urgent=True, triage=True)


def test_ordinary_readings_do_not_take_the_urgent_lane(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        stored = store_readings(session, readings(patient, now, NORMAL), now)
    assert stored.patient_ids == {patient} and stored.urgent == frozenset()


def test_sweep_puts_back_patients_a_killed_worker_left_behind(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    client.zadd(triage.PROCESSING, {str(patient): 1.0})  # taken long ago, never finished
    triage.sweep()
    assert client.sismember(triage.DIRTY, str(patient))
    assert client.zcard(triage.PROCESSING) == 0
    assert client.exists(triage.PENDING)  # and a drain job was queued for it


def test_the_batch_lane_leaves_a_patient_the_urgent_lane_is_scoring(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    """Both lanes scoring the same arrest reading at once made the urgent lane's alert wait
    for the batch's commit. The batch lane now defers a patient the urgent lane has claimed;
    the urgent lane scores it, then hands it back to the batch lane (DIRTY)."""
    store(readings(patient, datetime.now(UTC) - timedelta(seconds=1), {"heart_rate": 0}))
    other = str(uuid.uuid4())  # another dirty patient of the batch (unknown: nothing to score)
    client.zadd(triage.URGENT_CLAIMS, {str(patient): time.time()})  # the urgent lane took it
    client.sadd(triage.DIRTY, str(patient), other)
    assert triage._score_batch(client, triage.DIRTY) == 2
    assert incidents_of(patient) == []  # not scored by the batch...
    assert {m.decode() for m in client.smembers(triage.DEFERRED)} == {str(patient)}  # ...kept
    assert client.scard(triage.DIRTY) == 0 and client.zcard(triage.PROCESSING) == 0
    client.zrem(triage.URGENT_CLAIMS, str(patient))
    client.sadd(triage.URGENT, str(patient))  # the urgent lane itself now
    assert triage._score_batch(client, triage.URGENT) == 1
    assert [i.priority for i in incidents_of(patient)] == ["P0"]
    assert client.zcard(triage.URGENT_CLAIMS) == 0 and client.scard(triage.DEFERRED) == 0
    assert client.sismember(triage.DIRTY, str(patient))  # the batch lane's turn again
    assert client.exists(triage.PENDING)  # with a drain job queued for it


def test_sweep_hands_back_patients_deferred_for_a_killed_urgent_worker(
    client: redis.Redis,
) -> None:
    patient = uuid.uuid4()
    stale_claim = time.time() - triage.STALE_PROCESSING_SECONDS - 1
    client.zadd(triage.URGENT_CLAIMS, {str(patient): stale_claim})  # never finished
    client.sadd(triage.DEFERRED, str(patient))
    triage.sweep()
    assert client.zcard(triage.URGENT_CLAIMS) == 0
    assert client.sismember(triage.DIRTY, str(patient)) and client.scard(triage.DEFERRED) == 0
    assert client.exists(triage.PENDING)


def test_a_silent_monitor_is_recorded_as_a_technical_alarm(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    store(readings(patient, now - timedelta(minutes=20), NORMAL))
    triage.score_patients([patient], now=now, client=client)
    silent = [a for a in alerts_of(patient) if a.condition == "silent_monitor"]
    assert [(a.priority, a.kind) for a in silent] == [("P4", "technical")]
    assert incidents_of(patient) == []  # P4 opens no incident by default, and says why
    assert "priority" in (silent[0].suppressed_reason or "")


def test_incident_status_after_resolution_is_respected(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    """A resolved incident is not re-opened by the same evidence replayed (hysteresis)."""
    now = datetime.now(UTC)
    store(readings(patient, now - timedelta(seconds=3), {"heart_rate": 0}))
    triage.score_patients([patient], now=now, client=client)
    with session_scope() as session:
        incident = session.exec(select(Incident).where(Incident.patient_id == patient)).one()
        incident.status, incident.resolved_at = IncidentStatus.RESOLVED.value, now
        session.add(incident)
    triage.score_patients([patient], now=now + timedelta(seconds=1), client=client)
    assert [i.status for i in incidents_of(patient)] == ["resolved"]


def test_manual_observations_older_than_the_rule_look_back_still_count_in_news2(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    """A nurse's full set of observations 45 minutes ago (inside the 1 h NEWS2 freshness,
    outside the rules' 30 min look-back) plus the monitor's heart rate now: NEWS2 is complete,
    not partial, and scores the manual values."""
    now = datetime.now(UTC)
    manual = {**NORMAL, "resp_rate": 22, "systolic_bp": 105, "temperature_c": 38.2}
    store(readings(patient, now - timedelta(minutes=45), manual))
    monitor = [Reading(patient, "heart_rate", 100.0, None, "", "monitor-7", now)]
    store(monitor)
    triage.score_patients([patient], now=now + timedelta(seconds=1), client=client)
    with session_scope() as session:
        score = session.exec(select(News2Score).where(News2Score.patient_id == patient)).one()
    assert score.partial is False
    # RR 22 -> 2, SBP 105 -> 1, temperature 38.2 -> 1, HR 100 (monitor) -> 1
    assert score.total == 5
    assert score.subscores["heart_rate"] == 1 and score.subscores["resp_rate"] == 2


def test_a_stale_upgrade_never_overwrites_a_persons_change(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    """The batch decided "P2 -> P1" from what it read; meanwhile a physician raised it to P0.
    The worker locks the row and looks again: the P0 stays, the finding becomes evidence."""
    from healthguard.clinical.rules import Finding
    from healthguard.clinical.triage import UpgradeIncident

    now = datetime.now(UTC)
    stage = {**NORMAL, "resp_rate": 22, "spo2": 95, "systolic_bp": 105, "heart_rate": 100,
             "temperature_c": 38.2}  # fmt: skip
    store(readings(patient, now - timedelta(seconds=5), stage))
    triage.score_patients([patient], now=now, client=client)
    (incident,) = incidents_of(patient)
    assert incident.priority == "P2"
    with session_scope() as session:  # the person's change, committed first
        row = session.get(Incident, incident.id)
        assert row is not None
        row.priority, row.version = "P0", row.version + 1
        session.add(row)
    finding = Finding("news2_emergency", "deterioration", "P1", "physiological", "NEWS2 8",
                      {}, now)  # fmt: skip
    ctx = triage.PatientContext(patient, ward_code=_ward_of(patient))
    with session_scope() as session:
        change = triage.apply_action(
            session, ctx, UpgradeIncident(incident.id, "P2", "P1", finding), now
        )
    assert change is not None and change.kind == "incident.updated"
    (after,) = incidents_of(patient)
    assert after.priority == "P0" and after.version == incident.version + 1
    with session_scope() as session:
        kinds = [e.kind for e in session.exec(
            select(IncidentEvent).where(IncidentEvent.incident_id == incident.id))]  # fmt: skip
    assert "upgraded" not in kinds and kinds[-1] == "evidence"


def test_a_kept_history_takes_new_and_late_readings_between_scorings(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    """The second scoring reads only what arrived since (the kept history) and still sees a
    desaturation that built up meanwhile, including a reading that arrived late."""
    from workers import kept_history

    now = datetime.now(UTC)
    for seconds in (120, 90, 60, 30):
        store(readings(patient, now - timedelta(seconds=seconds), NORMAL))
    triage.score_patients([patient], now=now - timedelta(seconds=25), client=client)
    kept = kept_history.kept()[patient]
    loaded_at = kept.loaded_at
    assert alerts_of(patient) == []

    # SpO2 85 for 20 s, every 5 s; the reading of -15 s arrives last (late).
    dips = [now - timedelta(seconds=s) for s in (20, 10, 5, 0)]
    for at in dips:
        store(readings(patient, at, {"spo2": 85}))
    store(readings(patient, now - timedelta(seconds=15), {"spo2": 85}))
    triage.score_patients([patient], now=now, client=client)

    assert kept_history.kept()[patient].loaded_at == loaded_at  # warm: not reloaded
    spo2 = [a for a in alerts_of(patient) if a.rule == "spo2_low"]
    assert len(spo2) == 1
    assert spo2[0].details["held_seconds"] == 20.0
    assert spo2[0].details["readings"] == 5  # the late one included

    # A cold load of the same moment (another worker, or after a restart) holds the same.
    warm = kept_history.kept()[patient].history.all_readings()
    kept_history.forget_all()
    with session_scope() as session:
        cold = triage.load_contexts(session, [patient], now=now)[patient]
    assert cold.kept is not None and cold.kept.loaded_at == now
    assert sorted(warm, key=repr) == sorted(cold.kept.history.all_readings(), key=repr)
    assert len(warm) == 4 * len(NORMAL) + 5


def test_an_unchanged_news2_is_stored_once_a_minute_and_every_change_at_once(
    client: redis.Redis, patient: uuid.UUID
) -> None:
    now = datetime.now(UTC)
    times = [now - timedelta(seconds=s) for s in (90, 80, 70, 20, 10)]
    for at in times[:3]:
        store(readings(patient, at, NORMAL))
        triage.score_patients([patient], now=at + timedelta(seconds=1), client=client)
    store(readings(patient, times[3], {**NORMAL, "resp_rate": 22}))  # RR 21-24 scores 2
    triage.score_patients([patient], now=times[3] + timedelta(seconds=1), client=client)
    store(readings(patient, times[4], {**NORMAL, "resp_rate": 22}))
    triage.score_patients([patient], now=times[4] + timedelta(seconds=1), client=client)

    with session_scope() as session:
        rows = session.exec(
            select(News2Score)
            .where(News2Score.patient_id == patient)
            .order_by(col(News2Score.observed_at))
        ).all()
        stored = [(r.observed_at, r.total) for r in rows]
    # 90 s ago (first), 20 s ago (changed to 2); 80/70 s unchanged and within the minute;
    # 10 s ago unchanged.
    assert stored == [(times[0], 0), (times[3], 2)]


def test_a_drain_job_that_ran_its_time_hands_over_to_a_new_job(
    client: redis.Redis, patient: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under sustained load the dirty set never empties: a drain job stops taking batches
    after DRAIN_SECONDS (well inside its RQ timeout, which would kill it mid-batch) and
    queues the next job, so no dirty patient is left without one."""
    client.sadd(triage.DIRTY, str(patient))
    monkeypatch.setattr(triage, "DRAIN_SECONDS", -1.0)  # its time is already up
    assert triage.drain_dirty_patients() == 0
    assert client.sismember(triage.DIRTY, str(patient))  # still waiting, not lost
    assert client.zcard(triage.PROCESSING) == 0  # nothing taken and left behind
    queued = Queue(triage.TRIAGE_QUEUE, connection=client).jobs
    assert [job.func_name for job in queued] == ["workers.triage.drain_dirty_patients"]
    monkeypatch.setattr(triage, "DRAIN_SECONDS", 60.0)
    assert triage.drain_dirty_patients() == 1  # the next job scores it
    assert not client.sismember(triage.DIRTY, str(patient))
