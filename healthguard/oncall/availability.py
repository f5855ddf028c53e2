"""Whether a staff member can take a new incident right now: available, busy, on a break,
or off.

Postgres (``staff.availability`` and ``staff.availability_until``) is the truth. Every
change is mirrored, after its transaction commits, to the Redis hash
``healthguard:availability`` (field: the staff id; value: JSON ``{"status": "busy",
"until": "2026-11-26T15:00:00+00:00"}``, ``until`` null when open-ended), which assignment
reads for a whole ward at once (``availability_of``); a field or hash that is missing (Redis
restarted, flushed) is read from Postgres and written back. ``sync_cache`` rewrites the whole
hash from Postgres (the ``reset_availability`` job does it every run), so a lost write heals
by itself.

The rules (``plan_availability``, pure):

- ``available``: no ``until``.
- ``busy``: until a time at most ``MAX_UNTIL["busy"]`` (12 h) ahead; without one, until the
  end of the person's shift (when on shift), at most 12 h.
- ``on_break``: the same, at most 2 h.
- ``off``: until a time at most 14 days ahead (off sick); without one, until the start of
  their next shift, or open-ended when no next shift is known.

An ``until`` that has passed counts as ``available`` at once (``effective_status``), before
the reset job has written it. ``reset_expired`` (the job, every minute) writes the automatic
changes, each audited as the ``system``:

1. the shift of someone who is not on shift any more ended since the last run -> ``off``
   (until their next shift starts), unless they are ``off`` already (their own end stays);
2. else ``until`` passed -> ``available``;
3. else a shift started since the last run and they are ``off`` with no ``until`` ->
   ``available``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import after_commit, session_scope
from healthguard.models import Availability, Shift, Staff
from healthguard.oncall.roster import AUDIT
from healthguard.security.audit import record_audit

log = logging.getLogger(__name__)

AVAILABILITY_KEY = "healthguard:availability"
MAX_UNTIL: dict[Availability, timedelta] = {
    Availability.BUSY: timedelta(hours=12),
    Availability.ON_BREAK: timedelta(hours=2),
    Availability.OFF: timedelta(days=14),
}
SYSTEM = "system"


class AvailabilityError(ValueError):
    """Input that cannot be used, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AvailabilityState:
    staff_id: uuid.UUID
    status: str
    until: datetime | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "status": self.status,
                "until": self.until.astimezone(UTC).isoformat() if self.until else None,
            }
        )

    @classmethod
    def from_json(cls, staff_id: uuid.UUID, raw: bytes | str) -> AvailabilityState:
        data = json.loads(raw)
        until = data.get("until")
        return cls(staff_id, str(data["status"]), datetime.fromisoformat(until) if until else None)


# --- the rules (pure) -----------------------------------------------------------------------


def parse_status(status: str) -> Availability:
    try:
        return Availability(status)
    except ValueError:
        names = ", ".join(a.value for a in Availability)
        raise AvailabilityError("status", f"must be one of {names}, got {status!r}") from None


def plan_availability(
    status: str,
    until: datetime | None,
    *,
    now: datetime,
    shift_end: datetime | None = None,
    next_shift_start: datetime | None = None,
) -> tuple[Availability, datetime | None]:
    """The status and ``until`` to store. ``shift_end``: the end of the shift the person is
    on now (None: not on shift); ``next_shift_start``: the start of their next shift."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    wanted = parse_status(status)
    if wanted is Availability.AVAILABLE:
        if until is not None:
            raise AvailabilityError("until", "not for available (available has no end)")
        return wanted, None
    longest = MAX_UNTIL[wanted]
    if until is not None:
        if until.tzinfo is None or until.utcoffset() is None:
            raise AvailabilityError("until", "give a time zone offset (e.g. Z or +01:00)")
        if until <= now:
            raise AvailabilityError("until", "must be in the future")
        if until - now > longest:
            raise AvailabilityError(
                "until", f"{wanted.value} for at most {_words(longest)} at a time"
            )
        return wanted, until.astimezone(UTC)
    if wanted is Availability.OFF:
        return wanted, next_shift_start
    if shift_end is not None and shift_end > now:
        return wanted, min(shift_end, now + longest)
    return wanted, now + longest


def effective_status(status: str, until: datetime | None, now: datetime) -> str:
    """What counts now: a status whose ``until`` has passed is ``available``."""
    if status != Availability.AVAILABLE and until is not None and until <= now:
        return Availability.AVAILABLE.value
    return status


def _words(length: timedelta) -> str:
    hours = length.total_seconds() / 3600
    if hours >= 48:
        return f"{round(hours / 24)} days"
    return f"{hours:g} hours"


# --- Postgres -------------------------------------------------------------------------------


def current_shift_end(session: Session, staff_id: uuid.UUID, now: datetime) -> datetime | None:
    """The latest end of the shifts the person is on now (None: not on shift)."""
    return session.exec(
        select(sa.func.max(Shift.ends_at)).where(
            Shift.staff_id == staff_id, col(Shift.starts_at) <= now, col(Shift.ends_at) > now
        )
    ).one()


def next_shift_starts(
    session: Session, staff_ids: Iterable[uuid.UUID], after: datetime
) -> dict[uuid.UUID, datetime]:
    """The start of each person's first shift starting after ``after``."""
    ids = list(set(staff_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Shift.staff_id, sa.func.min(Shift.starts_at))
        .where(col(Shift.staff_id).in_(ids), col(Shift.starts_at) > after)
        .group_by(col(Shift.staff_id))
    ).all()
    return {staff_id: start for staff_id, start in rows}


