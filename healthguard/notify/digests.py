"""Throttled messages are not lost: hold them, then send one digest when the window ends.

The adapter around the pure planner ``healthguard.notify.digest``:

1. **hold** (``hold_for_digest``, called by ``delivery.deliver_notification`` when the
   throttle refuses a P2-P4 send): the row becomes ``throttled`` (``due_at`` = when the
   channel has room again, ``error`` = the throttle's reason), a timeline entry says so
   ("SMS to Nurse Flap held: SMS throttled for P3 ...; held for a digest at 10:20:00 UTC"),
   and after the commit the digest job of that person and channel is scheduled at that time
   (``workers.notify.send_digest`` through rq-scheduler, as the escalation timers and
   delivery retries are: ``workers.queues.schedule_jobs``). One job id per person, channel
   and due second, so many held messages schedule one job.
2. **digest** (``send_digest``, the job): under a transaction-scoped advisory lock per person
   and channel, the rows still ``throttled`` are read; each is checked with the same stop
   rule as any delivery (``delivery.stop_reason``: acknowledged, resolved, answered); the
   planner says what goes in. Skipped rows are ``cancelled`` with a timeline entry; the digest
   itself is one send on the channel, counted by the throttle like any other (when the
   window is full again, e.g. P0s filled it, the job is scheduled again for when it has
   room). Sent: every covered row becomes ``sent``/``delivered`` (the provider's message id
   on the first), with a timeline entry on each incident ("SMS digest sent to Nurse Flap:
   3 more alarms while you were throttled").
3. **idempotent**: a second copy of the job (or a job run twice) finds no ``throttled``
   rows, or waits on the lock and then finds none, and sends nothing. A job run early (before
   the first row's ``due_at``) is scheduled again for then. A lost job is caught by the
   sweep (``workers.notify.sweep_due``: held rows overdue by more than the grace).
4. **failure**: the rows stay held and the digest is tried again (``DIGEST_RETRY_SECONDS``
   times the attempt, ``DIGEST_ATTEMPTS`` in all), with a timeline entry; after the last
   attempt they are ``failed`` and the timeline says that the in-app notification carried
   them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import after_commit, session_scope
from healthguard.incidents.timeline import write_entries
from healthguard.models.hospital import Bed, Ward
from healthguard.models.incidents import Incident
from healthguard.models.notifications import Channel, Notification, NotificationStatus
from healthguard.notify.contacts import load_person
from healthguard.notify.delivery import (
    EARLY_TOLERANCE,
    KIND_CANCELLED,
    KIND_THROTTLED,
    DeliveryContext,
    _label,
    _release,
    _send,
    _throttle,
    _trigger,
    stop_reason,
    timeline_entry,
)
from healthguard.notify.digest import DigestPlan, HeldMessage, plan_digest
from healthguard.notify.message import MessageContent
from healthguard.notify.service import alerts_queue_name
from healthguard.notify.throttle import ThrottleDecision

__all__ = [
    "DIGEST_ATTEMPTS",
    "DIGEST_FUNC",
    "DIGEST_RETRY_SECONDS",
    "KIND_DIGEST_FAILED",
    "KIND_DIGEST_SENT",
    "digest_job_id",
    "hold_for_digest",
    "schedule_digest",
    "send_digest",
]

log = logging.getLogger(__name__)

DIGEST_FUNC = "workers.notify.send_digest"
DIGEST_ATTEMPTS = 3
DIGEST_RETRY_SECONDS = 30.0
KIND_DIGEST_SENT = "notification.digest_sent"
KIND_DIGEST_FAILED = "notification.digest_failed"


def _clock(at: datetime) -> str:
    return f"{at.astimezone(UTC):%H:%M:%S} UTC"


def digest_job_id(
    staff_id: uuid.UUID | str, channel: Channel, at: datetime, attempt: int = 1
) -> str:
    """One job per person, channel, due second and attempt (RQ ids take no ``:``)."""
    return f"notify-digest-{staff_id}-{channel.value}-{int(at.timestamp())}-{attempt}"


def schedule_digest(
    context: DeliveryContext,
    staff_id: uuid.UUID,
    channel: Channel,
    at: datetime,
    attempt: int = 1,
) -> None:
    """Schedule ``workers.notify.send_digest`` for ``at`` (rq-scheduler, to the millisecond;
    a job id already scheduled is replaced, so this may be called once per held message)."""
    from workers.queues import TimedJob, schedule_jobs

    job = TimedJob(
        digest_job_id(staff_id, channel, at, attempt),
        DIGEST_FUNC,
        (str(staff_id), channel.value, attempt),
        at,
        alerts_queue_name(),
    )
    schedule_jobs([job], connection=context.redis)


def _schedule_after_commit(
    session: Session,
    context: DeliveryContext,
    staff_id: uuid.UUID,
    channel: Channel,
    at: datetime,
    attempt: int = 1,
) -> None:
    def push() -> None:
        try:
            schedule_digest(context, staff_id, channel, at, attempt)
        except Exception:
            log.exception(
                "could not schedule the %s digest of %s; the sweep will", channel, staff_id
            )

    after_commit(session, push)


# --- 1. hold ----------------------------------------------------------------------------------


def hold_for_digest(
    session: Session,
    context: DeliveryContext,
    row: Notification,
    incident: Incident,
    decision: ThrottleDecision,
    *,
    name: str,
    now: datetime,
) -> None:
    """Keep the refused ``row`` as ``throttled`` until the digest, with a timeline entry, and
    schedule the digest (after the commit) for when the channel has room again."""
    channel = Channel(row.channel)
    label = _label(channel)
    due = decision.retry_at or now
    row.status = NotificationStatus.THROTTLED.value
    row.due_at = due
    row.error = f"Throttled: {decision.reason}"[:500]
    session.add(row)
    write_entries(
        session,
        incident.id,
        [
            timeline_entry(
                KIND_THROTTLED,
                now,
                f"{label} to {name} held: {decision.reason}",
                held_notification_id=str(row.id),
                retry_at=due.isoformat(),
                staff_id=str(row.staff_id),
                channel=channel.value,
            )
        ],
    )
    _schedule_after_commit(session, context, row.staff_id, channel, due)


# --- 2. digest --------------------------------------------------------------------------------


def _lock(session: Session, staff_id: uuid.UUID, channel: Channel) -> None:
    """One digest at a time per person and channel (until the transaction ends)."""
    session.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
        {"key": f"healthguard:notify:digest:{staff_id}:{channel.value}"},
    )


def _held_rows(session: Session, staff_id: uuid.UUID, channel: Channel) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(
                Notification.staff_id == staff_id,
                Notification.channel == channel.value,
                Notification.status == NotificationStatus.THROTTLED.value,
            )
            .order_by(col(Notification.created_at), col(Notification.id))
            .with_for_update()
        ).all()
    )


def _held(session: Session, row: Notification, incident: Incident | None) -> HeldMessage:
    if incident is None:
        return HeldMessage(row.id, row.incident_id, "P4", row.created_at, stop="it is gone")
    ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
    bed = session.get(Bed, incident.bed_id) if incident.bed_id else None
    return HeldMessage(
        notification_id=row.id,
        incident_id=incident.id,
        priority=incident.priority,
        held_at=row.created_at,
        ward=ward.name if ward else "",
        bed=bed.label if bed else None,
        trigger=_trigger(incident),
        number=incident.number,
        stop=stop_reason(session, incident, row),
    )


def send_digest(
    staff_id: uuid.UUID, channel: Channel | str, context: DeliveryContext, attempt: int = 1
) -> str:
    """The job: send one digest of everything held for ``staff_id`` on ``channel`` (see the
    module docstring). Returns what happened: "sent", "nothing", "skipped" (everything held
    was no longer needed), "early", "throttled" (scheduled again), "failed", "gave_up"."""
    channel = Channel(channel)
    with session_scope() as session:
        _lock(session, staff_id, channel)
        rows = _held_rows(session, staff_id, channel)
        if not rows:
            return "nothing"
        now = context.clock()
        first_due = min(r.due_at or now for r in rows)
        if first_due - now > EARLY_TOLERANCE:
            _schedule_after_commit(session, context, staff_id, channel, first_due, attempt)
            return "early"
        by_id = {r.id: r for r in rows}
        incidents = {i: session.get(Incident, i) for i in {r.incident_id for r in rows}}
        person = load_person(session, staff_id)
        held = [_held(session, r, incidents[r.incident_id]) for r in rows]
        if person is None:
            held = [replace(h, stop="the person is no longer on file") for h in held]
        plan = plan_digest(held)
        name = person.name if person else str(staff_id)
        label = _label(channel)
        _close_skipped(session, plan, by_id, label, name, now)
        if plan.empty or person is None:
            return "skipped"
        covered = [by_id[m.notification_id] for m in plan.covered]
        first = covered[0]
        decision, reserved = _throttle(context, first, channel, plan.priority, now)
        if not decision.allowed:
            again = decision.retry_at or now + timedelta(seconds=DIGEST_RETRY_SECONDS)
            for row in covered:
                row.due_at = again
                session.add(row)
            _schedule_after_commit(session, context, staff_id, channel, again, attempt)
            return "throttled"
        content = MessageContent(
            title=plan.title,
            body=plan.body,
            short_text=plan.short_text,
            spoken_text=plan.spoken_text,
        )
        try:
            result, _gone = _send(
                session, context, first, person, channel, content, None, plan.priority
            )
        except Exception:
            _release(context, reserved, first)
            raise
        done = context.clock()
        if result.ok:
            _mark_sent(
                session, plan, covered, result.status, result.provider_message_id, label, name, done
            )
            return "sent"
        _release(context, reserved, first)
        return _digest_failed(
            session, context, plan, covered, result.error or "failed", label, name, done, attempt
        )


def _close_skipped(
    session: Session,
    plan: DigestPlan,
    by_id: dict[uuid.UUID, Notification],
    label: str,
    name: str,
    now: datetime,
) -> None:
    told: set[uuid.UUID] = set()
    for message in plan.skipped:
        row = by_id[message.notification_id]
        why = message.stop or "no longer needed"
        row.status = NotificationStatus.CANCELLED.value
        row.error = f"Cancelled: {why} (before the digest)"[:500]
        session.add(row)
        if message.incident_id in told or message.stop == "it is gone":
            continue
        told.add(message.incident_id)
        write_entries(
            session,
            message.incident_id,
            [
                timeline_entry(
                    KIND_CANCELLED,
                    now,
                    f"{label} to {name} not sent in the digest: {why}",
                    cancelled_notification_id=str(row.id),
                    staff_id=str(row.staff_id),
                    channel=row.channel,
                )
            ],
        )


def _mark_sent(
    session: Session,
    plan: DigestPlan,
    covered: list[Notification],
    status: NotificationStatus,
    provider_message_id: str | None,
    label: str,
    name: str,
    done: datetime,
) -> None:
    for n, row in enumerate(covered):
        row.status = status.value
        row.sent_at = done
        if status is NotificationStatus.DELIVERED:
            row.delivered_at = done
        # Delivery receipts find one notification by the provider's id: the first carries it.
        row.provider_message_id = (provider_message_id or "")[:200] or None
        if n > 0:
            row.provider_message_id = None
        row.error = None
        session.add(row)
    ids = [str(r.id) for r in covered]
    for message in plan.included:
        write_entries(
            session,
            message.incident_id,
            [
                timeline_entry(
                    KIND_DIGEST_SENT,
                    done,
                    f"{label} digest sent to {name}: {plan.title}",
                    notification_ids=ids,
                    included=len(plan.included),
                    skipped=len(plan.skipped),
                    staff_id=str(covered[0].staff_id),
                    channel=covered[0].channel,
                )
            ],
        )


def _digest_failed(
    session: Session,
    context: DeliveryContext,
    plan: DigestPlan,
    covered: list[Notification],
    error: str,
    label: str,
    name: str,
    done: datetime,
    attempt: int,
) -> str:
    last = attempt >= DIGEST_ATTEMPTS
    again = done + timedelta(seconds=DIGEST_RETRY_SECONDS * attempt)
    for row in covered:
        if last:
            row.status = NotificationStatus.FAILED.value
            row.failed_at = done
        else:
            row.due_at = again
        row.error = f"Digest failed: {error}"[:2000]
        session.add(row)
    if last:
        text = (
            f"{label} digest to {name} failed {attempt} times: {error[:200]}; the in-app "
            "notification carried it"
        )
    else:
        text = f"{label} digest to {name} failed: {error[:200]}; trying again at {_clock(again)}"
        _schedule_after_commit(
            session, context, covered[0].staff_id, Channel(covered[0].channel), again, attempt + 1
        )
    for message in plan.included:
        write_entries(
            session,
            message.incident_id,
            [
                timeline_entry(
                    KIND_DIGEST_FAILED,
                    done,
                    text,
                    notification_ids=[str(r.id) for r in covered],
                    attempt=attempt,
                    staff_id=str(covered[0].staff_id),
                    channel=covered[0].channel,
                )
            ],
        )
    return "gave_up" if last else "failed"
