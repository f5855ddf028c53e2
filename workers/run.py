"""Start an RQ worker or the rq-scheduler (used by `healthguard worker|scheduler|up`)."""

from __future__ import annotations

import logging

from rq import Worker
from rq_scheduler import Scheduler

from healthguard.settings import get_settings
from workers.queues import ALL_QUEUES, DEFAULT, redis_connection


def run_worker(burst: bool = False) -> bool:
    # Import the jobs (and with them SQLAlchemy, the models and the services) once here, so
    # every forked work-horse starts with them loaded instead of importing per job.
    import workers.jobs  # noqa: F401

    connection = redis_connection()
    worker = Worker(list(ALL_QUEUES), connection=connection)
    return worker.work(burst=burst, logging_level=get_settings().log_level.upper())


def run_scheduler() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    scheduler = Scheduler(
        queue_name=DEFAULT,
        connection=redis_connection(),
        interval=settings.scheduler_interval_seconds,
    )
    scheduler.run()
