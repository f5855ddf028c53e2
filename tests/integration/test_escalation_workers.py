"""Escalation timers through the real scheduler and workers, as `healthguard up` runs them:
`healthguard scheduler` (rq-scheduler, precise timers), `healthguard worker --alerts` (the
non-forking alerts worker that fires the timers) and `healthguard worker` (the general worker
that runs the sweep), each a subprocess on the module's Postgres and Redis.

Proves: a short policy's second step fires by itself and notifies the charge nurse, with the
reason in the timeline; the same timer run again does nothing; an acknowledgement stops what
is left; an alerts worker killed (SIGKILL) in the middle of firing a timer, then restarted,
loses nothing and notifies once; a timer whose RQ job was deleted is fired by the sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from rq import Queue, Worker
from rq.job import Job, JobStatus
from sqlmodel import Session, col, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import (
    EscalationPolicy,
    Incident,
    IncidentEscalation,
    IncidentEvent,
    Notification,
    Shift,
    Staff,
    StaffSkill,
    User,
    Ward,
)
from healthguard.oncall import dispatch
from healthguard.oncall.escalation import EscalationState, EscalationStatus
from healthguard.runtime.embedded import wait_until
from workers.escalation import SWEEP_JOB_ID
from workers.queues import ALERTS, SCHEDULED_JOBS, URGENT, cancel_jobs, scheduled_at

pytestmark = pytest.mark.integration

HEALTHGUARD = Path(sys.executable).with_name("healthguard")
NEXT_YEAR = date.today() + timedelta(days=365)
WAIT = 60.0  # seconds: a generous bound on a busy machine; the waits end as soon as done


# --- the processes `healthguard up` would start ---------------------------------------------


@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [str(HEALTHGUARD), *args],
            env=self.env,
            cwd=self.logs,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        self.running.clear()

    def tail(self) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)


def workers_on(conn: redis.Redis, queue: str) -> int:
    return sum(1 for w in Worker.all(connection=conn) if queue in w.queue_names() and w.pid)


@pytest.fixture(scope="module")
def processes(
    seeded: dict[str, int], app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    logs = tmp_path_factory.mktemp("escalation-processes")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHGUARD_")}
    env.update(app_env)
    env["HEALTHGUARD_DATA_DIR"] = str(logs / "data")
    procs = Processes(env, logs)
    conn = redis.Redis.from_url(app_env["REDIS_URL"])
    try:
        procs.start("scheduler", "scheduler")
        procs.start("alerts", "worker", "--alerts")
        procs.start("general", "worker")
        ready = wait_until(
            lambda: (
                conn.zscore(SCHEDULED_JOBS, SWEEP_JOB_ID) is not None
                and workers_on(conn, ALERTS) >= 1
                and workers_on(conn, URGENT) >= 1
            ),
            WAIT,
        )
        assert ready, procs.tail()
        yield procs
    finally:
        procs.stop_all()
        conn.close()


@pytest.fixture
def conn(processes: Processes, redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# --- a ward of its own per test -----------------------------------------------------------------


@dataclass
class WardStaff:
    code: str
    name: str
    people: dict[str, uuid.UUID]


def step(delay: int, kind: str, ref: str = "") -> dict[str, Any]:
    return {"delay_seconds": delay, "targets": [{"kind": kind, "ref": ref}]}


def make_ward(steps: list[dict[str, Any]]) -> WardStaff:
    """A ward with a nurse (ACLS), a charge nurse and a resident on shift, and its own P1
    policy of ``steps``."""
    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"W{suffix}"
    with session_scope() as session:
        ward = Ward(code=code, name=f"Ward {suffix}")
        session.add(ward)
        session.flush()
        people: dict[str, uuid.UUID] = {}
        for name, role in (("Nia", "nurse"), ("Ada", "charge_nurse"), ("Rex", "resident")):
            staff = Staff(display_name=f"{name} {suffix}", role=role, home_ward_id=ward.id)
            session.add(staff)
            session.flush()
            people[name] = staff.id
            session.add(
                User(username=f"{name.lower()}.{suffix.lower()}", role="nurse", staff_id=staff.id)
            )
            for skill in ("BLS", "ACLS"):
                session.add(StaffSkill(staff_id=staff.id, skill=skill, expires_on=NEXT_YEAR))
            session.add(
                Shift(
                    staff_id=staff.id,
                    ward_id=ward.id,
                    starts_at=now - timedelta(hours=1),
                    ends_at=now + timedelta(hours=11),
                )
            )
        session.add(
            EscalationPolicy(
                name=f"{code} P1",
                priority="P1",
                ward_id=ward.id,
                definition={
                    "name": f"{code} P1 test",
                    "priority": "P1",
                    "steps": steps,
                    "ack_timeout_seconds": 600,
                },
            )
        )
    return WardStaff(code, ward.name, people)


def open_incident_now(ward: WardStaff) -> uuid.UUID:
    now = datetime.now(UTC)
    with session_scope() as session:
        incident = open_incident(
            session,
            title=f"NEWS2 8 ({ward.code})",
            priority="P1",
            now=now,
            ward_code=ward.code,
            dedup_key=f"test-{uuid.uuid4()}",
        )
        dispatch.on_incident_opened(session, incident, now=now)
        return incident.id


def state_of(incident_id: uuid.UUID) -> EscalationState:
    with Session(get_engine()) as session:
        row = session.get(IncidentEscalation, incident_id)
        assert row is not None
        return EscalationState.from_json(row.state)


def notifications(incident_id: uuid.UUID, key: str | None = None) -> list[Notification]:
    with Session(get_engine()) as session:
        rows = session.exec(select(Notification).where(Notification.incident_id == incident_id))
        return [r for r in rows if key is None or (r.escalation_key or "").split("~")[0] == key]


def notified(incident_id: uuid.UUID, key: str) -> set[uuid.UUID]:
    return {r.staff_id for r in notifications(incident_id, key)}


def entries_for(incident_id: uuid.UUID, key: str) -> list[IncidentEvent]:
    """The timeline entries about the notify ``key``: the escalation's and the notify
    service's."""
    with Session(get_engine()) as session:
        rows = session.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(col(IncidentEvent.id))
        ).all()
    return [e for e in rows if key in (e.data.get("key"), e.data.get("escalation_key"))]


