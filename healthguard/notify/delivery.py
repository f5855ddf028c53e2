"""Delivering one queued notification: the adapter between a ``Notification`` row and a channel.

``deliver_notification(notification_id, context)`` is what the RQ job
``workers.notify.deliver`` runs. In one transaction, holding the row lock
(``SELECT ... FOR UPDATE SKIP LOCKED``: a second copy of the job finds it locked or no longer
queued and does nothing, so the job is idempotent):

1. nothing to do unless the row is still ``queued``; a row run early (before ``due_at``) is
   put back on the scheduler;
2. **stop rule**: the incident was acknowledged (reminders excepted), resolved or closed, or
   the person already answered: ``cancelled``, with the reason on the timeline;
3. **throttle** (``throttle.check``): the send times of each person and channel are kept in a
   Redis sorted set (``healthguard:notify:sent:<staff id>:<channel>``, score = unix time,
   trimmed to the longest window), read and reserved under a short Redis lock, so two
   workers cannot both take the last slot. P0/P1 are never held (their sends still count).
   A refused send is held: ``throttled`` with the throttle's reason and a timeline entry,
   and sent in one digest of everything held for that person and channel when the window
   has room again (``healthguard.notify.digests``); the in-app notification carries it
   meanwhile. When Redis cannot be read the send goes ahead (fail open: an alarm is never
   dropped because the throttle's store is down);
4. **compose** (``message.compose``) from ``IncidentFacts``: priority, ward name, bed label,
   the patient's initials only, the incident title (and summary) as the trigger, the
   incident number, its SMS reply code (``sms_reply.incident_code``) and, for channels with
   room for links (email, push), signed single-use answer links
   ``{settings.url}/answer?token=<tokens.issue(...)>`` valid ``answer_link_minutes``;
5. **send** through the channel registry (one per process); push goes to every
   subscription of the person (sent when one took it; a subscription the push service
   says is gone (404/410) is deleted);
6. **record**: ``sent`` / ``delivered`` with ``sent_at`` and ``provider_message_id``, and a
   timeline entry ("SMS sent to Sister Jones"); on failure ``failed`` with the error, then
   ``retry.next_step``: RETRY inserts the next attempt (``attempt + 1``) due after the
   backoff; FALL_BACK inserts (or brings forward) a row on the next channel of the person's
   plan, due now; GIVE_UP writes an alarm note (in-app only, the escalation moves on). New
   rows are enqueued after the commit. Every outcome and its timeline entry commit together.
   ``handle_failure`` does this part; a failure the provider reports later (a delivery
   receipt, ``healthguard.notify.receipts_service``) goes through the same function.

Keys derived from ``settings.secret_key`` (never the key itself), so a leaked derived key
does not reveal the others: ``derive_key(label) = HMAC-SHA256(key=secret_key (UTF-8),
msg=label)``, 32 bytes (one block of HKDF-Expand with the secret key as PRK and the label as
info):

- answer links: ``ANSWER_LINK_LABEL`` = ``b"healthguard/notify/answer-link/v1"``
  (``answer_link_secret``; the answer page verifies with the same function);
- SMS reply codes: ``SMS_CODE_LABEL`` = ``b"healthguard/notify/sms-code/v1"``: the first
  candidate of an incident's code (``incident_short_code``). Codes are stored per person
  and incident (``healthguard.notify.reply_codes.allocate``, called by
  ``incident_facts`` with the recipient): a person's live codes never clash, since the
  allocation steps past the codes of the person's other open incidents under a per-person
  lock (a partial unique index enforces it too).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import redis
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import after_commit, session_scope
from healthguard.incidents.lifecycle import TimelineEntry
from healthguard.incidents.timeline import write_entries
from healthguard.models.hospital import Bed, Ward
from healthguard.models.incidents import DONE_STATUSES, Incident, IncidentStatus
from healthguard.models.notifications import Channel, Notification, NotificationStatus
from healthguard.models.oncall import PushSubscription
from healthguard.models.patients import Patient
from healthguard.notify import reply_codes
from healthguard.notify.channels.base import AnswerLinks as ChannelLinks
from healthguard.notify.channels.base import DeliveryResult, Priority, compose_message
from healthguard.notify.channels.registry import ChannelRegistry
from healthguard.notify.contacts import PersonContacts, address_for, load_person, push_address
from healthguard.notify.message import AnswerLinks, IncidentFacts, MessageContent, compose
from healthguard.notify.reply_codes import hmac_chooser
from healthguard.notify.retry import (
    RETRY_POLICIES,
    DeliveryFailure,
    FailureKind,
    RetryAction,
    RetryDecision,
    RetryPolicy,
    next_step,
)
from healthguard.notify.rules import CHANNEL_LABELS, ContactMethods, plan_deliveries
from healthguard.notify.service import ACTOR, delivery_job_id, enqueue_delivery, is_reminder
from healthguard.notify.sms_reply import incident_code
from healthguard.notify.throttle import DEFAULT_LIMITS, ThrottleDecision, ThrottleLimit, check
from healthguard.notify.tokens import AnswerAction, issue
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.settings import Settings, get_settings

__all__ = [
    "ANSWER_LINK_LABEL",
    "LINK_CHANNELS",
    "SMS_CODE_LABEL",
    "DeliveryContext",
    "Job",
    "Outcome",
    "answer_link_secret",
    "answer_links",
    "deliver_notification",
    "derive_key",
    "enqueue_after_commit",
    "handle_failure",
    "incident_facts",
    "incident_short_code",
    "sends_key",
    "stop_reason",
    "timeline_entry",
]

log = logging.getLogger(__name__)

ANSWER_LINK_LABEL = b"healthguard/notify/answer-link/v1"
SMS_CODE_LABEL = b"healthguard/notify/sms-code/v1"
#: Channels whose messages carry answer links (SMS and pager answer by reply code; the app
#: has its own buttons).
LINK_CHANNELS: frozenset[Channel] = frozenset({Channel.EMAIL, Channel.PUSH})
#: A job that runs more than this before ``due_at`` is put back on the scheduler (timed jobs
#: are precise to the millisecond, ``workers.queues.schedule_jobs``; this covers clock skew).
EARLY_TOLERANCE = timedelta(milliseconds=100)
THROTTLE_LOCK_SECONDS = 10

KIND_SENT = "notification.sent"
KIND_DELIVERED = "notification.delivered"
KIND_FAILED = "notification.failed"
KIND_CANCELLED = "notification.cancelled"
KIND_THROTTLED = "notification.throttled"
KIND_GAVE_UP = "notification.gave_up"


#: A delivery job to enqueue after the commit: (notification id, due at, job id or None).
Job = tuple[uuid.UUID, datetime | None, str | None]


class Outcome(StrEnum):
    NOTHING = "nothing"  # not queued (done, cancelled, gone) or being handled by another job
    EARLY = "early"  # run before its due time: rescheduled
    CANCELLED = "cancelled"  # the stop rule
    THROTTLED = "throttled"
    SENT = "sent"
    FAILED = "failed"  # then retried, fallen back or given up (see the timeline)


def derive_key(secret_key: str, label: bytes) -> bytes:
    """HMAC-SHA256(secret_key, label): a 32-byte key for one purpose (module docstring)."""
    return hmac.new(secret_key.encode("utf-8"), label, hashlib.sha256).digest()


def answer_link_secret(settings: Settings | None = None) -> bytes:
    """The key that signs and verifies answer links."""
    return derive_key((settings or get_settings()).secret("secret_key"), ANSWER_LINK_LABEL)


def incident_short_code(incident_id: uuid.UUID, settings: Settings | None = None) -> str:
    """The first candidate of the incident's SMS reply code (4 digits, the same in every
    process). A person's actual code is ``reply_codes.reply_code`` (it steps past their
    other live codes); this is what a message composed for nobody in particular shows."""
    secret = derive_key((settings or get_settings()).secret("secret_key"), SMS_CODE_LABEL)
    return incident_code(secret, incident_id)


def sends_key(staff_id: uuid.UUID, channel: Channel) -> str:
    """The Redis sorted set of the send times of one person on one channel."""
    return f"healthguard:notify:sent:{staff_id}:{channel.value}"


@dataclass
class DeliveryContext:
    """What a delivery needs besides the database: built once per worker process."""

    registry: ChannelRegistry
    redis: redis.Redis
    settings: Settings = field(default_factory=get_settings)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    rand: Callable[[], float] = field(default_factory=lambda: random.Random().random)
    policies: Mapping[str, RetryPolicy] = field(default_factory=lambda: RETRY_POLICIES)
    limits: Mapping[Channel, ThrottleLimit | None] = field(default_factory=lambda: DEFAULT_LIMITS)
    enqueue: Callable[[uuid.UUID, datetime | None, datetime, str | None], None] = enqueue_delivery


# --- facts and links --------------------------------------------------------------------------


def _initials(session: Session, patient_id: uuid.UUID | None) -> str | None:
    """The patient's initials (decrypted here, reduced to initials by ``compose``)."""
    if patient_id is None:
        return None
    patient = session.get(Patient, patient_id)
    if patient is None:
        return None
    try:
        from healthguard.patients.phi import decrypt_field, keyring_from_settings

        keyring = keyring_from_settings()
        given = decrypt_field(keyring, patient_id, "given_name", patient.given_name_enc)
        family = decrypt_field(keyring, patient_id, "family_name", patient.family_name_enc)
    except Exception as exc:  # no initials rather than no notification
        log.warning("notify: patient initials unavailable for %s: %s", patient_id, type(exc))
        return None
    return f"{given} {family}"


