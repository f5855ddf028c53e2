"""Periodic jobs of the on-call roster (scheduled by ``workers.run``, ``ONCALL_PERIODIC``):

- ``materialize_shifts`` (every 10 min): re-derive every schedule's running and future
  shifts (``settings.shifts_ahead_days`` ahead) from its layers and overrides;
- ``reset_availability`` (every minute): the automatic availability changes (``until``
  passed, shift ended -> off, shift started -> available; ``healthguard.oncall.availability``)
  since the last run, then the Redis mirror rewritten from Postgres;
- ``shift_handoffs`` (every minute): open incidents whose assignee's shift has ended go to the
  incoming person on the same ward and role (``assign_service.assign_incident`` ranks who),
  with a timeline entry "Handed over at shift change from X to Y";
- ``certification_reminders`` (daily): BLS, ACLS, PALS and critical-care certificates
  expiring within 30 days (or expired within 30 days) remind their holder at 30, 14, 7, 1
  days and on the day, and their ward's charge nurse(s) from 7 days and once expired, each
  once (``healthguard.oncall.cert_reminders`` decides); by e-mail, else through the Apprise
  transport; a log line and an audit row per certificate reminded;
- ``gap_report`` (hourly): the coverage gaps of the next 7 days, cached in Redis for the UI.

Every job re-reads Postgres and is safe to run twice; ``now`` is injectable (tests drive the
clock). Redis keys written here:

- ``healthguard:availability:reset_at``: ISO time of the last availability reset (the next
  run looks at shifts that ended or started since; at most ``RESET_MAX_LOOKBACK`` back);
- ``healthguard:oncall:gaps``: the gap report, JSON, expires after ``GAPS_TTL_SECONDS``::

      {"generated_at": "...", "from": "...", "to": "...", "count": 1,
       "gaps": [{"ward_id": "...", "ward": "ICU", "ward_name": "Intensive Care Unit",
                 "role": "nurse", "skill": "ACLS", "minimum": 1, "on_call": 0, "missing": 1,
                 "start": "...", "end": "...",
                 "message": "ICU has no ACLS-certified nurse from 3 Dec 19:00 to 4 Dec 07:00"}]}

  (times ISO 8601 UTC; gaps sorted by start, then ward and role);
- ``healthguard:oncall:certification-reminder:<record id>:<expiry>:<recipient id>:<stage>``:
  that reminder was sent (or had no channel); kept until the certificate is past its last
  stage. Claimed with ``SET NX`` before sending, so two runs never send it twice; released
  after a retryable failure so that the next run tries again.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.models import Incident, IncidentEvent, Shift, Staff, StaffSkill, Ward
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.models.staff import StaffRole, StaffWardCover
from healthguard.notify.channels.apprise_channel import BROADCAST
from healthguard.notify.channels.base import (
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    Priority,
    compose_message,
)
from healthguard.notify.channels.registry import APPRISE, ChannelRegistry
from healthguard.oncall import availability, cert_reminders, roster
from healthguard.oncall.assign_service import assign_incident
from healthguard.oncall.cert_reminders import Certificate, Person, Reminder
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.security.audit import AuditAction, record_audit
from healthguard.settings import get_settings
from workers.queues import redis_connection

log = logging.getLogger(__name__)

SYSTEM = "system"
RESET_MARK_KEY = "healthguard:availability:reset_at"
RESET_DEFAULT_LOOKBACK = timedelta(minutes=15)  # first run, or the mark is unreadable
RESET_MAX_LOOKBACK = timedelta(hours=24)  # after a long outage, not further back
GAPS_KEY = "healthguard:oncall:gaps"
GAPS_DAYS = 7
GAPS_TTL_SECONDS = 3 * 3600
REMINDER_KEY = "healthguard:oncall:certification-reminder:{key}"
REMINDER_DAYS = cert_reminders.REMINDER_DAYS
#: A reminder is about no incident. ``OutgoingMessage`` requires an incident id, so it
#: carries the nil UUID, which no incident has (no incident is created for a reminder).
NO_INCIDENT = uuid.UUID(int=0)
#: Namespace of the reminders' notification ids (uuid5 of the reminder key: a retried
#: reminder keeps its id, so its e-mail keeps its Message-ID).
REMINDER_NAMESPACE = uuid.UUID("6f1c1d6e-3f0b-5a55-9d7e-2b8f0c4e7a11")
REMINDER_PRIORITY: Priority = "P4"
HANDOFF_LOOKBACK = timedelta(hours=12)  # a shift that ended longer ago is not handed over
HANDOVER = "handover"


# --- shifts ---------------------------------------------------------------------------------


def materialize_shifts(now: datetime | None = None) -> int:
    """Re-derive every schedule's shifts; the shifts written."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        written = roster.materialize_shifts(session, now=now)
    log.info("materialised %d shift(s) from the schedules", written)
    return written