def wait_for(check: Callable[[], bool], processes: Processes, what: str) -> None:
    assert wait_until(check, WAIT, interval=0.05), f"{what} within {WAIT:.0f} s\n{processes.tail()}"


def run_job(conn: redis.Redis, queue: str, func: str, *args: Any, processes: Processes) -> Job:
    """Enqueue a job for the real workers and wait until it has run."""
    job = Queue(queue, connection=conn).enqueue(func, *args, result_ttl=600)
    wait_for(
        lambda: job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED),
        processes,
        f"{func} run",
    )
    assert job.get_status() == JobStatus.FINISHED, job.latest_result()
    return job


def counts(incident_id: uuid.UUID) -> tuple[int, int]:
    """Notifications, and timeline entries of the escalation and of the notify service's
    planning (not the deliveries, which the alerts worker records as they happen)."""
    with Session(get_engine()) as session:
        events = session.exec(
            select(sa.func.count())
            .select_from(IncidentEvent)
            .where(
                IncidentEvent.incident_id == incident_id,
                col(IncidentEvent.kind).in_(
                    ["escalation", "notification.planned", "notification.unreachable"]
                ),
            )
        ).one()
    return len(notifications(incident_id)), int(events)


# --- tests ----------------------------------------------------------------------------------


def test_the_second_step_fires_by_itself_and_notifies_the_charge_nurse(
    conn: redis.Redis, processes: Processes
) -> None:
    ward = make_ward([step(0, "assignee"), step(1, "ward_role", "charge_nurse"),
                      step(2, "ward_role", "resident")])  # fmt: skip
    incident_id = open_incident_now(ward)
    first = state_of(incident_id).pending[0]
    second_key = first.key  # ...:r0:s1, due 1 s after the incident opened
    assert second_key.endswith(":r0:s1")
    job_id = dispatch.timer_job_id(second_key)

    wait_for(
        lambda: bool(notified(incident_id, second_key)), processes, "the charge nurse notified"
    )
    assert notified(incident_id, second_key) == {ward.people["Ada"]}
    # Through the scheduler and the alerts worker: the timer's own job ran.
    wait_for(
        lambda: Job.fetch(job_id, connection=conn).get_status(refresh=True) == JobStatus.FINISHED,
        processes,
        "the timer job finished",
    )
    (why, *service) = entries_for(incident_id, second_key)
    assert why.kind == "escalation"
    assert why.message.startswith("no acknowledgement after ")
    assert why.message.endswith(
        f"notifying the charge nurse of {ward.name} (step 2 of 3): Ada {ward.code[1:]}"
    )
    assert why.data["due_at"] == first.due_at.isoformat()
    assert why.data["recipients"][0]["reason"] == f"on shift as charge nurse of {ward.name}"
    assert len(service) == 1 and service[0].kind.startswith("notification.")

    # The third step follows on its own, 1 s later.
    third_key = second_key[: -len("s1")] + "s2"
    wait_for(lambda: bool(notified(incident_id, third_key)), processes, "the resident notified")
    assert notified(incident_id, third_key) == {ward.people["Rex"]}
    wait_for(lambda: not state_of(incident_id).pending, processes, "no timer left")

    # The same timer run again, twice, by the real worker: nothing more.
    before = counts(incident_id)
    for _ in range(2):
        run_job(conn, ALERTS, dispatch.FIRE_TIMER, str(incident_id), second_key,
                processes=processes)  # fmt: skip
    assert counts(incident_id) == before
    assert len(entries_for(incident_id, second_key)) == 2