def set_availability(
    session: Session,
    staff_id: uuid.UUID,
    status: str,
    *,
    until: datetime | None,
    actor: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
    client: redis.Redis | None = None,
) -> Staff:
    """Store the person's availability (rules above), audit it, and mirror it to Redis once
    the transaction commits. LookupError: no such staff member; AvailabilityError: bad input.
    Who may do it is the caller's check (own, a charge nurse of their wards, an admin)."""
    staff = session.exec(select(Staff).where(Staff.id == staff_id).with_for_update()).first()
    if staff is None:
        raise LookupError("No such staff member.")
    shift_end = current_shift_end(session, staff_id, now)
    next_start = next_shift_starts(session, [staff_id], shift_end or now).get(staff_id)
    wanted, stored_until = plan_availability(
        status, until, now=now, shift_end=shift_end, next_shift_start=next_start
    )
    before = {"status": staff.availability, "until": _iso(staff.availability_until)}
    staff.availability, staff.availability_until = wanted.value, stored_until
    session.add(staff)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action=AUDIT["availability_set"],
        record_type="staff",
        record_id=str(staff_id),
        now=now,
        ip=ip,
        user_agent=user_agent,
        details={
            "change": "availability_set",
            "before": before,
            "after": {"status": wanted.value, "until": _iso(stored_until)},
        },
    )
    mirror_after_commit(session, [AvailabilityState(staff_id, wanted.value, stored_until)], client)
    return staff


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at else None


@dataclass(frozen=True)
class AutomaticChange:
    staff_id: uuid.UUID
    before: str
    after: str
    until: datetime | None
    rule: str  # shift_ended, until_passed, shift_started


def reset_expired(
    session: Session,
    *,
    now: datetime,
    since: datetime | None = None,
    client: redis.Redis | None = None,
) -> list[AutomaticChange]:
    """Apply the automatic changes (module docstring) for shifts that ended or started in
    ``since``-``now`` (default: the last 15 minutes) and ``until`` times passed by ``now``;
    each audited, mirrored to Redis after commit."""
    since = since or now - timedelta(minutes=15)
    on_shift = set(
        session.exec(
            select(Shift.staff_id).where(col(Shift.starts_at) <= now, col(Shift.ends_at) > now)
        ).all()
    )
    ended = (
        set(
            session.exec(
                select(Shift.staff_id).where(col(Shift.ends_at) > since, col(Shift.ends_at) <= now)
            ).all()
        )
        - on_shift
    )
    started = (
        set(
            session.exec(
                select(Shift.staff_id).where(
                    col(Shift.starts_at) > since, col(Shift.starts_at) <= now
                )
            ).all()
        )
        & on_shift
    )
    candidates = session.exec(
        select(Staff)
        .where(
            sa.or_(
                col(Staff.id).in_(list(ended | started)),
                sa.and_(
                    col(Staff.availability_until).is_not(None),
                    col(Staff.availability_until) <= now,
                ),
            )
        )
        .order_by(col(Staff.id))
        .with_for_update()
    ).all()
    next_starts = next_shift_starts(session, ended, now)
    changes: list[AutomaticChange] = []
    for staff in candidates:
        change: tuple[Availability, datetime | None, str] | None = None
        if staff.id in ended:
            if staff.availability != Availability.OFF:  # off already: keep their own end
                change = (Availability.OFF, next_starts.get(staff.id), "shift_ended")
        elif staff.availability_until is not None and staff.availability_until <= now:
            change = (Availability.AVAILABLE, None, "until_passed")
        elif (
            staff.id in started
            and staff.availability == Availability.OFF
            and staff.availability_until is None
        ):
            change = (Availability.AVAILABLE, None, "shift_started")
        if change is None:
            continue
        status, until, rule = change
        before = staff.availability
        staff.availability, staff.availability_until = status.value, until
        session.add(staff)
        changes.append(AutomaticChange(staff.id, before, status.value, until, rule))
        record_audit(
            session,
            actor=SYSTEM,
            action=AUDIT["availability_set"],
            record_type="staff",
            record_id=str(staff.id),
            now=now,
            details={
                "change": "availability_set",
                "rule": rule,
                "before": {"status": before},
                "after": {"status": status.value, "until": _iso(until)},
            },
        )
    session.flush()
    mirror_after_commit(
        session, [AvailabilityState(c.staff_id, c.after, c.until) for c in changes], client
    )
    return changes


