"""RQ jobs of the notify service, on the ``alerts`` queue (``workers.queues.ALERTS``).

- ``deliver(notification_id)``: deliver one queued notification
  (``healthguard.notify.delivery.deliver_notification``); enqueued by
  ``healthguard.notify.service.notify_people`` after its commit, at once or at ``due_at``
  through rq-scheduler. Idempotent: a second copy does nothing.
- ``send_digest(staff_id, channel, attempt)``: one digest of the messages a throttle held
  for that person and channel (``healthguard.notify.digests.send_digest``); scheduled
  through rq-scheduler for when the window has room again. Idempotent: a second copy sends
  nothing.
- ``sweep_due()``: periodic safety net (every ``SWEEP_SECONDS``): enqueues the queued
  notifications whose ``due_at`` passed more than ``SWEEP_GRACE_SECONDS`` ago (a job lost
  with a restarted Redis, scheduler or worker), and the digest of each person and channel
  whose held (``throttled``) messages are overdue the same way. Each row (each person and
  channel) is re-enqueued at most once per ``SWEEP_CLAIM_SECONDS`` (a Redis ``SET NX``), so a
  long backlog is not multiplied.

The channel registry is built once per process (``delivery_context``) from the settings;
``use_context`` swaps it (tests, benchmarks). The in-app channel publishes a realtime
``ChangeEvent`` (kind ``notification.created``, ``entity_id`` = the person's staff id) on the
same Redis pub/sub path as every other live update.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa

from healthguard.db import session_scope
from healthguard.models.notifications import Channel
from healthguard.notify.channels.registry import build_channels, config_from_settings
from healthguard.notify.delivery import DeliveryContext, deliver_notification
from healthguard.notify.service import alerts_queue_name, delivery_job_id, enqueue_delivery
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.settings import get_settings
from workers.queues import get_queue, redis_connection

__all__ = [
    "NOTIFICATION_CREATED",
    "SWEEP_GRACE_SECONDS",
    "SWEEP_JOB_ID",
    "SWEEP_SECONDS",
    "deliver",
    "delivery_context",
    "in_app_publisher",
    "send_digest",
    "sweep_due",
    "use_context",
]

log = logging.getLogger(__name__)

NOTIFICATION_CREATED = "notification.created"
SEND_DIGEST_FUNC = "workers.notify.send_digest"
SWEEP_JOB_ID = "healthguard-notify-sweep"
SWEEP_SECONDS = 2
SWEEP_GRACE_SECONDS = 2.0
SWEEP_CLAIM_SECONDS = 10
SWEEP_BATCH = 500

_context: DeliveryContext | None = None


class LiveUpdateUnavailable(ConnectionError):
    """The realtime fan-out (Redis pub/sub) could not be reached."""


def in_app_publisher(client: redis.Redis) -> Any:
    """The in-app channel's publish callable: one ``notification.created`` change event for
    the person; raises ``LiveUpdateUnavailable`` (an ``OSError``: a retryable failure of the
    in-app channel) when Redis cannot be reached."""

    def publish(event: dict[str, Any]) -> None:
        change = ChangeEvent(kind=NOTIFICATION_CREATED, entity_id=str(event["staff_id"]))
        if not publish_change(client, change):
            raise LiveUpdateUnavailable("the live update channel (Redis) is unreachable")

    return publish


def delivery_context() -> DeliveryContext:
    """This process's delivery context, built on first use."""
    global _context
    if _context is None:
        settings = get_settings()
        client = redis_connection()
        registry = build_channels(config_from_settings(settings), publish=in_app_publisher(client))
        for line in registry.describe():
            log.info("notify channel %s", line)
        _context = DeliveryContext(registry=registry, redis=client, settings=settings)
    return _context


def use_context(context: DeliveryContext | None) -> None:
    """Use ``context`` for the deliveries of this process (None: build from the settings
    on next use)."""
    global _context
    _context = context


def deliver(notification_id: str) -> str:
    """RQ job: deliver one notification; returns the outcome ("sent", "nothing"...)."""
    return deliver_notification(uuid.UUID(str(notification_id)), delivery_context()).value


def send_digest(staff_id: str, channel: str, attempt: int = 1) -> str:
    """RQ job: the digest of the messages held by a throttle for one person and channel;
    returns what happened ("sent", "nothing", "skipped", "early", "throttled"...)."""
    from healthguard.notify.digests import send_digest as run

    return run(uuid.UUID(str(staff_id)), Channel(channel), delivery_context(), int(attempt))


_HELD = sa.text(
    """
    SELECT staff_id, channel, min(due_at) FROM notifications
     WHERE status = 'throttled' AND due_at < :before
     GROUP BY staff_id, channel
     LIMIT :limit
    """
)


_DUE = sa.text(
    """
    SELECT id, due_at FROM notifications
     WHERE status = 'queued' AND due_at < :before
     ORDER BY due_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)


def sweep_due(now: datetime | None = None, grace_seconds: float = SWEEP_GRACE_SECONDS) -> int:
    """Enqueue the queued notifications overdue by more than ``grace_seconds`` whose job was
    lost; rows being delivered right now (locked) are skipped. Returns how many."""
    now = now or datetime.now(UTC)
    before = now - timedelta(seconds=grace_seconds)
    with session_scope() as session:
        rows = session.execute(_DUE, {"before": before, "limit": SWEEP_BATCH}).all()
    client = delivery_context().redis
    count = 0
    for notification_id, due_at in rows:
        claim = f"healthguard:notify:swept:{notification_id}"
        if not client.set(claim, "1", nx=True, ex=SWEEP_CLAIM_SECONDS):
            continue
        # Its own job id: the lost job's id may still be known to RQ.
        job_id = f"{delivery_job_id(notification_id)}-sweep-{int(now.timestamp())}"
        enqueue_delivery(notification_id, due_at, now, job_id)
        count += 1
    if count:
        log.warning("notify sweep: %d overdue notification(s) re-enqueued", count)
    return count + _sweep_held(client, before, now)


def _sweep_held(client: redis.Redis, before: datetime, now: datetime) -> int:
    """Enqueue the digest of each person and channel whose held messages are overdue."""
    with session_scope() as session:
        rows = session.execute(_HELD, {"before": before, "limit": SWEEP_BATCH}).all()
    count = 0
    for staff_id, channel, _due in rows:
        claim = f"healthguard:notify:swept-digest:{staff_id}:{channel}"
        if not client.set(claim, "1", nx=True, ex=SWEEP_CLAIM_SECONDS):
            continue
        get_queue(alerts_queue_name(), connection=client).enqueue(
            SEND_DIGEST_FUNC,
            str(staff_id),
            str(channel),
            1,
            job_id=f"notify-digest-{staff_id}-{channel}-sweep-{int(now.timestamp())}",
            result_ttl=600,
        )
        count += 1
    if count:
        log.warning("notify sweep: %d overdue digest(s) enqueued", count)
    return count