def test_an_acknowledgement_stops_the_escalation(conn: redis.Redis, processes: Processes) -> None:
    ward = make_ward([step(0, "assignee"), step(1, "ward_role", "charge_nurse"),
                      step(60, "ward_role", "resident")])  # fmt: skip
    incident_id = open_incident_now(ward)
    second_key = state_of(incident_id).pending[0].key
    wait_for(
        lambda: bool(notified(incident_id, second_key)), processes, "the charge nurse notified"
    )
    (third,) = state_of(incident_id).pending
    assert third.key.endswith(":r0:s2")
    assert scheduled_at(dispatch.timer_job_id(third.key), conn) is not None

    now = datetime.now(UTC)
    ada = f"ada.{ward.code[1:].lower()}"
    with session_scope() as session:
        incident = session.exec(
            select(Incident).where(Incident.id == incident_id).with_for_update()
        ).one()
        incident.status, incident.acknowledged_by, incident.acknowledged_at = (
            "acknowledged", ada, now,
        )  # fmt: skip
        incident.version += 1
        session.add(incident)
        session.flush()
        dispatch.on_incident_changed(
            session, incident, action="acknowledge", actor=ada, now=now,
            previous_priority="P1", previous_status="triggered",
        )  # fmt: skip

    state = state_of(incident_id)
    assert state.status is EscalationStatus.ACKNOWLEDGED
    assert [t.key.rsplit(":", 1)[-1] for t in state.pending] == ["ack1.1"]
    assert scheduled_at(dispatch.timer_job_id(third.key), conn) is None
    before = counts(incident_id)
    # Had its job been on its way, it would do nothing: the real worker runs it.
    run_job(conn, ALERTS, dispatch.FIRE_TIMER, str(incident_id), third.key, processes=processes)
    assert counts(incident_id) == before
    assert not notified(incident_id, third.key)
    assert ward.people["Rex"] not in {n.staff_id for n in notifications(incident_id)}