# --- availability ---------------------------------------------------------------------------


def _reset_since(client: redis.Redis, now: datetime) -> datetime:
    try:
        raw: Any = client.get(RESET_MARK_KEY)
        since = datetime.fromisoformat(raw.decode()) if raw else now - RESET_DEFAULT_LOOKBACK
    except (redis.RedisError, ValueError, AttributeError) as exc:
        log.warning("availability reset mark unreadable (%s); looking back 15 minutes", exc)
        since = now - RESET_DEFAULT_LOOKBACK
    return min(max(since, now - RESET_MAX_LOOKBACK), now)


def reset_availability(now: datetime | None = None) -> dict[str, int]:
    """The automatic availability changes since the last run; then the Redis mirror
    rewritten from Postgres. The count of changes and of people cached."""
    now = now or datetime.now(UTC)
    client = redis_connection()
    since = _reset_since(client, now)
    with session_scope() as session:
        changes = availability.reset_expired(session, now=now, since=since, client=client)
    cached = 0
    try:
        client.set(RESET_MARK_KEY, now.isoformat())
        with session_scope() as session:
            cached = availability.sync_cache(session, client)
    except redis.RedisError as exc:
        log.warning("availability cache not refreshed: %s", exc)
    for change in changes:
        log.info(
            "availability of %s: %s -> %s (%s)",
            change.staff_id,
            change.before,
            change.after,
            change.rule,
        )
    return {"changed": len(changes), "cached": cached}


# --- shift handoffs -------------------------------------------------------------------------


def _ended_shift(
    session: Session, incident: Incident, staff_id: uuid.UUID, now: datetime
) -> Shift | None:
    """The assignee's shift that ended (within HANDOFF_LOOKBACK, after the incident opened),
    on the incident's ward first; None when they are on shift now or none ended."""
    on_shift = session.exec(
        select(Shift.id).where(
            Shift.staff_id == staff_id, col(Shift.starts_at) <= now, col(Shift.ends_at) > now
        )
    ).first()
    if on_shift is not None:
        return None
    ended = session.exec(
        select(Shift)
        .where(
            Shift.staff_id == staff_id,
            col(Shift.ends_at) <= now,
            col(Shift.ends_at) > max(now - HANDOFF_LOOKBACK, incident.opened_at),
        )
        .order_by(col(Shift.ends_at).desc())
    ).all()
    same_ward = [s for s in ended if s.ward_id == incident.ward_id]
    choice = same_ward or list(ended)
    return choice[0] if choice else None


def _incoming(session: Session, ended: Shift, leaving: Staff, now: datetime) -> list[uuid.UUID]:
    """Who is on shift now on the ended shift's ward (or hospital-wide for a hospital-wide
    shift) in the same role."""
    role = ended.role or leaving.role
    ward = col(Shift.ward_id).is_(None) if ended.ward_id is None else Shift.ward_id == ended.ward_id
    rows = session.exec(
        select(Shift.staff_id, Shift.role, Staff.role)
        .join(Staff, col(Staff.id) == col(Shift.staff_id))
        .where(ward, col(Shift.starts_at) <= now, col(Shift.ends_at) > now)
    ).all()
    return [
        staff_id
        for staff_id, shift_role, staff_role in rows
        if (shift_role or staff_role) == role and staff_id != leaving.id
    ]


def _handled_since(session: Session, incident_id: uuid.UUID, since: datetime) -> bool:
    """Whether the incident was (re)assigned, handed over or found nobody since ``since``."""
    return (
        session.exec(
            select(IncidentEvent.id).where(
                IncidentEvent.incident_id == incident_id,
                col(IncidentEvent.kind).in_([HANDOVER, "assigned", "not_assigned"]),
                col(IncidentEvent.at) >= since,
            )
        ).first()
        is not None
    )


