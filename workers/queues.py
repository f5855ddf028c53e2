"""Queue names, the Redis connection jobs and workers share, and precise timed jobs.

Queues: ``urgent`` and ``default`` (the general, forking worker drains ``urgent`` first),
``alerts`` (escalation timers and notification deliveries, on its own non-forking worker:
``healthguard worker --alerts``) and the triage queues (``workers.triage``).

Timed jobs (escalation timers) go through rq-scheduler, the one scheduler `healthguard up`
runs (``workers.run.run_scheduler``), with two changes that make them precise to a few
milliseconds instead of up to a second:

- ``schedule_jobs`` stores each job's due time in rq-scheduler's sorted set as a float (plain
  ``Scheduler.enqueue_at`` truncates it to the second, so a job due at 10.9 s would be moved to
  its queue at 10.0 s or 11.0 s), and nudges the scheduler awake (``SCHEDULER_WAKE``);
- the scheduler (``workers.run.TimerScheduler``) compares with the float clock and sleeps
  only until the next job is due, woken early when a new timer is scheduled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq_scheduler import Scheduler

from healthguard.settings import get_settings

# Highest priority first: a worker always drains `urgent` before `default`.
URGENT = "urgent"
DEFAULT = "default"
ALL_QUEUES = (URGENT, DEFAULT)
# Escalation timers and notification deliveries: the alarm path, on its own worker.
ALERTS = "alerts"
ALERTS_QUEUES = (ALERTS,)

# rq-scheduler's sorted set of scheduled jobs (job id -> due, Unix seconds).
SCHEDULED_JOBS = Scheduler.scheduled_jobs_key
# A one-element list the scheduler blocks on between runs: a push wakes it up at once.
SCHEDULER_WAKE = "healthguard:scheduler:wake"
TIMED_JOB_RESULT_TTL = 600  # seconds a finished timed job's result is kept
TIMED_JOB_FAILURE_TTL = 86400  # a failed one (the state in Postgres is the truth; the sweep)


_clients: dict[str, redis.Redis] = {}


def redis_connection(url: str | None = None) -> redis.Redis:
    """One client (and connection pool) per URL and process, not one per call: the ingest
    hot path asks for it on every request. redis-py resets the pool after a fork."""
    url = url or get_settings().effective_redis_url()
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


def get_queue(name: str = DEFAULT, connection: redis.Redis | None = None) -> Queue:
    return Queue(name, connection=connection or redis_connection())


@dataclass(frozen=True)
class TimedJob:
    """Run ``func`` (a dotted name) with ``args`` on ``queue`` at ``at`` (aware)."""

    job_id: str
    func: str
    args: tuple[Any, ...]
    at: datetime
    queue: str = ALERTS


def schedule_jobs(jobs: Sequence[TimedJob], connection: redis.Redis | None = None) -> None:
    """Schedule ``jobs`` with rq-scheduler, due to the millisecond, in one round trip. A job
    id already scheduled is replaced (same id, new due time)."""
    if not jobs:
        return
    client = connection or redis_connection()
    with client.pipeline(transaction=False) as pipe:
        for timed in jobs:
            if timed.at.tzinfo is None:
                raise ValueError("a timed job's due time must be timezone-aware")
            job = Job.create(
                timed.func,
                args=timed.args,
                connection=client,
                id=timed.job_id,
                origin=timed.queue,
                status=JobStatus.SCHEDULED,
                result_ttl=TIMED_JOB_RESULT_TTL,
                failure_ttl=TIMED_JOB_FAILURE_TTL,
            )
            job.save(pipeline=pipe)
            pipe.zadd(SCHEDULED_JOBS, {timed.job_id: timed.at.timestamp()})
        pipe.lpush(SCHEDULER_WAKE, 1)
        pipe.ltrim(SCHEDULER_WAKE, 0, 0)
        pipe.execute()


def cancel_jobs(job_ids: Iterable[str], connection: redis.Redis | None = None) -> None:
    """Unschedule and forget these timed jobs (a job already moved to its queue is skipped
    by the worker: its data is gone)."""
    ids = list(job_ids)
    if not ids:
        return
    client = connection or redis_connection()
    with client.pipeline(transaction=False) as pipe:
        pipe.zrem(SCHEDULED_JOBS, *ids)
        pipe.delete(*(Job.key_for(i) for i in ids))
        pipe.execute()


def scheduled_at(job_id: str, connection: redis.Redis | None = None) -> float | None:
    """When the timed job is due (Unix seconds), None when it is not scheduled."""
    client = connection or redis_connection()
    score: Any = client.zscore(SCHEDULED_JOBS, job_id)
    return None if score is None else float(score)