def test_a_killed_alerts_worker_loses_no_escalation_and_notifies_once(
    conn: redis.Redis, processes: Processes
) -> None:
    # The first step 4 s after opening: no notification (and no delivery job on the alerts
    # worker, which would wait for the lock below) comes before it.
    ward = make_ward([step(4, "ward_role", "charge_nurse"), step(600, "ward_role", "resident")])
    incident_id = open_incident_now(ward)
    (timer,) = state_of(incident_id).pending
    assert timer.key.endswith(":r0:s0")
    job_id = dispatch.timer_job_id(timer.key)

    # Hold the incident's row lock: the worker's fire_timer blocks on it, mid-job.
    holder = get_engine().connect()
    try:
        transaction = holder.begin()
        holder.execute(
            sa.text("SELECT id FROM incidents WHERE id = :id FOR UPDATE"), {"id": incident_id}
        )
        wait_for(
            lambda: (
                Job.fetch(job_id, connection=conn).get_status(refresh=True) == JobStatus.STARTED
            ),
            processes,
            "the alerts worker started the timer job",
        )
        processes.kill("alerts")  # SIGKILL in the middle of the job
        assert not notified(incident_id, timer.key)  # nothing fires while the lock is held
        transaction.rollback()
    finally:
        holder.close()
    processes.start("alerts", "worker", "--alerts")

    # The sweep (general worker) fires it: the timer is still pending in Postgres.
    wait_for(lambda: bool(notified(incident_id, timer.key)), processes, "the charge nurse notified")
    assert notified(incident_id, timer.key) == {ward.people["Ada"]}
    wait_for(lambda: workers_on(conn, ALERTS) >= 1, processes, "the new alerts worker")
    # Once: more sweeps and the timer's job again change nothing.
    before = counts(incident_id)
    run_job(conn, URGENT, "workers.escalation.sweep", processes=processes)
    run_job(conn, ALERTS, dispatch.FIRE_TIMER, str(incident_id), timer.key, processes=processes)
    assert counts(incident_id) == before
    why = [e for e in entries_for(incident_id, timer.key) if e.kind == "escalation"]
    assert len(why) == 1
    assert why[0].data["late_ms"] >= 1000  # by the sweep: more than a second late
    assert len([n for n in notifications(incident_id, timer.key)]) == len(
        {(n.staff_id, n.channel) for n in notifications(incident_id, timer.key)}
    )


def test_the_sweep_fires_a_timer_whose_job_was_deleted(
    conn: redis.Redis, processes: Processes
) -> None:
    ward = make_ward([step(0, "assignee"), step(3, "ward_role", "charge_nurse"),
                      step(600, "ward_role", "resident")])  # fmt: skip
    incident_id = open_incident_now(ward)
    (timer,) = state_of(incident_id).pending
    job_id = dispatch.timer_job_id(timer.key)
    cancel_jobs([job_id], conn)  # lost: a flushed Redis, a failed enqueue...
    assert scheduled_at(job_id, conn) is None
    assert not Job.exists(job_id, connection=conn)

    wait_for(lambda: bool(notified(incident_id, timer.key)), processes, "the charge nurse notified")
    assert notified(incident_id, timer.key) == {ward.people["Ada"]}
    (why,) = [e for e in entries_for(incident_id, timer.key) if e.kind == "escalation"]
    assert why.data["late_ms"] >= 1000  # the sweep's grace: only the sweep could fire it
    assert why.message.endswith(f"(step 2 of 3): Ada {ward.code[1:]}")
    next_timer = state_of(incident_id).pending[0]
    assert next_timer.key.endswith(":r0:s2")
    assert scheduled_at(dispatch.timer_job_id(next_timer.key), conn) is not None