# --- Redis ----------------------------------------------------------------------------------


def _client(client: redis.Redis | None) -> redis.Redis:
    if client is not None:
        return client
    from workers.queues import redis_connection

    return redis_connection()


def mirror(client: redis.Redis, states: Iterable[AvailabilityState]) -> None:
    mapping = {str(s.staff_id): s.to_json() for s in states}
    if mapping:
        client.hset(AVAILABILITY_KEY, mapping=mapping)


def mirror_after_commit(
    session: Session, states: list[AvailabilityState], client: redis.Redis | None
) -> None:
    if states:
        after_commit(session, lambda: mirror(_client(client), states))


def states_from_postgres(
    session: Session, staff_ids: Iterable[uuid.UUID] | None = None
) -> dict[uuid.UUID, AvailabilityState]:
    query = select(Staff.id, Staff.availability, Staff.availability_until)
    if staff_ids is not None:
        query = query.where(col(Staff.id).in_(list(staff_ids)))
    return {
        staff_id: AvailabilityState(staff_id, status, until)
        for staff_id, status, until in session.exec(query).all()
    }


def sync_cache(session: Session, client: redis.Redis) -> int:
    """Rewrite the whole Redis hash from Postgres (atomically); the people written."""
    states = states_from_postgres(session)
    pipe = client.pipeline(transaction=True)
    pipe.delete(AVAILABILITY_KEY)
    if states:
        pipe.hset(AVAILABILITY_KEY, mapping={str(k): v.to_json() for k, v in states.items()})
    pipe.execute()
    return len(states)


def availability_of(
    client: redis.Redis,
    staff_ids: Iterable[uuid.UUID],
    *,
    now: datetime | None = None,
    session: Session | None = None,
) -> dict[uuid.UUID, str]:
    """Each person's effective status now, from the Redis hash; whoever is missing there
    (or everybody, when Redis cannot be reached) is read from Postgres (``session``, or a
    new one) and written back. Unknown staff ids are left out."""
    ids = list(dict.fromkeys(staff_ids))
    now = now or datetime.now(UTC)
    states: dict[uuid.UUID, AvailabilityState] = {}
    reachable = True
    if ids:
        try:
            raw: list[Any] = list(
                client.hmget(AVAILABILITY_KEY, [str(i) for i in ids])  # type: ignore[arg-type]
            )
        except redis.RedisError as exc:
            log.warning("availability cache unreachable, reading Postgres: %s", exc)
            raw, reachable = [None] * len(ids), False
        for staff_id, value in zip(ids, raw, strict=True):
            if value is None:
                continue
            try:
                states[staff_id] = AvailabilityState.from_json(staff_id, value)
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable availability cache entry for %s", staff_id)
    missing = [i for i in ids if i not in states]
    if missing:
        found = _from_postgres(missing, session)
        states.update(found)
        if reachable and found:
            try:
                mirror(client, found.values())
            except redis.RedisError as exc:
                log.warning("cannot refill the availability cache: %s", exc)
    return {i: effective_status(s.status, s.until, now) for i, s in states.items()}


def _from_postgres(
    ids: list[uuid.UUID], session: Session | None
) -> Mapping[uuid.UUID, AvailabilityState]:
    if session is not None:
        return states_from_postgres(session, ids)
    with session_scope() as own:
        return states_from_postgres(own, ids)


def cached_state(client: redis.Redis, staff_id: uuid.UUID) -> dict[str, Any] | None:
    """The raw cache entry of one person (None: not cached), for diagnostics and tests."""
    raw: Any = client.hget(AVAILABILITY_KEY, str(staff_id))
    return None if raw is None else dict(json.loads(raw))