def _trigger(incident: Incident) -> str:
    title = incident.title.strip()
    summary = " ".join(incident.summary.split())
    if summary and summary.lower() not in title.lower():
        return f"{title}: {summary}" if title else summary
    return title or "Incident"


def answer_links(
    settings: Settings, incident_id: uuid.UUID, staff_id: uuid.UUID, priority: str, now: datetime
) -> AnswerLinks:
    """Signed single-use links for acknowledge, escalate and decline."""
    secret = answer_link_secret(settings)
    ttl = timedelta(minutes=settings.answer_link_minutes)
    base = settings.url.rstrip("/")

    def link(action: AnswerAction) -> str:
        return f"{base}/answer?token={issue(secret, incident_id, staff_id, action, now, ttl)}"

    return AnswerLinks(
        acknowledge=link(AnswerAction.ACKNOWLEDGE),
        escalate=link(AnswerAction.ESCALATE),
        decline=link(AnswerAction.DECLINE),
    )


def incident_facts(
    session: Session,
    incident: Incident,
    settings: Settings,
    links: AnswerLinks | None = None,
    *,
    staff_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> IncidentFacts:
    """What a notification may say about ``incident`` (initials only, no name, no MRN).
    ``staff_id``: the recipient, whose own reply code the message carries
    (``reply_codes.allocate``: on first use, in its own short transaction); without it, the
    incident's first candidate code."""
    if staff_id is not None:
        secret = derive_key(settings.secret("secret_key"), SMS_CODE_LABEL)
        code = reply_codes.allocate(staff_id, incident.id, now=now, chooser=hmac_chooser(secret))
    else:
        code = incident_short_code(incident.id, settings)
    ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
    bed = session.get(Bed, incident.bed_id) if incident.bed_id else None
    return IncidentFacts(
        priority=incident.priority,
        ward=ward.name if ward else "",
        trigger=_trigger(incident),
        code=code,
        opened_at=incident.opened_at,
        bed=bed.label if bed else None,
        patient_initials=_initials(session, incident.patient_id),
        number=incident.number,
        links=links,
    )


# --- helpers ------------------------------------------------------------------------------------


def _label(channel: Channel) -> str:
    return CHANNEL_LABELS[channel]


def timeline_entry(kind: str, at: datetime, message: str, **data: Any) -> TimelineEntry:
    return TimelineEntry(kind=kind, actor=ACTOR, at=at, message=message, data=data)


def stop_reason(session: Session, incident: Incident, row: Notification) -> str | None:
    """Why this notification is no longer needed, or None. An answer counts when it came
    after this notification was planned (an answer in an earlier round does not stop a new
    one)."""
    if incident.status in DONE_STATUSES:
        return f"the incident was {incident.status}"
    reminder = is_reminder(row)
    if not reminder and incident.status != IncidentStatus.TRIGGERED.value:
        return "the incident was acknowledged"
    answered = session.exec(
        select(Notification.id).where(
            Notification.incident_id == incident.id,
            Notification.staff_id == row.staff_id,
            col(Notification.answered_at).is_not(None),
            col(Notification.answered_at) >= row.created_at,
        )
    ).first()
    if answered is not None and not reminder:
        return "the person answered"
    return None


def _throttle(
    context: DeliveryContext, row: Notification, channel: Channel, priority: str, now: datetime
) -> tuple[ThrottleDecision, str | None]:
    """Check the throttle and, when allowed, reserve the send (the member is the row id);
    returns the decision and the reserved key (None: nothing reserved)."""
    limit = context.limits.get(channel)
    if limit is None:
        return check(channel, priority, (), now, limits=context.limits), None
    key = sends_key(row.staff_id, channel)
    window = max(
        (lim.window for lim in context.limits.values() if lim is not None), default=limit.window
    )
    try:
        with context.redis.lock(
            f"{key}:lock", timeout=THROTTLE_LOCK_SECONDS, blocking_timeout=THROTTLE_LOCK_SECONDS
        ):
            floor = (now - window).timestamp()
            context.redis.zremrangebyscore(key, "-inf", f"({floor}")
            scores = cast(
                list[tuple[bytes, float]],
                context.redis.zrangebyscore(key, floor, "+inf", withscores=True),
            )
            times = [datetime.fromtimestamp(float(score), UTC) for _, score in scores]
            decision = check(channel, priority, times, now, limits=context.limits)
            if decision.allowed:
                context.redis.zadd(key, {str(row.id): now.timestamp()})
                context.redis.expire(key, int(window.total_seconds()) + 60)
                return decision, key
            return decision, None
    except redis.RedisError as exc:
        log.warning("notify: throttle store unavailable (%s): sending %s anyway", exc, row.id)
        reason = f"throttle not checked (Redis unavailable: {type(exc).__name__}); sent anyway"
        return ThrottleDecision(True, None, reason), None


def _release(context: DeliveryContext, key: str | None, row: Notification) -> None:
    if key is None:
        return
    try:
        context.redis.zrem(key, str(row.id))
    except redis.RedisError:
        log.warning("notify: could not release the throttle slot of %s", row.id)


def _send(
    session: Session,
    context: DeliveryContext,
    row: Notification,
    person: PersonContacts,
    channel: Channel,
    content: MessageContent,
    links: AnswerLinks | None,
    priority: str,
) -> tuple[DeliveryResult, list[str]]:
    """Send on ``channel``; push goes to each subscription. Returns the result and the
    endpoints of the push subscriptions deleted (gone)."""
    channel_links = (
        ChannelLinks(ack=links.acknowledge, escalate=links.escalate, decline=links.decline)
        if links
        else None
    )

    def message(address: Any) -> Any:
        return compose_message(
            notification_id=row.id,
            incident_id=row.incident_id,
            staff_id=row.staff_id,
            priority=cast(Priority, priority),
            title=content.title,
            body=content.body,
            address=address,
            links=channel_links,
            short_text=content.short_text,
            spoken_text=content.spoken_text,
        )

    if channel is not Channel.PUSH:
        address = address_for(person, channel)
        if address is None:
            return (
                DeliveryResult.failed(
                    f"{_label(channel)}: no address on file for this person any more",
                    retryable=False,
                    permanent_address_problem=True,
                ),
                [],
            )
        return context.registry.send(channel, message(address)), []
    if not person.push_subscriptions:
        return (
            DeliveryResult.failed(
                "Push: no push subscription on file any more",
                retryable=False,
                permanent_address_problem=True,
            ),
            [],
        )
    results: list[DeliveryResult] = []
    gone: list[str] = []
    for sub in person.push_subscriptions:
        result = context.registry.send(channel, message(push_address(sub)))
        results.append(result)
        if not result.ok and result.permanent_address_problem:
            gone.append(sub.endpoint)
            session.execute(sa.delete(PushSubscription).where(col(PushSubscription.id) == sub.id))
    ok = [r for r in results if r.ok]
    if ok:
        return ok[0], gone
    errors = "; ".join(dict.fromkeys(r.error or "failed" for r in results))
    return (
        DeliveryResult.failed(
            errors,
            retryable=any(r.retryable for r in results),
            permanent_address_problem=all(r.permanent_address_problem for r in results),
        ),
        gone,
    )


def _insert_row(
    session: Session,
    template: Notification,
    *,
    channel: Channel,
    attempt: int,
    due_at: datetime,
    reason: str,
    now: datetime,
) -> uuid.UUID | None:
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    table = Notification.__table__  # type: ignore[attr-defined]
    new_id = uuid.uuid4()
    stmt = (
        pg_insert(table)
        .values(
            id=new_id,
            incident_id=template.incident_id,
            staff_id=template.staff_id,
            channel=channel.value,
            status=NotificationStatus.QUEUED.value,
            attempt=attempt,
            created_at=now,
            escalation_key=template.escalation_key,
            due_at=due_at,
            reason=reason[:500],
        )
        .on_conflict_do_nothing(index_elements=["escalation_key", "staff_id", "channel", "attempt"])
        .returning(table.c.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def _same_key_rows(session: Session, row: Notification, channel: Channel) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(
                Notification.escalation_key == row.escalation_key,
                Notification.staff_id == row.staff_id,
                Notification.channel == channel.value,
            )
            .order_by(col(Notification.attempt))
        ).all()
    )


def _fall_back(
    session: Session, row: Notification, decision: RetryDecision, now: datetime
) -> tuple[uuid.UUID | None, str]:
    """Queue the fallback channel now: bring a queued row of that channel forward, or insert
    the next attempt. Returns (the row to enqueue or None, a note for the timeline)."""
    assert decision.channel is not None
    channel = decision.channel
    existing = _same_key_rows(session, row, channel)
    queued = [r for r in existing if r.status == NotificationStatus.QUEUED.value]
    if queued:
        first = min(queued, key=lambda r: r.due_at or now)
        if first.due_at is None or first.due_at > now:
            first.due_at = now
            session.add(first)
        return first.id, f" (the planned {_label(channel)} brought forward)"
    attempt = max((r.attempt for r in existing), default=0) + 1
    reason = f"fallback from {_label(Channel(row.channel))}: {row.reason}"
    new_id = _insert_row(
        session, row, channel=channel, attempt=attempt, due_at=now, reason=reason, now=now
    )
    return new_id, ""


def _tried(session: Session, row: Notification) -> set[Channel]:
    failed = session.exec(
        select(Notification.channel).where(
            Notification.escalation_key == row.escalation_key,
            Notification.staff_id == row.staff_id,
            Notification.status == NotificationStatus.FAILED.value,
        )
    ).all()
    return {Channel(c) for c in failed}


def _available(
    context: DeliveryContext,
    person: PersonContacts,
    gone: Collection[str],
    priority: str,
    now: datetime,
) -> tuple[Channel, ...]:
    """The person's planned channels now (their rule, contacts and quiet hours), minus the
    push subscriptions just removed and the channels this installation cannot use."""
    contacts = ContactMethods(
        phone=person.contacts.phone,
        email=person.contacts.email,
        pager_id=person.contacts.pager_id,
        push_subscriptions=tuple(s for s in person.contacts.push_subscriptions if s not in gone),
    )
    plan = plan_deliveries(person.rules, contacts, priority, now, person.time_zone)
    usable = context.registry.available
    return tuple(c for c in plan.channels if c in usable)


# --- the job --------------------------------------------------------------------------------


def _lock_row(session: Session, notification_id: uuid.UUID) -> Notification | None:
    return session.exec(
        select(Notification)
        .where(Notification.id == notification_id)
        .with_for_update(skip_locked=True)
    ).first()


#: Outcomes that change what the person's bell and "my alarms" list show.
SHOWN_OUTCOMES = frozenset({Outcome.SENT, Outcome.FAILED, Outcome.CANCELLED})


def deliver_notification(notification_id: uuid.UUID, context: DeliveryContext) -> Outcome:
    """Deliver one notification (see the module docstring). Idempotent."""
    enqueue: list[Job] = []
    with session_scope() as session:
        outcome = _deliver(session, notification_id, context, enqueue)
        enqueue_after_commit(session, context, enqueue)
        if outcome in SHOWN_OUTCOMES:
            row = session.get(Notification, notification_id)
            if row is not None:
                tell_screens_after_commit(session, context, row.staff_id, outcome)
    return outcome


def tell_screens_after_commit(
    session: Session, context: DeliveryContext, staff_id: uuid.UUID, outcome: Outcome
) -> None:
    """Once the outcome is committed, publish ``notification.<outcome>`` for the person, so
    their screens reload it. The in-app channel's own event goes out while the delivery's
    transaction is still open: a screen reloading on it alone could read the notification
    as not yet sent and keep the bell at its old count (seen in the e2e suite)."""
    event = ChangeEvent(kind=f"notification.{outcome.value}", entity_id=str(staff_id))
    after_commit(session, lambda: publish_change(context.redis, event))


def enqueue_after_commit(session: Session, context: DeliveryContext, jobs: list[Job]) -> None:
    """Put the delivery jobs of ``jobs`` on the queue once ``session`` commits (a job that
    cannot be enqueued is logged; the sweep of overdue notifications runs it later)."""
    if not jobs:
        return
    started = context.clock()
    items = list(jobs)

    def push_jobs() -> None:
        for new_id, due_at, job_id in items:
            try:
                context.enqueue(new_id, due_at, started, job_id)
            except Exception:
                log.exception("could not enqueue notification %s; the sweep will", new_id)

    after_commit(session, push_jobs)


def _deliver(
    session: Session,
    notification_id: uuid.UUID,
    context: DeliveryContext,
    enqueue: list[Job],
) -> Outcome:
    row = _lock_row(session, notification_id)
    if row is None or row.status != NotificationStatus.QUEUED.value:
        return Outcome.NOTHING
    now = context.clock()
    if row.due_at is not None and row.due_at - now > EARLY_TOLERANCE:
        # Another job id: this one is running (its id would be clobbered).
        enqueue.append(
            (row.id, row.due_at, f"{delivery_job_id(row.id)}-at-{row.due_at.timestamp():.3f}")
        )
        return Outcome.EARLY
    incident = session.get(Incident, row.incident_id)
    channel = Channel(row.channel)
    label = _label(channel)
    person = load_person(session, row.staff_id)
    name = person.name if person else str(row.staff_id)
    ids = {"staff_id": str(row.staff_id), "channel": channel.value}

    stop = stop_reason(session, incident, row) if incident is not None else "it is gone"
    if stop is not None or incident is None or person is None:
        why = stop or "the person is no longer on file"
        row.status = NotificationStatus.CANCELLED.value
        row.error = f"Cancelled: {why}"[:500]
        session.add(row)
        if incident is not None:
            write_entries(
                session,
                incident.id,
                [
                    timeline_entry(
                        KIND_CANCELLED,
                        now,
                        f"{label} to {name} not sent: {why}",
                        cancelled_notification_id=str(row.id),
                        **ids,
                    )
                ],
            )
        return Outcome.CANCELLED

    priority = incident.priority
    decision, reserved = _throttle(context, row, channel, priority, now)
    if not decision.allowed:
        # Nothing accepted is lost: held, then sent in one digest (healthguard.notify.digests).
        from healthguard.notify.digests import hold_for_digest

        hold_for_digest(session, context, row, incident, decision, name=name, now=now)
        return Outcome.THROTTLED

    links = (
        answer_links(context.settings, incident.id, row.staff_id, priority, now)
        if channel in LINK_CHANNELS
        else None
    )
    facts = incident_facts(
        session, incident, context.settings, links, staff_id=row.staff_id, now=now
    )
    content = compose(facts, now)
    try:
        result, gone = _send(session, context, row, person, channel, content, links, priority)
    except Exception:
        _release(context, reserved, row)
        raise
    done = context.clock()
    if result.ok:
        row.status = result.status.value
        row.sent_at = done
        if result.status is NotificationStatus.DELIVERED:
            row.delivered_at = done
        row.provider_message_id = (result.provider_message_id or "")[:200] or None
        row.error = None
        session.add(row)
        verb = "delivered" if result.status is NotificationStatus.DELIVERED else "sent"
        message = f"{label} {verb} to {name}"
        if gone:
            message += f" ({len(gone)} expired push subscription(s) removed)"
        write_entries(
            session,
            incident.id,
            [
                timeline_entry(
                    KIND_DELIVERED if verb == "delivered" else KIND_SENT,
                    done,
                    message,
                    notification_id=str(row.id),
                    attempt=row.attempt,
                    provider_message_id=row.provider_message_id,
                    throttle=decision.reason,
                    **ids,
                )
            ],
        )
        return Outcome.SENT

    _release(context, reserved, row)
    error = result.error or "failed"
    row.status = NotificationStatus.FAILED.value
    row.failed_at = done
    row.error = error[:2000]
    session.add(row)
    handle_failure(
        session,
        context,
        row,
        incident_id=incident.id,
        priority=priority,
        person=person,
        error=error,
        retryable=result.retryable,
        now=done,
        enqueue=enqueue,
        gone=gone,
    )
    return Outcome.FAILED


def handle_failure(
    session: Session,
    context: DeliveryContext,
    row: Notification,
    *,
    incident_id: uuid.UUID,
    priority: str,
    person: PersonContacts | None,
    error: str,
    retryable: bool,
    now: datetime,
    enqueue: list[Job],
    gone: Collection[str] = (),
    headline: str | None = None,
) -> RetryDecision:
    """After ``row`` failed (already marked ``failed`` by the caller): ``retry.next_step``
    and what it says (RETRY inserts the next attempt due after the backoff; FALL_BACK
    inserts or brings forward the next channel of the person's plan, due now; GIVE_UP is an
    alarm note), with one timeline entry, in the caller's transaction. New rows go to
    ``enqueue`` (the caller pushes them after the commit: ``enqueue_after_commit``).

    Used by a failed send (``deliver_notification``) and by a failure reported later by the
    provider (``healthguard.notify.receipts_service``), whose ``headline`` ("SMS to Dr Patel
    failed: handset unreachable") starts the timeline entry."""
    channel = Channel(row.channel)
    label = _label(channel)
    name = person.name if person else str(row.staff_id)
    ids = {"staff_id": str(row.staff_id), "channel": channel.value}
    kind = FailureKind.TRANSIENT if retryable else FailureKind.PERMANENT
    available = _available(context, person, gone, priority, now) if person is not None else ()
    step = next_step(
        channel=channel,
        attempt=row.attempt,
        failure=DeliveryFailure(kind, error[:200]),
        priority=priority,
        now=now,
        rand=context.rand,
        available=available,
        tried=_tried(session, row) - {channel},
        policies=context.policies,
    )
    note = ""
    if gone:
        note = f" Push subscription removed: the push service said it is gone ({len(gone)})."
    data: dict[str, Any] = {
        "notification_id": str(row.id),
        "attempt": row.attempt,
        "error": error[:300],
        "action": step.action.value,
        **ids,
    }
    kind_text = KIND_FAILED
    if step.action is RetryAction.RETRY:
        assert step.at is not None
        new_id = _insert_row(
            session,
            row,
            channel=channel,
            attempt=step.attempt,
            due_at=step.at,
            reason=row.reason,
            now=now,
        )
        if new_id is not None:
            enqueue.append((new_id, step.at, None))
            data.update(next_notification_id=str(new_id), retry_at=step.at.isoformat())
    elif step.action is RetryAction.FALL_BACK:
        assert step.channel is not None
        target, extra = _fall_back(session, row, step, now)
        note = extra + note
        if target is not None:
            # A row brought forward still has its timed job: run it under another id.
            enqueue.append((target, now, f"{delivery_job_id(target)}-fallback-{row.id}"))
            data.update(next_notification_id=str(target), fallback_channel=step.channel.value)
    else:
        kind_text = KIND_GAVE_UP
        data["alarm"] = True
    lead = f"{headline}. " if headline else f"{label} to {name}: "
    message = f"{lead}{step.reason}{note}"
    write_entries(session, incident_id, [timeline_entry(kind_text, now, message, **data)])
    return step