def _hand_over(incident_id: uuid.UUID, now: datetime) -> tuple[str, str | None] | None:
    """Hand one incident over, in its own transaction; (incident id, ward code) if it was."""
    with session_scope() as session:
        incident = session.exec(
            select(Incident).where(Incident.id == incident_id).with_for_update()
        ).first()
        if incident is None or incident.status not in OPEN_STATUSES:
            return None
        leaving_id = incident.assignee_staff_id
        leaving = session.get(Staff, leaving_id) if leaving_id else None
        if leaving is None:
            return None
        ended = _ended_shift(session, incident, leaving.id, now)
        if ended is None or _handled_since(session, incident.id, ended.ends_at):
            return None
        if not _incoming(session, ended, leaving, now):
            log.info(
                "incident #%s: %s's shift ended and nobody is on shift in their place yet",
                incident.number,
                leaving.display_name,
            )
            return None
        assign_incident(session, incident, now=now)
        arriving_id = incident.assignee_staff_id
        if arriving_id is None or arriving_id == leaving.id:
            return None
        arriving = session.get(Staff, arriving_id)
        arriving_name = arriving.display_name if arriving else str(arriving_id)
        message = f"Handed over at shift change from {leaving.display_name} to {arriving_name}"
        incident.version += 1
        incident.updated_at = now
        session.add(incident)
        session.add(
            IncidentEvent(
                incident_id=incident.id,
                at=now,
                kind=HANDOVER,
                actor=SYSTEM,
                message=message,
                data={
                    "from_staff_id": str(leaving.id),
                    "to_staff_id": str(arriving_id),
                    "shift_ended_at": ended.ends_at.isoformat(),
                },
            )
        )
        session.flush()
        record_audit(
            session,
            actor=SYSTEM,
            action=AuditAction.INCIDENT_ASSIGNED,
            record_type="incident",
            record_id=str(incident.id),
            now=now,
            details={
                "change": "shift_handover",
                "from_staff_id": str(leaving.id),
                "to_staff_id": str(arriving_id),
            },
        )
        ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
        return str(incident.id), ward.code if ward else None


