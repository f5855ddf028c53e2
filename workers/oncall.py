"""Periodic jobs of the on-call roster (scheduled by ``workers.run``, ``ONCALL_PERIODIC``):

- ``materialize_shifts`` (every 10 min): re-derive every schedule's running and future
  shifts (``settings.shifts_ahead_days`` ahead) from its layers and overrides;
- ``reset_availability`` (every minute): the automatic availability changes (``until``
  passed, shift ended -> off, shift started -> available; ``healthguard.oncall.availability``)
  since the last run, then the Redis mirror rewritten from Postgres;
- ``shift_handoffs`` (every minute): open incidents whose assignee's shift has ended go to the
  incoming person on the same ward and role (``assign_service.assign_incident`` ranks who),
  with a timeline entry "Handed over at shift change from X to Y";
- ``certification_reminders`` (daily): skills expiring within 30 days: a log line and an
  audit row per skill, at most once a day each;
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
- ``healthguard:oncall:certification-reminder:<skill id>:<date>``: a reminder sent that day.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.models import Incident, IncidentEvent, Shift, Staff, StaffSkill, Ward
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.oncall import availability, roster
from healthguard.oncall.assign_service import assign_incident
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
REMINDER_KEY = "healthguard:oncall:certification-reminder:{skill_id}:{day}"
REMINDER_DAYS = 30
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


def certification_reminders(now: datetime | None = None) -> list[str]:
    """Remind of every skill expiring within 30 days (hospital's local date): a warning in
    the log and an audit row, at most once a day per skill. The skill record ids reminded."""
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo(get_settings().timezone)).date()
    client = redis_connection()
    reminded: list[str] = []
    with session_scope() as session:
        rows = session.exec(
            select(StaffSkill, Staff)
            .join(Staff, col(Staff.id) == col(StaffSkill.staff_id))
            .where(
                col(StaffSkill.expires_on).is_not(None),
                col(StaffSkill.expires_on) >= today,
                col(StaffSkill.expires_on) <= today + timedelta(days=REMINDER_DAYS),
            )
            .order_by(col(StaffSkill.expires_on), col(Staff.display_name))
        ).all()
        for skill, person in rows:
            assert skill.expires_on is not None
            key = REMINDER_KEY.format(skill_id=skill.id, day=today.isoformat())
            try:
                first = bool(client.set(key, now.isoformat(), nx=True, ex=2 * 86400))
            except redis.RedisError:
                first = True  # better a second reminder than none
            if not first:
                continue
            days = (skill.expires_on - today).days
            log.warning(
                "certification expiring: %s of %s expires on %s (in %d day%s)",
                skill.skill,
                person.display_name,
                skill.expires_on.isoformat(),
                days,
                "" if days == 1 else "s",
            )
            record_audit(
                session,
                actor=SYSTEM,
                action=roster.AUDIT["certification_expiring"],
                record_type="staff_skill",
                record_id=str(skill.id),
                outcome="reminded",
                now=now,
                details={
                    "change": "certification_expiring",
                    "staff_id": str(person.id),
                    "staff": person.display_name,
                    "skill": skill.skill,
                    "expires_on": skill.expires_on.isoformat(),
                    "days_left": days,
                },
            )
            reminded.append(str(skill.id))
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
