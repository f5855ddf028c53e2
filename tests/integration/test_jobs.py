"""RQ jobs through a real queue and real workers: commit first, then tell the screens."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from sqlmodel import Session, func, select

import workers.jobs
from healthguard.db import get_engine
from healthguard.models import Incident, Ward
from healthguard.realtime.events import ChangeEvent
from healthguard.settings import get_settings
from workers.jobs import open_incident_job
from workers.queues import DEFAULT, URGENT, get_queue

pytestmark = pytest.mark.integration

HEALTHGUARD = Path(sys.executable).with_name("healthguard")


@pytest.fixture
def conn(seeded: dict[str, int], redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    for name in (DEFAULT, URGENT):
        Queue(name, connection=client).empty()
    yield client
    client.close()


@pytest.fixture
def channel(conn: redis.Redis) -> Iterator[Any]:
    """A pub/sub subscription to the realtime channel, made before any job runs."""
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(get_settings().realtime_channel)
    confirm = pubsub.get_message(timeout=5)  # the subscribe confirmation
    assert confirm is None or confirm["type"] == "subscribe"
    yield pubsub
    pubsub.close()


def next_event(pubsub: Any, timeout: float = 10.0) -> ChangeEvent:
    message = pubsub.get_message(timeout=timeout)
    assert message is not None, f"no change event within {timeout}s"
    assert message["type"] == "message"
    return ChangeEvent.from_json(message["data"])


def incident_exists(incident_id: str) -> bool:
    with Session(get_engine()) as session:
        return session.get(Incident, uuid.UUID(incident_id)) is not None


def incident_count() -> int:
    with Session(get_engine()) as session:
        return session.exec(select(func.count()).select_from(Incident)).one()


def run_burst(conn: redis.Redis) -> None:
    worker = SimpleWorker([get_queue(URGENT, conn), get_queue(DEFAULT, conn)], connection=conn)
    worker.work(burst=True)


def test_job_commits_before_it_publishes(
    conn: redis.Redis, channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_at_publish: list[bool] = []
    real_publish = workers.jobs.publish_change

    def checking_publish(client: redis.Redis, event: ChangeEvent, *args: Any) -> bool:
        # Another process (a web worker) reading Postgres at this very moment must see it.
        seen_at_publish.append(incident_exists(event.entity_id))
        return real_publish(client, event, *args)

    monkeypatch.setattr(workers.jobs, "publish_change", checking_publish)
    job = get_queue(URGENT, conn).enqueue(
        open_incident_job, "NEWS2 7", "P1", ward_code="card", bed_label="B2"
    )
    run_burst(conn)

    assert job.get_status() == JobStatus.FINISHED
    event = next_event(channel)
    assert seen_at_publish == [True]
    assert event.kind == "incident.opened"
    assert event.ward_code == "CARD"
    assert event.entity_id == job.return_value()
    assert incident_exists(event.entity_id)
    with Session(get_engine()) as session:
        incident = session.get(Incident, uuid.UUID(event.entity_id))
        assert incident is not None
        ward = session.get(Ward, incident.ward_id)
        assert ward is not None and ward.code == "CARD"
        assert (incident.title, incident.priority, incident.source) == ("NEWS2 7", "P1", "worker")


def test_hospital_wide_job_event_has_no_ward(conn: redis.Redis, channel: Any) -> None:
    job = get_queue(DEFAULT, conn).enqueue(open_incident_job, "Pager gateway down", "P3")
    run_burst(conn)
    event = next_event(channel)
    assert event.entity_id == job.return_value()
    assert event.ward_code is None


def test_bad_job_fails_writes_nothing_and_publishes_nothing(
    conn: redis.Redis, channel: Any
) -> None:
    before = incident_count()
    job = get_queue(DEFAULT, conn).enqueue(open_incident_job, "x", "P1", ward_code="NOWARD")
    run_burst(conn)
    assert job.get_status() == JobStatus.FAILED
    job.refresh()
    assert "ward_code" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]
    assert incident_count() == before
    assert channel.get_message(timeout=0.5) is None


def test_healthguard_worker_cli_runs_the_queue(
    conn: redis.Redis, channel: Any, app_env: dict[str, str], tmp_path: Path
) -> None:
    job = get_queue(URGENT, conn).enqueue(
        open_incident_job, "HR 160 from CLI worker", "P0", ward_code="ICU"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHGUARD_")}
    env.update(app_env)
    env["HEALTHGUARD_MODE"] = "demo"
    env["HEALTHGUARD_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [str(HEALTHGUARD), "worker", "--burst"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    incident_id = job.return_value()
    assert isinstance(incident_id, str) and incident_exists(incident_id)
    event = next_event(channel)
    assert (event.kind, event.entity_id, event.ward_code) == ("incident.opened", incident_id, "ICU")
