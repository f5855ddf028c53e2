"""Start an RQ worker or the scheduler (used by `healthguard worker|scheduler|up`).

Workers: the general one (``urgent`` then ``default``, forks per job), the non-forking triage
worker (``--triage``) and the non-forking alerts worker (``--alerts``: escalation timers and
notification deliveries; no fork on the alarm path).

The scheduler is rq-scheduler (``TimerScheduler``): it moves due jobs to their queue, with
float due times and a sleep that ends when the next job is due (or a new timer is scheduled),
so an escalation timer reaches the alerts queue within milliseconds of its due time, and
every ``scheduler_interval_seconds`` (1 s) at the latest when nothing is due. It also runs the
periodic jobs (``schedule_periodic_jobs``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from rq import SimpleWorker, Worker
from rq_scheduler import Scheduler

from healthguard.settings import get_settings
from workers.queues import (
    ALERTS,
    ALERTS_QUEUES,
    ALL_QUEUES,
    DEFAULT,
    SCHEDULED_JOBS,
    SCHEDULER_WAKE,
    URGENT,
    redis_connection,
)

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "healthguard-triage-sweep"
SWEEP_SECONDS = 30

# Periodic jobs of the on-call roster (functions in workers/oncall.py): job id -> (function,
# seconds between runs). On the default queue (the general worker).
ONCALL_PERIODIC: dict[str, tuple[str, int]] = {
    "healthguard-oncall-materialize-shifts": ("workers.oncall.materialize_shifts", 600),
    "healthguard-oncall-reset-availability": ("workers.oncall.reset_availability", 60),
    "healthguard-oncall-shift-handoffs": ("workers.oncall.shift_handoffs", 60),
    "healthguard-oncall-certification-reminders": (
        "workers.oncall.certification_reminders",
        86400,
    ),
    "healthguard-oncall-gap-report": ("workers.oncall.gap_report", 3600),
}

SCHEDULER_LOCK_SECONDS = 5  # a killed scheduler's lock is free again after this
_MIN_WAIT = 0.002  # seconds: never a busy loop
_LOCK_MISS_WAIT = 0.1  # another scheduler holds the lock (or a killed one did)
# Redis ends a blocking wait on its own clock (10 times a second by default), so a BLPOP
# timeout may end up to ~100 ms late: block until this long before the next due time, then
# finish the wait with a local sleep.
_BLOCK_MARGIN = 0.15


def run_worker(
    burst: bool = False, triage: bool = False, alerts: bool = False, urgent: bool = False
) -> bool:
    """A worker for the general queues (forks per job); with `triage` the non-forking worker
    of the triage queues (the hot path never pays a fork per batch); with `urgent` the
    non-forking worker of the urgent lane alone (possible arrests: it never scores a batch,
    so an arrest never waits behind one); with `alerts` the non-forking worker of the alerts
    queue (escalation timers, notification deliveries)."""
    # Import the jobs (and with them SQLAlchemy, the models and the services) once here, so
    # every forked work-horse starts with them loaded instead of importing per job.
    import workers.escalation
    import workers.jobs
    import workers.triage

    connection = redis_connection()
    level = get_settings().log_level.upper()
    if sum((triage, alerts, urgent)) > 1:
        raise ValueError("a worker is one of: the triage, the urgent or the alerts worker")
    if urgent:
        simple = SimpleWorker([workers.triage.URGENT_QUEUE], connection=connection)
        return simple.work(burst=burst, logging_level=level)
    if triage:
        workers.triage.FREEZE_AFTER_BATCH = True
        workers.triage.OWN_QUEUE = workers.triage.own_queue_name()
        queues = workers.triage.triage_worker_queues(workers.triage.OWN_QUEUE)
        simple = SimpleWorker(queues, connection=connection)
        return simple.work(burst=burst, logging_level=level)
    if alerts:
        import workers.notify  # the delivery jobs, imported once

        simple = SimpleWorker(list(ALERTS_QUEUES), connection=connection)
        return simple.work(burst=burst, logging_level=level)
    worker = Worker(list(ALL_QUEUES), connection=connection)
    return worker.work(burst=burst, logging_level=level)


class TimerScheduler(Scheduler):
    """rq-scheduler, precise to the millisecond (see ``workers.queues``): due times compared
    as floats; between runs it waits until the next job is due (at most the interval), blocked
    on ``SCHEDULER_WAKE`` so that a new timer wakes it at once, the last moment a local
    sleep (``wait``)."""

    def get_jobs_to_queue(self, with_times: bool = False) -> Any:
        return self.get_jobs(time.time(), with_times=with_times)

    def acquire_lock(self) -> bool:
        self._lock_acquired = bool(
            self.connection.set(
                self.scheduler_lock_key, time.time(), ex=SCHEDULER_LOCK_SECONDS, nx=True
            )
        )
        return self._lock_acquired

    def seconds_to_next_job(self) -> float:
        first = self.connection.zrange(SCHEDULED_JOBS, 0, 0, withscores=True)
        wait = float(self._interval)
        if first:
            wait = min(wait, float(first[0][1]) - time.time())
        return max(wait, _MIN_WAIT)

    def wait(self) -> None:
        """Until the next job is due (at most the interval), or a new timer is scheduled.
        A long wait blocks on ``SCHEDULER_WAKE`` and returns a little early (the caller
        loops); the last ``_BLOCK_MARGIN`` is a local sleep, precise to the millisecond."""
        seconds = self.seconds_to_next_job()
        if seconds > _BLOCK_MARGIN:
            self.connection.blpop([SCHEDULER_WAKE], timeout=seconds - _BLOCK_MARGIN)
        else:
            time.sleep(seconds)

    def run(self, burst: bool = False) -> None:
        self.register_birth()
        self._install_signal_handlers()
        try:
            while True:
                self.heartbeat()
                if self.acquire_lock():
                    try:
                        self.enqueue_jobs()
                    finally:
                        self.remove_lock()
                    if burst:
                        break
                    self.wait()
                else:
                    log.debug("scheduler lock taken by another scheduler; waiting")
                    time.sleep(_LOCK_MISS_WAIT)
        finally:
            self.remove_lock()
            self.register_death()


def _periodic_jobs() -> dict[str, tuple[str, int, str]]:
    """job id -> (function, seconds between runs, queue)."""
    from workers import escalation, integrations, notify
    from workers.triage import TRIAGE_QUEUE

    settings = get_settings()
    jobs: dict[str, tuple[str, int, str]] = {
        SWEEP_JOB_ID: ("workers.triage.sweep", SWEEP_SECONDS, TRIAGE_QUEUE),
        integrations.HEARTBEAT_JOB_ID: (
            "workers.integrations.check_heartbeats",
            integrations.HEARTBEAT_SECONDS,
            DEFAULT,
        ),
        integrations.SILENCE_REMINDER_JOB_ID: (
            "workers.integrations.silence_reminders",
            integrations.SILENCE_REMINDER_SECONDS,
            DEFAULT,
        ),
        # The escalation safety net runs on the general worker, not the alerts worker: a dead
        # or stuck alerts worker does not stop it. rq-scheduler repeats in whole seconds.
        escalation.SWEEP_JOB_ID: (
            "workers.escalation.sweep",
            max(1, round(settings.escalation_sweep_seconds)),
            URGENT,
        ),
        notify.SWEEP_JOB_ID: ("workers.notify.sweep_due", notify.SWEEP_SECONDS, ALERTS),
    }
    for job_id, (func, seconds) in ONCALL_PERIODIC.items():
        jobs[job_id] = (func, seconds, DEFAULT)
    return jobs


def schedule_periodic_jobs(scheduler: Scheduler) -> None:
    """Register the periodic jobs once (idempotent across scheduler restarts: each is
    unscheduled by id, then scheduled again, due now)."""
    for job_id, (func, seconds, queue) in _periodic_jobs().items():
        scheduler.cancel(job_id)
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=func,
            interval=seconds,
            repeat=None,
            id=job_id,
            queue_name=queue,
            result_ttl=60,
        )


def run_scheduler() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    scheduler = TimerScheduler(
        queue_name=DEFAULT,
        connection=redis_connection(),
        interval=settings.scheduler_interval_seconds,
    )
    schedule_periodic_jobs(scheduler)
    scheduler.run()