def shift_handoffs(now: datetime | None = None) -> list[str]:
    """Hand over the open incidents of people whose shift has ended; the ids handed over."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        ids = list(
            session.exec(
                select(Incident.id)
                .where(
                    col(Incident.status).in_(OPEN_STATUSES),
                    col(Incident.assignee_staff_id).is_not(None),
                    ~col(Incident.assignee_staff_id).in_(
                        sa.select(col(Shift.staff_id)).where(
                            col(Shift.starts_at) <= now, col(Shift.ends_at) > now
                        )
                    ),
                )
                .order_by(col(Incident.opened_at))
            ).all()
        )
    handed: list[str] = []
    for incident_id in ids:
        try:
            done = _hand_over(incident_id, now)
        except Exception:  # one incident must not stop the others' handover
            log.exception("handover of incident %s failed", incident_id)
            continue
        if done is None:
            continue
        handed.append(done[0])
        publish_change(
            redis_connection(),
            ChangeEvent(kind="incident.updated", entity_id=done[0], ward_code=done[1]),
        )
    return handed


# --- certifications -------------------------------------------------------------------------


def _certificates(session: Session, today: date) -> list[Certificate]:
    """The skill records of everyone holding one that expires (or expired) within the
    reminder window, all their records (a renewal supersedes), and the charge nurses of
    their ward (home ward; covered wards for those without one)."""
    window = session.exec(
        select(StaffSkill.staff_id).where(
            col(StaffSkill.expires_on).is_not(None),
            col(StaffSkill.expires_on)
            >= today - timedelta(days=cert_reminders.EXPIRED_LOOKBACK_DAYS),
            col(StaffSkill.expires_on) <= today + timedelta(days=REMINDER_DAYS),
        )
    ).all()
    holder_ids = set(window)
    if not holder_ids:
        return []
    holders = {
        s.id: s for s in session.exec(select(Staff).where(col(Staff.id).in_(holder_ids))).all()
    }
    wards: dict[uuid.UUID, set[uuid.UUID]] = {}
    for staff_id, ward_id in session.exec(
        select(StaffWardCover.staff_id, StaffWardCover.ward_id).where(
            col(StaffWardCover.staff_id).in_(holder_ids)
        )
    ).all():
        wards.setdefault(staff_id, set()).add(ward_id)
    for person in holders.values():
        if person.home_ward_id is not None:
            wards[person.id] = {person.home_ward_id}  # the home ward, when there is one
    all_wards = {w for ids in wards.values() for w in ids}
    charge: dict[uuid.UUID, list[Person]] = {}
    if all_wards:
        for nurse in session.exec(
            select(Staff).where(
                Staff.role == StaffRole.CHARGE_NURSE.value,
                col(Staff.home_ward_id).in_(all_wards),
            )
        ).all():
            assert nurse.home_ward_id is not None
            charge.setdefault(nurse.home_ward_id, []).append(_person(nurse))
    records = session.exec(select(StaffSkill).where(col(StaffSkill.staff_id).in_(holder_ids))).all()
    return [
        Certificate(
            record_id=record.id,
            skill=record.skill,
            expires_on=record.expires_on,
            holder=_person(holders[record.staff_id]),
            charge_nurses=tuple(
                n
                for w in sorted(wards.get(record.staff_id, ()), key=str)
                for n in charge.get(w, [])
            ),
        )
        for record in records
        if record.staff_id in holders
    ]


def _person(staff: Staff) -> Person:
    return Person(id=staff.id, name=staff.display_name, email=(staff.email or "").strip() or None)


def _sent_keys(client: redis.Redis, keys: list[str]) -> set[str]:
    """Which reminder keys are recorded as sent (Redis unreachable: none, better a second
    reminder than none)."""
    if not keys:
        return set()
    try:
        found: Any = client.mget([REMINDER_KEY.format(key=k) for k in keys])
    except redis.RedisError as exc:
        log.warning("certification reminders: sent marks unreadable (%s)", exc)
        return set()
    return {k for k, v in zip(keys, found, strict=True) if v is not None}


def reminder_message(reminder: Reminder, address: str, *, shared: bool) -> OutgoingMessage:
    """The reminder as an ``OutgoingMessage`` (no incident; see ``NO_INCIDENT``); ``shared``:
    for a destination many people read (it names the recipient)."""
    return compose_message(
        notification_id=uuid.uuid5(REMINDER_NAMESPACE, reminder.key),
        incident_id=NO_INCIDENT,
        staff_id=reminder.recipient.id,
        priority=REMINDER_PRIORITY,
        title=reminder.shared_title if shared else reminder.title,
        body=reminder.shared_body if shared else reminder.body,
        address=address,
    )


def _deliver_reminder(
    registry: ChannelRegistry, reminder: Reminder
) -> tuple[list[tuple[str, DeliveryResult]], str | None]:
    """Send on the recipient's e-mail, else (or when that failed) through Apprise. The
    attempts, and why no channel could be tried (None: at least one was)."""
    attempts: list[tuple[str, DeliveryResult]] = []
    email = reminder.recipient.email
    if email and registry.has(ChannelKind.EMAIL):
        message = reminder_message(reminder, email, shared=False)
        attempts.append((ChannelKind.EMAIL.value, registry.send(ChannelKind.EMAIL, message)))
    if not any(result.ok for _, result in attempts) and registry.has(APPRISE):
        message = reminder_message(reminder, BROADCAST, shared=True)
        attempts.append((APPRISE, registry.send(APPRISE, message)))
    if attempts:
        return attempts, None
    why = [
        "no e-mail address" if not email else "the email channel is unavailable",
        "no Apprise destination (HEALTHGUARD_APPRISE_URLS)",
        "the in-app channel shows incident notifications only",
    ]
    return attempts, "no channel available: " + "; ".join(why)


def _remind(
    client: redis.Redis, registry: ChannelRegistry, reminder: Reminder, today: date, now: datetime
) -> dict[str, Any] | None:
    """Claim, send and describe one reminder; None when another run has claimed it."""
    key = REMINDER_KEY.format(key=reminder.key)
    until = cert_reminders.keep_until(reminder.certificate) or today
    ttl = max(1, (until - today).days + 1) * 86400
    try:
        claimed = bool(client.set(key, now.isoformat(), nx=True, ex=ttl))
    except redis.RedisError:
        claimed = True  # better a second reminder than none
    if not claimed:
        return None
    attempts, nothing = _deliver_reminder(registry, reminder)
    entry: dict[str, Any] = {
        "to": reminder.recipient.name,
        "staff_id": str(reminder.recipient.id),
        "as": reminder.audience.value,
        "stage": reminder.stage,
    }
    sent = next((name for name, result in attempts if result.ok), None)
    if nothing is not None:
        entry |= {"outcome": "no_channel", "error": nothing}
        log.warning(
            "certification reminder to %s about %s of %s not sent: %s",
            reminder.recipient.name,
            reminder.certificate.skill,
            reminder.certificate.holder.name,
            nothing,
        )
    elif sent is not None:
        entry |= {"outcome": "sent", "channel": sent}
    else:
        errors = "; ".join(f"{name}: {result.error}" for name, result in attempts)
        retry = any(result.retryable for _, result in attempts)
        entry |= {"outcome": "failed", "error": errors, "retry_next_run": retry}
        log.warning(
            "certification reminder to %s about %s of %s failed%s: %s",
            reminder.recipient.name,
            reminder.certificate.skill,
            reminder.certificate.holder.name,
            " (tried again at the next run)" if retry else "",
            errors,
        )
        if retry:
            try:
                client.delete(key)
            except redis.RedisError as exc:
                log.warning("certification reminder mark not released: %s", exc)
    if attempts:
        entry["tried"] = [name for name, _ in attempts]
    return entry


def certification_reminders(
    now: datetime | None = None, *, registry: ChannelRegistry | None = None
) -> list[str]:
    """Remind of every BLS / ACLS / PALS / critical-care certificate at its stage (hospital's
    local date; ``healthguard.oncall.cert_reminders``): each reminder once, by e-mail or
    through Apprise (``registry``: the notify worker's channels unless given); a warning
    and an audit row per certificate reminded. The skill record ids reminded."""
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo(get_settings().timezone)).date()
    if registry is None:
        from workers.notify import delivery_context  # the notify worker's channels

        registry = delivery_context().registry
    client = redis_connection()
    with session_scope() as session:
        certificates = _certificates(session, today)
    due = cert_reminders.plan_reminders(certificates, today)
    sent = _sent_keys(client, [r.key for r in due.reminders])
    plan = cert_reminders.plan_reminders(certificates, today, sent)
    grouped = plan.by_certificate()
    unreached = {u.certificate.record_id: u for u in plan.unreached}
    certs = {r.certificate.record_id: r.certificate for r in plan.reminders}
    certs |= {u.certificate.record_id: u.certificate for u in plan.unreached}
    reminded: list[str] = []
    for record_id, cert in certs.items():
        entries = []
        for reminder in grouped.get(record_id, []):
            entry = _remind(client, registry, reminder, today, now)
            if entry is not None:
                entries.append(entry)
        missing = unreached.get(record_id)
        if not entries and missing is None:
            continue  # another run sent them
        assert cert.expires_on is not None
        days = (cert.expires_on - today).days
        log.warning(
            "certification %s: %s of %s %s on %s (%s)",
            "expired" if days < 0 else "expiring",
            cert.skill,
            cert.holder.name,
            "expired" if days < 0 else "expires",
            cert.expires_on.isoformat(),
            f"{days} day(s) left" if days >= 0 else "no longer counted for assignment",
        )
        if missing is not None:
            log.warning("certification reminder: %s", missing.reason)
        outcomes = {e["outcome"] for e in entries}
        outcome = (
            "reminded"
            if outcomes == {"sent"}
            else "no_channel"
            if outcomes and outcomes <= {"no_channel"}
            else "not_delivered"
            if outcomes
            else "unreached"
        )
        with session_scope() as session:
            record_audit(
                session,
                actor=SYSTEM,
                action=roster.AUDIT["certification_expiring"],
                record_type="staff_skill",
                record_id=str(record_id),
                outcome=outcome,
                now=now,
                details={
                    "change": "certification_expiring",
                    "staff_id": str(cert.holder.id),
                    "staff": cert.holder.name,
                    "skill": cert.skill,
                    "expires_on": cert.expires_on.isoformat(),
                    "days_left": days,
                    "counts_for_assignment": days >= 0,
                    "reminders": entries,
                    **({"charge_nurse": missing.reason} if missing is not None else {}),
                },
            )
        reminded.append(str(record_id))
    return reminded


# --- coverage gaps --------------------------------------------------------------------------


def gap_report(now: datetime | None = None) -> dict[str, Any]:
    """The coverage gaps of the next 7 days, cached in Redis (``GAPS_KEY``); the report."""
    now = now or datetime.now(UTC)
    end = now + timedelta(days=GAPS_DAYS)
    with session_scope() as session:
        gaps = roster.gap_report(session, start=now, end=end)
        names: dict[uuid.UUID | None, str] = {
            w.id: w.name for w in session.exec(select(Ward)).all()
        }
        report = {
            "generated_at": now.astimezone(UTC).isoformat(),
            "from": now.astimezone(UTC).isoformat(),
            "to": end.astimezone(UTC).isoformat(),
            "count": len(gaps),
            "gaps": [roster.gap_json(g, names) for g in gaps],
        }
    try:
        redis_connection().set(GAPS_KEY, json.dumps(report), ex=GAPS_TTL_SECONDS)
    except redis.RedisError as exc:
        log.warning("gap report not cached: %s", exc)
    for gap in gaps:
        log.info("coverage gap: %s", gap.message)
    return report


def cached_gap_report(client: redis.Redis) -> dict[str, Any] | None:
    """The last cached gap report (None: none, or expired)."""
    raw: Any = client.get(GAPS_KEY)
    return None if raw is None else dict(json.loads(raw))
