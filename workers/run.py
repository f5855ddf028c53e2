"""Start an RQ worker or the rq-scheduler (used by `healthguard worker|scheduler|up`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rq import SimpleWorker, Worker
from rq_scheduler import Scheduler

from healthguard.settings import get_settings
from workers.queues import ALL_QUEUES, DEFAULT, redis_connection

SWEEP_JOB_ID = "healthguard-triage-sweep"
SWEEP_SECONDS = 30


def run_worker(burst: bool = False, triage: bool = False) -> bool:
    """A worker for the general queues (forks per job), or with `triage` the non-forking
    worker of the triage queue: the hot path never pays a fork per batch."""
    # Import the jobs (and with them SQLAlchemy, the models and the services) once here, so
    # every forked work-horse starts with them loaded instead of importing per job.
    import workers.jobs
    import workers.triage

    connection = redis_connection()
    level = get_settings().log_level.upper()
    if triage:
        workers.triage.FREEZE_AFTER_BATCH = True
        simple = SimpleWorker(list(workers.triage.TRIAGE_QUEUES), connection=connection)
        return simple.work(burst=burst, logging_level=level)
    worker = Worker(list(ALL_QUEUES), connection=connection)
    return worker.work(burst=burst, logging_level=level)


def schedule_periodic_jobs(scheduler: Scheduler) -> None:
    """Register the periodic jobs once (idempotent across scheduler restarts)."""
    from workers import integrations
    from workers.triage import TRIAGE_QUEUE

    periodic = {  # job id -> (function, seconds between runs)
        integrations.HEARTBEAT_JOB_ID: (
            "workers.integrations.check_heartbeats",
            integrations.HEARTBEAT_SECONDS,
        ),
        integrations.SILENCE_REMINDER_JOB_ID: (
            "workers.integrations.silence_reminders",
            integrations.SILENCE_REMINDER_SECONDS,
        ),
    }
    for job in scheduler.get_jobs():
        if job.id == SWEEP_JOB_ID or job.id in periodic:
            scheduler.cancel(job)
    scheduler.schedule(
        scheduled_time=datetime.now(UTC),
        func="workers.triage.sweep",
        interval=SWEEP_SECONDS,
        repeat=None,
        id=SWEEP_JOB_ID,
        queue_name=TRIAGE_QUEUE,
        result_ttl=60,
    )
    for job_id, (func, seconds) in periodic.items():
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=func,
            interval=seconds,
            repeat=None,
            id=job_id,
            queue_name=DEFAULT,
            result_ttl=60,
        )


def run_scheduler() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    scheduler = Scheduler(
        queue_name=DEFAULT,
        connection=redis_connection(),
        interval=settings.scheduler_interval_seconds,
    )
    schedule_periodic_jobs(scheduler)
    scheduler.run()
