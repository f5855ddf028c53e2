"""The integrations service: what happens to an inbound event, one function per action,
called by every route (PagerDuty Events API v2, Alertmanager, generic webhook, heartbeats)
and by the heartbeat and silence jobs. Each takes a session and an explicit clock; the
caller commits, then publishes the change (``publish_outcomes``).

``accept_event(session, integration, event, now=...)``:

1. the incident dedup key is the sender's key scoped to the integration,
   ``int:<integration id>:<dedup key>`` (a key longer than 200 characters, the column's size,
   is replaced by ``int:<integration id>:sha256:<hex>``): two integrations never share an
   incident, as PagerDuty scopes keys by routing key;
2. a trigger that repeats an open incident (most events at steady state) is one statement:
   the evidence entry and the event's row, no lock (a resolve committed at the same moment
   is ordered after it). Anything else takes a transaction-scoped advisory lock on the key,
   which serialises the events that may open or change its incident (two first triggers at
   the same moment make one incident, never two);
3. an Alertmanager event older than the latest one applied for its alert is out of order:
   recorded as ``ignored`` (``is_stale``);
4. a trigger covered by an active silence is recorded as ``suppressed`` (naming the
   silence) and changes nothing; acknowledge and resolve are never suppressed (they only
   stop paging);
5. trigger: no open incident for the key opens one (source ``integration``, title from the
   summary, priority from the integration's severity map, the integration's ward); an open
   one gets an ``evidence`` timeline entry (``updated``), never a second incident;
   acknowledge / resolve: through the incident workflow (``apply_command``) as
   ``integration:<name>`` with ``INTEGRATION_EVENT_PERMISSIONS``; a resolve is reason
   ``other`` with the text "resolved by <name>". No open incident, or a refusal of the
   lifecycle (already acknowledged): ``ignored`` with the reason, answered like success, as
   PagerDuty does;
6. every event is written to ``inbound_events`` with its outcome: nothing accepted is lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from healthguard.incidents.lifecycle import (
    INTEGRATION_EVENT_PERMISSIONS,
    Acknowledge,
    Refusal,
    Resolve,
    TimelineEntry,
)
from healthguard.incidents.service import IncidentInputError, open_incident
from healthguard.incidents.timeline import write_entries
from healthguard.incidents.workflow import apply_command
from healthguard.integrations.alertmanager import (
    AlertmanagerNotification,
    advance_last_seen,
    is_stale,
)
from healthguard.integrations.events import (
    InboundEvent,
    Priority,
    Severity,
    iso,
    resolve_severity_map,
)
from healthguard.integrations.heartbeat import (
    HeartbeatPolicy,
    heartbeat_state,
    transition_event,
)
from healthguard.integrations.silences import (
    EventContext,
    InvalidSilence,
    SilenceScope,
    active_silence,
    reminders_due,
    validate_silence,
)
from healthguard.integrations.silences import Silence as SilenceRule
from healthguard.models import ApiKey, Incident, IncidentEvent, Patient, Ward
from healthguard.models.incidents import DONE_STATUSES
from healthguard.models.integrations import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    INTEGRATION_KINDS,
    AlertmanagerSeen,
    InboundEventLog,
    Integration,
    Silence,
)
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.security.accounts import Origin, create_api_key, revoke_api_key
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.scope import ward_scope
from healthguard.security.tokens import secret_hash

log = logging.getLogger(__name__)

OutcomeKind = Literal["opened", "updated", "acknowledged", "resolved", "suppressed", "ignored"]

INCIDENT_SOURCE = "integration"
MAX_INCIDENT_DEDUP_CHARS = 200  # incidents.dedup_key
MAX_LOGGED_DETAILS_BYTES = 64 * 1024  # details kept in inbound_events.payload
MAX_EVIDENCE_DETAILS_BYTES = 16 * 1024  # details kept in an evidence timeline entry
LAST_USED_PRECISION = timedelta(seconds=60)  # api_keys.last_used_at is refreshed this often
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000
EVENT_LOCK_CLASS = 7007  # advisory lock space of inbound event keys (two-int form)
DEFAULT_SEVERITY: Severity = "warning"  # an event without one (never a trigger in practice)

# What a change event of each outcome is called on the live channel (none: no screen changes).
_CHANGE_KIND: dict[str, str] = {
    "opened": "incident.opened",
    "acknowledged": "incident.acknowledged",
    "resolved": "incident.resolved",
}


class IntegrationInputError(ValueError):
    """Bad input for creating an integration or a silence; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What became of one event (the row written to ``inbound_events``)."""

    outcome: OutcomeKind
    dedup_key: str  # as the sender knows it
    event_id: int
    incident_id: uuid.UUID | None = None
    incident_number: int | None = None
    reason: str | None = None
    silence_id: uuid.UUID | None = None
    ward_code: str | None = None

    @property
    def change_kind(self) -> str | None:
        return _CHANGE_KIND.get(self.outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "dedup_key": self.dedup_key,
            "incident_id": str(self.incident_id) if self.incident_id else None,
            "incident_number": self.incident_number,
            "reason": self.reason,
        }


# --- keys ----------------------------------------------------------------------------------


def incident_dedup_key(integration_id: uuid.UUID | str, dedup_key: str) -> str:
    """The incident's dedup key for an integration's event key (fits the 200-character
    column: longer ones are hashed)."""
    key = f"int:{integration_id}:{dedup_key}"
    if len(key) <= MAX_INCIDENT_DEDUP_CHARS:
        return key
    digest = hashlib.sha256(dedup_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"int:{integration_id}:sha256:{digest}"


def find_by_key(
    session: Session,
    plaintext: str,
    *,
    now: datetime,
    kinds: Iterable[str] | None = None,
) -> Integration | None:
    """The enabled integration whose key (not revoked, with ``events:write``) this is, of one
    of ``kinds``; ``None`` otherwise,
    whatever the reason, so an answer never tells which keys exist. Refreshes the key's
    ``last_used_at`` at most once a minute (a busy sender must not queue on that row)."""
    if not plaintext or len(plaintext) > 200:
        return None
    row = session.exec(
        select(Integration, ApiKey.revoked_at, ApiKey.scopes, ApiKey.last_used_at)
        .join(ApiKey, col(ApiKey.id) == col(Integration.api_key_id))
        .where(ApiKey.key_hash == secret_hash(plaintext))
    ).first()
    if row is None:
        return None
    integration, revoked_at, scopes, last_used_at = row
    if (
        revoked_at is not None
        or not integration.enabled
        or Permission.EVENTS_WRITE.value not in (scopes or [])
    ):
        return None
    if kinds is not None and integration.kind not in set(kinds):
        return None
    touch_key(session, integration.api_key_id, last_used_at, now=now)
    return integration


def integration_of_key(
    session: Session, principal: Principal, *, now: datetime, kinds: Iterable[str] | None = None
) -> Integration | None:
    """The enabled integration of an integration key already authenticated by the API (the
    generic webhook and heartbeats take the key in a header)."""
    if principal.kind != "integration":
        return None
    integration = session.exec(
        select(Integration).where(Integration.api_key_id == uuid.UUID(principal.id))
    ).first()
    if integration is None or not integration.enabled:
        return None
    if kinds is not None and integration.kind not in set(kinds):
        return None
    return integration


def touch_key(
    session: Session, key_id: uuid.UUID, last_used_at: datetime | None, *, now: datetime
) -> None:
    """``api_keys.last_used_at`` = now, unless it was set less than a minute ago."""
    if last_used_at is not None and now - last_used_at < LAST_USED_PRECISION:
        return
    session.execute(
        sa.update(_KEYS)
        .where(
            _KEYS.c.id == key_id,
            sa.or_(
                _KEYS.c.last_used_at.is_(None),
                _KEYS.c.last_used_at < now - LAST_USED_PRECISION,
            ),
        )
        .values(last_used_at=now)
    )


# --- rate limit ----------------------------------------------------------------------------


def rate_limited(client: Any, integration: Integration, *, now: datetime) -> int | None:
    """Count one request in the integration's fixed one-minute window (Redis). Over its
    ``rate_limit_per_minute``: the seconds until the window ends (the Retry-After); else
    ``None``. Redis unreachable: ``None`` (an alarm is never refused because the limiter is
    down; logged)."""
    return rate_limited_many(client, integration, 1, now=now)[0]


def rate_limited_many(
    client: Any, integration: Integration, count: int, *, now: datetime
) -> list[int | None]:
    """``rate_limited`` for `count` requests at once (one Redis round trip), in their order:
    the ones within the limit get ``None``, the rest the Retry-After."""
    window = int(now.timestamp()) // 60
    key = f"healthguard:integrations:rate:{integration.id}:{window}"
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incrby(key, count)
        pipe.expire(key, 120)
        total = int(pipe.execute()[0])
    except Exception as exc:  # redis.RedisError, OSError: fail open
        log.warning("rate limit of integration %s not checked: %s", integration.name, exc)
        return [None] * count
    retry = max(1, (window + 1) * 60 - int(now.timestamp()))
    first = total - count  # requests counted in this window before these
    limit = integration.rate_limit_per_minute
    return [None if first + n + 1 <= limit else retry for n in range(count)]


# --- one event -----------------------------------------------------------------------------

# The hot path (a trigger repeating an open incident: most events at steady state) is one
# Core statement (_REPEAT), no ORM load and no lock; everything else takes the key's lock.
_KEYS = ApiKey.__table__  # type: ignore[attr-defined]
_TIMELINE = IncidentEvent.__table__  # type: ignore[attr-defined]
_LOG = InboundEventLog.__table__  # type: ignore[attr-defined]
_SEEN = AlertmanagerSeen.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _OpenIncident:
    id: uuid.UUID
    number: int
    ward_id: uuid.UUID | None


def _lock_key(session: Session, key: str) -> None:
    session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
        {"space": EVENT_LOCK_CLASS, "key": key},
    )


_DONE_SQL = ", ".join(f"'{status}'" for status in DONE_STATUSES)

# A repeated trigger in one statement: the open incident of the key (the condition of the
# partial unique index uq_incidents_dedup_key_open) and, when no silence at all is active,
# its evidence entry and the event's row. Without an open incident, or with some silence
# active, nothing is written and the caller takes the general path.
_REPEAT = sa.text(
    f"""
    WITH open AS (
        SELECT id, number, ward_id FROM incidents
        WHERE dedup_key = :key AND status NOT IN ({_DONE_SQL})
    ), quiet AS (
        SELECT NOT EXISTS (
            SELECT 1 FROM silences
            WHERE ended_at IS NULL AND starts_at <= :now AND ends_at > :now
        ) AS ok
    ), evidence AS (
        INSERT INTO incident_events (incident_id, at, kind, actor, message, data)
        SELECT open.id, :now, 'evidence', :actor, :message, CAST(:data AS jsonb)
        FROM open, quiet WHERE quiet.ok
        RETURNING incident_id
    ), logged AS (
        INSERT INTO inbound_events (integration_id, dedup_key, action, received_at,
            occurred_at, summary, severity, payload, outcome, incident_id)
        SELECT CAST(:integration_id AS uuid), :dedup_key, :action, :now,
            CAST(:occurred_at AS timestamptz), :summary, CAST(:severity AS varchar),
            CAST(:payload AS jsonb), 'updated', evidence.incident_id
        FROM evidence
        RETURNING id
    )
    SELECT open.id, open.number, open.ward_id, quiet.ok AS quiet,
        (SELECT id FROM logged) AS event_id
    FROM quiet LEFT JOIN open ON true
    """
)


# The repeated triggers of a group commit in one statement: for each event (``seq``, the
# order the batch applies them in: by key, then arrival) whose key has an open incident,
# and only when no silence at all is active, its evidence entry and its event's row. Event
# ids are drawn in ``seq`` order, and both inserts run in that order (the incidents' rows
# are then share-locked by the foreign keys in key order, as one event at a time would).
_REPEATS = sa.text(
    f"""
    WITH quiet AS (
        SELECT NOT EXISTS (
            SELECT 1 FROM silences
            WHERE ended_at IS NULL AND starts_at <= :now AND ends_at > :now
        ) AS ok
    ), matched AS MATERIALIZED (
        SELECT ordered.*, nextval(pg_get_serial_sequence('inbound_events', 'id')) AS event_id
        FROM (
            SELECT e.*, open.id AS incident_id, open.number, open.ward_id
            FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS e(
                seq int, key text, at timestamptz, actor text, message text, data jsonb,
                integration_id uuid, dedup_key text, action text, occurred_at timestamptz,
                summary text, severity text, payload jsonb)
            CROSS JOIN LATERAL (  -- an index look-up per event, never a scan of incidents
                SELECT id, number, ward_id FROM incidents
                WHERE dedup_key = e.key AND status NOT IN ({_DONE_SQL})
                OFFSET 0
            ) AS open
            CROSS JOIN quiet
            WHERE quiet.ok
            ORDER BY e.seq
        ) AS ordered
    ), evidence AS (
        INSERT INTO incident_events (incident_id, at, kind, actor, message, data)
        SELECT incident_id, at, 'evidence', actor, message, data FROM matched ORDER BY seq
    ), logged AS (
        INSERT INTO inbound_events (id, integration_id, dedup_key, action, received_at,
            occurred_at, summary, severity, payload, outcome, incident_id)
        SELECT event_id, integration_id, dedup_key, action, at, occurred_at, summary,
            severity, payload, 'updated', incident_id
        FROM matched ORDER BY seq
    )
    SELECT seq, incident_id, number, ward_id, event_id FROM matched
    """
)


def _try_repeats(
    session: Session, events: Sequence[tuple[int, Integration, InboundEvent, str, datetime]]
) -> dict[int, Outcome]:
    """``_try_repeat`` for several triggers in one statement: ``(seq, integration, event,
    key, now)`` each; the outcome of each one recorded as a repeat, by ``seq`` (the others
    changed nothing and take the general path)."""
    if not events:
        return {}
    rows = []
    for seq, integration, event, key, now in events:
        evidence = _evidence_values(integration, event, now, True)
        rows.append(
            {
                "seq": seq,
                "key": key,
                "at": now.isoformat(),
                "actor": evidence["actor"],
                "message": evidence["message"],
                "data": evidence["data"],
                "integration_id": str(integration.id),
                "dedup_key": event.dedup_key,
                "action": event.action,
                "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
                "summary": event.summary,
                "severity": event.severity,
                "payload": capped_payload(event, MAX_LOGGED_DETAILS_BYTES),
            }
        )
    by_seq = {seq: event for seq, _, event, _, _ in events}
    result = session.execute(
        _REPEATS, {"events": _json(rows), "now": max(now for *_, now in events)}
    )
    return {
        row.seq: _repeated(
            by_seq[row.seq],
            _OpenIncident(row.incident_id, int(row.number), row.ward_id),
            row.event_id,
        )
        for row in result
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _try_repeat(
    session: Session, integration: Integration, event: InboundEvent, key: str, *, now: datetime
) -> tuple[_OpenIncident | None, bool, int | None]:
    """(the open incident of the key, no silence active at all, the id of the event's row
    when it was recorded as a repeat)."""
    evidence = _evidence_values(integration, event, now, True)
    row = session.execute(
        _REPEAT,
        {
            "key": key,
            "now": now,
            "actor": evidence["actor"],
            "message": evidence["message"],
            "data": _json(evidence["data"]),
            "integration_id": str(integration.id),
            "dedup_key": event.dedup_key,
            "action": event.action,
            "occurred_at": event.occurred_at,
            "summary": event.summary,
            "severity": event.severity,
            "payload": _json(capped_payload(event, MAX_LOGGED_DETAILS_BYTES)),
        },
    ).one()
    found = _OpenIncident(row.id, int(row.number), row.ward_id) if row.id is not None else None
    return found, bool(row.quiet), row.event_id


def _priority(integration: Integration, event: InboundEvent) -> Priority:
    if event.priority is not None:
        return event.priority
    mapping = resolve_severity_map(integration.severity_map, allow_p0=integration.allow_p0)
    return mapping[event.severity or DEFAULT_SEVERITY]


def active_silences(session: Session, *, now: datetime) -> list[SilenceRule]:
    """Silences active at ``now`` (as the pure module sees them)."""
    rows = session.exec(
        select(Silence).where(
            col(Silence.ends_at) > now,
            col(Silence.starts_at) <= now,
            col(Silence.ended_at).is_(None),
        )
    ).all()
    return [silence_rule(row) for row in rows]


def silence_rule(row: Silence) -> SilenceRule:
    ends_at = row.ends_at if row.ended_at is None else min(row.ends_at, row.ended_at)
    return SilenceRule(
        id=row.id,
        scope=SilenceScope(
            integration_id=row.integration_id,
            ward_code=row.ward_code,
            patient_id=row.patient_id,
            rule=row.rule,
        ),
        starts_at=row.starts_at,
        ends_at=ends_at,
        reason=row.reason,
        created_by=row.created_by,
    )


def event_context(integration: Integration, event: InboundEvent) -> EventContext:
    """What an event is about, for silences: its integration, the integration's ward, and
    its rule (PagerDuty ``class``, the Alertmanager ``alertname``, "missed heartbeat")."""
    return EventContext(
        integration_id=integration.id,
        ward_code=integration.default_ward_code,
        patient_id=None,
        rule=event.class_,
    )


def capped_payload(event: InboundEvent, max_details_bytes: int) -> dict[str, Any]:
    """The event as JSON, its ``details`` replaced by their size when larger than the cap."""
    payload = event.as_dict()
    if payload["details"]:
        size = len(
            json.dumps(payload["details"], ensure_ascii=False, separators=(",", ":")).encode()
        )
        if size > max_details_bytes:
            payload["details"] = {"_truncated": True, "_bytes": size}
    return payload


def accept_event(
    session: Session, integration: Integration, event: InboundEvent, *, now: datetime
) -> Outcome:
    """Apply one event of ``integration`` (see the module documentation) and record it.
    The caller commits (and then calls ``publish_outcomes``)."""
    key = incident_dedup_key(integration.id, event.dedup_key)
    if event.action == "trigger" and event.source_kind != "alertmanager":
        # Most triggers at steady state repeat an open incident: one statement, no lock (a
        # concurrent resolve of that incident is ordered after this repeat, which is a valid
        # order of the two). Anything else takes the key's lock and the general path.
        incident, _, event_id = _try_repeat(session, integration, event, key, now=now)
        if incident is not None and event_id is not None:
            return _repeated(event, incident, event_id)
    _lock_key(session, key)
    return _accept_locked(session, integration, event, key, now=now)


def accept_repeats(
    session: Session, events: Sequence[tuple[Integration, InboundEvent, datetime]]
) -> tuple[dict[int, Outcome], list[int]]:
    """The first part of a group commit: the triggers of ``events`` that repeat an open
    incident, recorded together in one statement (most events at steady state). Returns
    their outcomes by position, and the positions of every other event, in the order they
    must then be applied one by one with ``accept_event``: by incident dedup key, arrival
    order kept within a key (events of different keys were concurrent requests, with no
    order between them).

    Only the triggers that come before any acknowledge or resolve of their key are tried
    here, so no event is ever applied ahead of one that came before it for the same key.
    This part takes no lock but the foreign keys' share locks on the incidents' rows (in
    key order) and writes no audit row: the caller commits it, then applies each other
    event in a transaction of its own. An event that opens or changes an incident records
    an audit row (one advisory lock, held to the commit) and locks incident rows; two such
    events in one transaction could deadlock with a nurse's acknowledge (her incident's
    row, then the audit lock)."""
    keys = [incident_dedup_key(integration.id, event.dedup_key) for integration, event, _ in events]
    keyed = sorted(range(len(events)), key=lambda n: keys[n])
    first: list[tuple[int, Integration, InboundEvent, str, datetime]] = []
    changed: set[str] = set()
    for n in keyed:
        integration, event, now = events[n]
        if event.action == "trigger" and event.source_kind != "alertmanager":
            if keys[n] not in changed:
                first.append((n, integration, event, keys[n], now))
        else:
            changed.add(keys[n])
    repeats = _try_repeats(session, first)
    return repeats, [n for n in keyed if n not in repeats]


def _repeated(event: InboundEvent, incident: _OpenIncident, event_id: int) -> Outcome:
    return Outcome(
        outcome="updated",
        dedup_key=event.dedup_key,
        event_id=int(event_id),
        incident_id=incident.id,
        incident_number=incident.number,
    )


def accept_notification(
    session: Session,
    integration: Integration,
    notification: AlertmanagerNotification,
    *,
    now: datetime,
) -> list[Outcome]:
    """Every alert of an Alertmanager notification, in the order sent, in one transaction.
    The keys are locked up front in one order, so two notifications sharing alerts never
    deadlock."""
    keys = [incident_dedup_key(integration.id, e.dedup_key) for e in notification.events]
    for key in sorted(set(keys)):
        _lock_key(session, key)
    return [
        _accept_locked(session, integration, event, key, now=now)
        for event, key in zip(notification.events, keys, strict=True)
    ]


def _accept_locked(
    session: Session, integration: Integration, event: InboundEvent, key: str, *, now: datetime
) -> Outcome:
    if event.source_kind == "alertmanager":
        last_seen = session.execute(
            sa.select(_SEEN.c.last_seen_at).where(_SEEN.c.dedup_key == key)
        ).scalar_one_or_none()
        if is_stale(event, last_seen):
            return _record(
                session,
                integration,
                event,
                now=now,
                outcome="ignored",
                reason=(
                    f"out of order: this {_am_status(event)} notification is from "
                    f"{iso(event.occurred_at)}, older than the latest applied for this alert "
                    f"({iso(last_seen)})"
                ),
            )
        _advance_seen(session, integration, key, last_seen, event)

    if event.action != "trigger":
        return _acknowledge_or_resolve(session, integration, event, key, now=now)
    incident, quiet, event_id = _try_repeat(session, integration, event, key, now=now)
    if incident is not None and event_id is not None:  # the usual case at steady state
        return _repeated(event, incident, event_id)
    if not quiet:
        silence = active_silence(
            event_context(integration, event), active_silences(session, now=now), now
        )
        if silence is not None:
            return _record(
                session,
                integration,
                event,
                now=now,
                outcome="suppressed",
                reason=(
                    f"silenced until {iso(silence.ends_at)} by {silence.created_by}: "
                    f"{silence.reason}"
                ),
                silence_id=uuid.UUID(str(silence.id)),
            )
    if incident is not None:  # a repeat: evidence on the open incident, never a second one
        session.execute(
            sa.insert(_TIMELINE).values(
                incident_id=incident.id, **_evidence_values(integration, event, now, True)
            )
        )
        return _record(
            session,
            integration,
            event,
            now=now,
            outcome="updated",
            incident=incident,
        )
    return _trigger(session, integration, event, key, now=now)


def _am_status(event: InboundEvent) -> str:
    return "firing" if event.action == "trigger" else "resolved"


def _advance_seen(
    session: Session,
    integration: Integration,
    key: str,
    last_seen: datetime | None,
    event: InboundEvent,
) -> None:
    latest = advance_last_seen(last_seen, event)
    if latest is None or latest == last_seen:
        return
    session.execute(
        pg_insert(_SEEN)
        .values(dedup_key=key, integration_id=integration.id, last_seen_at=latest)
        .on_conflict_do_update(
            index_elements=[_SEEN.c.dedup_key],
            set_={"last_seen_at": sa.func.greatest(_SEEN.c.last_seen_at, latest)},
        )
    )


def _evidence_values(
    integration: Integration, event: InboundEvent, now: datetime, repeated: bool
) -> dict[str, Any]:
    """The columns of an ``evidence`` timeline entry (no free text typed by a person)."""
    payload = capped_payload(event, MAX_EVIDENCE_DETAILS_BYTES)
    payload.pop("summary", None)
    payload["integration"] = integration.name
    payload["integration_id"] = str(integration.id)
    what = "Repeated alert" if repeated else "Alert"
    return {
        "at": now,
        "kind": "evidence",
        "actor": integration.actor,
        "message": f"{what} from {integration.name}: {event.summary}"[:2000],
        "data": payload,
    }


def _trigger(
    session: Session, integration: Integration, event: InboundEvent, key: str, *, now: datetime
) -> Outcome:
    """No open incident for the key: open one (with its first evidence entry)."""
    title = (event.summary or f"Alert from {integration.name}").strip()[:300]
    fields: dict[str, Any] = {
        "title": title,
        "priority": _priority(integration, event),
        "now": now,
        "summary": event.summary,
        "source": INCIDENT_SOURCE,
        "actor": integration.actor,
        "dedup_key": key,
    }
    reason = None
    try:  # the ward is checked before anything is written
        opened = open_incident(session, ward_code=integration.default_ward_code, **fields)
    except IncidentInputError as exc:  # the integration's ward no longer exists
        if exc.field != "ward_code":
            raise
        log.warning("integration %s: %s; incident opened without a ward", integration.name, exc)
        reason = f"opened without a ward: {exc.message}"
        opened = open_incident(session, **fields)
    values = _evidence_values(integration, event, now, False)
    write_entries(session, opened.id, [TimelineEntry(**values)])
    incident = _OpenIncident(opened.id, int(opened.number or 0), opened.ward_id)
    return _record(
        session, integration, event, now=now, outcome="opened", incident=incident, reason=reason
    )


def _acknowledge_or_resolve(
    session: Session, integration: Integration, event: InboundEvent, key: str, *, now: datetime
) -> Outcome:
    verb = "acknowledge" if event.action == "acknowledge" else "resolve"
    # Locked (a person acting on it at the same moment goes first or second, never both);
    # one resolved meanwhile no longer matches.
    incident = session.exec(
        select(Incident)
        .where(Incident.dedup_key == key, col(Incident.status).not_in(DONE_STATUSES))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if incident is None:
        return _record(
            session,
            integration,
            event,
            now=now,
            outcome="ignored",
            reason=_nothing_open(session, key, verb),
        )
    command = (
        Acknowledge()
        if event.action == "acknowledge"
        else Resolve(reason="other", text=f"resolved by {integration.name}")
    )
    result = apply_command(
        session,
        incident,
        command,
        actor=integration.actor,
        permissions=INTEGRATION_EVENT_PERMISSIONS,
        now=now,
    )
    found = _OpenIncident(incident.id, int(incident.number or 0), incident.ward_id)
    if isinstance(result, Refusal):
        return _record(
            session,
            integration,
            event,
            now=now,
            outcome="ignored",
            reason=result.message,
            incident=found,
        )
    return _record(
        session,
        integration,
        event,
        now=now,
        outcome="acknowledged" if event.action == "acknowledge" else "resolved",
        incident=found,
    )


def _nothing_open(session: Session, key: str, verb: str) -> str:
    last = session.exec(
        select(Incident)
        .where(Incident.dedup_key == key)
        .order_by(col(Incident.opened_at).desc())
        .limit(1)
    ).first()
    if last is None:
        return f"nothing to {verb}: no incident was ever opened with this dedup_key"
    when = last.resolved_at or last.closed_at or last.updated_at
    return (
        f"nothing to {verb}: the incident of this dedup_key, #{last.number}, is already "
        f"{last.status} (since {iso(when)})"
    )


def _record(
    session: Session,
    integration: Integration,
    event: InboundEvent,
    *,
    now: datetime,
    outcome: OutcomeKind,
    reason: str | None = None,
    incident: _OpenIncident | None = None,
    silence_id: uuid.UUID | None = None,
) -> Outcome:
    event_id = session.execute(
        sa.insert(_LOG)
        .values(
            integration_id=integration.id,
            dedup_key=event.dedup_key,
            action=event.action,
            received_at=now,
            occurred_at=event.occurred_at,
            summary=event.summary,
            severity=event.severity,
            payload=capped_payload(event, MAX_LOGGED_DETAILS_BYTES),
            outcome=outcome,
            reason=reason,
            incident_id=incident.id if incident is not None else None,
            silence_id=silence_id,
        )
        .returning(_LOG.c.id)
    ).scalar_one()
    if outcome == "ignored":
        log.info("integration %s: %s %s ignored: %s", integration.name, event.action,
                 event.dedup_key, reason)  # fmt: skip
    ward_code = None
    if outcome in _CHANGE_KIND and incident is not None and incident.ward_id is not None:
        ward_code = session.exec(select(Ward.code).where(Ward.id == incident.ward_id)).first()
    return Outcome(
        outcome=outcome,
        dedup_key=event.dedup_key,
        event_id=int(event_id),
        incident_id=incident.id if incident is not None else None,
        incident_number=incident.number if incident is not None else None,
        reason=reason,
        silence_id=silence_id,
        ward_code=ward_code,
    )


def publish_outcomes(outcomes: Iterable[Outcome]) -> None:
    """After the commit: tell every screen watching the incidents' wards."""
    changes = [o for o in outcomes if o.change_kind and o.incident_id]
    if not changes:
        return
    from workers.queues import redis_connection

    client = redis_connection()
    for outcome in changes:
        publish_change(
            client,
            ChangeEvent(
                kind=str(outcome.change_kind),
                entity_id=str(outcome.incident_id),
                ward_code=outcome.ward_code,
            ),
        )


# --- heartbeats ----------------------------------------------------------------------------


def heartbeat_policy(integration: Integration) -> HeartbeatPolicy | None:
    if integration.heartbeat_interval_seconds is None:
        return None
    return HeartbeatPolicy(
        interval=timedelta(seconds=integration.heartbeat_interval_seconds),
        grace=timedelta(seconds=integration.heartbeat_grace_seconds or 0),
    )


def _lock_integration(
    session: Session, integration_id: uuid.UUID, *, skip_locked: bool = False
) -> Integration | None:
    return session.exec(
        select(Integration)
        .where(Integration.id == integration_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    ).first()


def record_heartbeat(
    session: Session, integration: Integration, *, now: datetime
) -> Outcome | None:
    """A heartbeat: ``last_heartbeat_at`` = now; when the integration was missed, the resolve
    of its missed-heartbeat incident (its outcome). The caller commits and publishes."""
    locked = _lock_integration(session, integration.id)
    if locked is None:
        return None
    policy = heartbeat_policy(locked)
    locked.last_heartbeat_at = (
        now if locked.last_heartbeat_at is None else max(now, locked.last_heartbeat_at)
    )
    outcome = None
    if policy is not None and locked.heartbeat_missed:
        outcome = _heartbeat_transition(session, locked, policy, now=now)
    session.add(locked)
    session.flush()
    return outcome


def check_heartbeat(
    session: Session, integration_id: uuid.UUID, *, now: datetime
) -> Outcome | None:
    """One integration's heartbeat at ``now``: a missed one opens an incident (once; the
    next heartbeat resolves it). Skipped while a heartbeat is being recorded."""
    integration = _lock_integration(session, integration_id, skip_locked=True)
    if integration is None or not integration.enabled:
        return None
    policy = heartbeat_policy(integration)
    if policy is None:
        return None
    return _heartbeat_transition(session, integration, policy, now=now)


def _heartbeat_transition(
    session: Session, integration: Integration, policy: HeartbeatPolicy, *, now: datetime
) -> Outcome | None:
    state = heartbeat_state(
        policy,
        last_heartbeat_at=integration.last_heartbeat_at,
        monitoring_since=integration.created_at,
        now=now,
    )
    event = transition_event(
        integration_id=str(integration.id),
        integration_name=integration.name,
        policy=policy,
        was_missed=integration.heartbeat_missed,
        state=state,
        now=now,
        severity_map=integration.severity_map,
        allow_p0=integration.allow_p0,
    )
    if event is None:
        return None
    outcome = accept_event(session, integration, event, now=now)
    # A missed heartbeat under a silence is not marked missed: once the silence ends, the
    # next check opens the incident if the heartbeat is still missing.
    integration.heartbeat_missed = state.missed and outcome.outcome != "suppressed"
    session.add(integration)
    session.flush()
    return outcome


def heartbeat_integration_ids(session: Session) -> list[uuid.UUID]:
    return list(
        session.exec(
            select(Integration.id).where(
                col(Integration.enabled).is_(True),
                col(Integration.heartbeat_interval_seconds).is_not(None),
            )
        ).all()
    )


# --- integrations (administration) ---------------------------------------------------------


def create_integration(
    session: Session,
    *,
    name: str,
    kind: str,
    created_by: str,
    now: datetime,
    origin: Origin,
    severity_map: dict[str, str] | None = None,
    allow_p0: bool = False,
    default_ward_code: str | None = None,
    heartbeat_interval_seconds: int | None = None,
    heartbeat_grace_seconds: int | None = None,
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
) -> tuple[Integration, str]:
    """A new integration and its key (``events:write``); the key is returned once. Raises
    ``IntegrationInputError`` naming the field."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise IntegrationInputError("name", "must be 1 to 100 characters")
    if kind not in INTEGRATION_KINDS:
        raise IntegrationInputError("kind", f"must be one of {', '.join(INTEGRATION_KINDS)}")
    if session.exec(select(Integration.id).where(Integration.name == name)).first():
        raise IntegrationInputError("name", f"an integration named {name!r} exists already")
    try:
        mapping = resolve_severity_map(severity_map or {}, allow_p0=allow_p0)
    except ValueError as exc:
        raise IntegrationInputError("severity_map", str(exc)) from None
    merged = {str(k): str(v) for k, v in mapping.items()}
    overrides = {str(k).strip().lower(): merged[str(k).strip().lower()] for k in severity_map or {}}
    ward: str | None = (default_ward_code or "").strip().upper() or None
    if ward is not None and not session.exec(select(Ward.id).where(Ward.code == ward)).first():
        raise IntegrationInputError("default_ward_code", f"no ward with code {ward!r}")
    if kind == "heartbeat" and heartbeat_interval_seconds is None:
        raise IntegrationInputError(
            "heartbeat_interval_seconds", "is required for a heartbeat integration"
        )
    if heartbeat_interval_seconds is None and heartbeat_grace_seconds is not None:
        raise IntegrationInputError("heartbeat_grace_seconds", "needs heartbeat_interval_seconds")
    if heartbeat_interval_seconds is not None:
        try:
            HeartbeatPolicy(
                interval=timedelta(seconds=heartbeat_interval_seconds),
                grace=timedelta(seconds=heartbeat_grace_seconds or 0),
            )
        except ValueError as exc:
            field = (
                "heartbeat_grace_seconds" if "grace" in str(exc) else "heartbeat_interval_seconds"
            )
            raise IntegrationInputError(field, str(exc)) from None
    if not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT_PER_MINUTE:
        raise IntegrationInputError(
            "rate_limit_per_minute", f"must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE}"
        )
    key, plaintext = create_api_key(
        session,
        name=f"integration {name}",
        scopes=[Permission.EVENTS_WRITE.value],
        created_by=created_by,
        now=now,
        origin=origin,
        pagerduty_shaped=kind == "pagerduty",
    )
    integration = Integration(
        name=name,
        kind=kind,
        api_key_id=key.id,
        severity_map=overrides,
        allow_p0=allow_p0,
        default_ward_code=ward,
        heartbeat_interval_seconds=heartbeat_interval_seconds,
        heartbeat_grace_seconds=heartbeat_grace_seconds,
        rate_limit_per_minute=rate_limit_per_minute,
        created_by=created_by,
        created_at=now,
    )
    session.add(integration)
    session.flush()
    record_audit(
        session,
        actor=created_by,
        action="integration.created",
        record_type="integration",
        record_id=str(integration.id),
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "name": name,
            "kind": kind,
            "api_key_id": str(key.id),
            "severity_map": overrides,
            "default_ward_code": ward,
            "heartbeat_interval_seconds": heartbeat_interval_seconds,
            "rate_limit_per_minute": rate_limit_per_minute,
        },
        now=now,
    )
    return integration, plaintext


def revoke_integration(
    session: Session, integration_id: uuid.UUID, *, actor: str, now: datetime, origin: Origin
) -> Integration | None:
    """Disable the integration and revoke its key (both at once; its events stay)."""
    integration = _lock_integration(session, integration_id)
    if integration is None:
        return None
    revoke_api_key(session, integration.api_key_id, actor=actor, now=now, origin=origin)
    if integration.enabled:
        integration.enabled = False
        integration.disabled_at = now
        session.add(integration)
        record_audit(
            session,
            actor=actor,
            action="integration.revoked",
            record_type="integration",
            record_id=str(integration.id),
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"name": integration.name, "api_key_id": str(integration.api_key_id)},
            now=now,
        )
    session.flush()
    return integration


def key_prefix(session: Session, integration: Integration) -> str | None:
    return session.exec(select(ApiKey.prefix).where(ApiKey.id == integration.api_key_id)).first()


# --- silences -------------------------------------------------------------------------------


def create_silence(
    session: Session,
    *,
    principal: Principal,
    scope: SilenceScope,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
    origin: Origin,
) -> Silence:
    """A silence (validated by ``validate_silence``; who may silence what by
    ``may_manage_silence``). Raises ``IntegrationInputError`` (``InvalidSilence`` errors are
    turned into it) or ``PermissionError``."""
    if isinstance(scope.ward_code, str) and scope.ward_code.strip():
        scope = SilenceScope(
            scope.integration_id, scope.ward_code.strip().upper(), scope.patient_id, scope.rule
        )
    candidate = SilenceRule(
        id="new",
        scope=scope,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=(reason or "").strip(),
        created_by=principal.audit_name,
    )
    try:
        validate_silence(candidate, now=now)
    except InvalidSilence as exc:
        raise IntegrationInputError(exc.field, exc.message) from None
    integration_id = _uuid_field(scope.integration_id, "scope.integration_id")
    patient_id = _uuid_field(scope.patient_id, "scope.patient_id")
    if integration_id is not None and session.get(Integration, integration_id) is None:
        raise IntegrationInputError("scope.integration_id", "no such integration")
    ward_code = str(scope.ward_code) if scope.ward_code is not None else None
    if (
        ward_code is not None
        and not session.exec(select(Ward.id).where(Ward.code == ward_code)).first()
    ):
        raise IntegrationInputError("scope.ward_code", f"no ward with code {ward_code!r}")
    if patient_id is not None and session.get(Patient, patient_id) is None:
        raise IntegrationInputError("scope.patient_id", "no such patient")
    problem = silence_refusal(session, principal, ward_code, patient_id, now=now)
    if problem is not None:
        raise PermissionError(problem)
    rule = str(scope.rule).strip() if scope.rule is not None else None
    if rule is not None and len(rule) > 255:
        raise IntegrationInputError("scope.rule", "must be at most 255 characters")
    row = Silence(
        integration_id=integration_id,
        ward_code=ward_code,
        patient_id=patient_id,
        rule=rule,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=candidate.reason,
        created_by=principal.audit_name,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor=principal.audit_name,
        action="silence.created",
        record_type="silence",
        record_id=str(row.id),
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "scope": silence_rule(row).scope.given(),
            "starts_at": iso(starts_at),
            "ends_at": iso(ends_at),
            "reason": row.reason,
        },
        now=now,
    )
    return row


def end_silence(
    session: Session, silence_id: uuid.UUID, *, principal: Principal, now: datetime, origin: Origin
) -> Silence | None:
    """End a silence now (or cancel a scheduled one). ``None``: no such silence; raises
    ``PermissionError`` when the person may not manage its scope."""
    row = session.exec(select(Silence).where(Silence.id == silence_id).with_for_update()).first()
    if row is None:
        return None
    problem = silence_refusal(session, principal, row.ward_code, row.patient_id, now=now)
    if problem is not None:
        raise PermissionError(problem)
    if row.ended_at is None and row.ends_at > now:
        row.ended_at = now
        row.ended_by = principal.audit_name
        session.add(row)
        record_audit(
            session,
            actor=principal.audit_name,
            action="silence.ended",
            record_type="silence",
            record_id=str(row.id),
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"scope": silence_rule(row).scope.given(), "ends_at": iso(row.ends_at)},
            now=now,
        )
        session.flush()
    return row


def silence_refusal(
    session: Session,
    principal: Principal,
    ward_code: str | None,
    patient_id: uuid.UUID | None,
    *,
    now: datetime,
) -> str | None:
    """Why this person may not manage a silence of this scope, or ``None``.

    Physicians and the rapid-response team (the whole hospital): any scope. Charge nurses:
    a scope that names a ward they cover (anything else it names only narrows it). Admins
    (no ward): machine maintenance windows only, scopes without a ward or a patient.
    Everybody needs ``silences:manage``."""
    if not allows(principal, Permission.SILENCES_MANAGE):
        return f"Your role may not do this (needs {Permission.SILENCES_MANAGE.value})."
    scope = ward_scope(session, principal, now=now)
    if scope.all_wards:
        return None
    if ward_code is None and patient_id is None:
        if allows(principal, Permission.INTEGRATION_KEYS_MANAGE):
            return None
        return "A silence you set must name a ward you cover (scope.ward_code)."
    if ward_code is None:
        if allows(principal, Permission.INTEGRATION_KEYS_MANAGE):
            return "Administrators set maintenance windows of machines, not of patients."
        return "A silence you set must name a ward you cover (scope.ward_code)."
    ward_id = session.exec(select(Ward.id).where(Ward.code == ward_code)).first()
    if ward_id is None or not scope.covers(ward_id):
        return f"Ward {ward_code} is not one you cover."
    return None


def list_silences(session: Session, *, now: datetime, include_ended: bool = False) -> list[Silence]:
    """Silences active now or scheduled (with ``include_ended``, the past ones too), the
    soonest to end first."""
    stmt = select(Silence).order_by(col(Silence.ends_at), col(Silence.id))
    if not include_ended:
        stmt = stmt.where(col(Silence.ends_at) > now, col(Silence.ended_at).is_(None))
    return list(session.exec(stmt).all())


def silence_reminders(
    session: Session, *, now: datetime, lead: timedelta = timedelta(minutes=15)
) -> list[Silence]:
    """Long silences ending within ``lead`` that were not reminded yet: each gets an audit
    record and a log line ("silence X ends in N min") and ``reminded_at``. (Notifications to
    people come with the notification service; this is its placeholder.)"""
    rows = session.exec(
        select(Silence)
        .where(
            col(Silence.ended_at).is_(None),
            col(Silence.reminded_at).is_(None),
            col(Silence.ends_at) > now,
            col(Silence.ends_at) <= now + lead,
        )
        .with_for_update(skip_locked=True)
    ).all()
    by_id = {str(row.id): row for row in rows}
    due = reminders_due([silence_rule(row) for row in rows], now, lead)
    reminded: list[Silence] = []
    for rule in due:
        row = by_id[str(rule.id)]
        minutes = max(0, int((row.ends_at - now).total_seconds() // 60))
        message = f"silence {row.id} ends in {minutes} min"
        log.info("%s (%s, set by %s)", message, rule.scope.given(), row.created_by)
        record_audit(
            session,
            actor="system",
            action="silence.reminder",
            record_type="silence",
            record_id=str(row.id),
            details={
                "message": message,
                "scope": rule.scope.given(),
                "ends_at": iso(row.ends_at),
                "created_by": row.created_by,
            },
            now=now,
        )
        row.reminded_at = now
        session.add(row)
        reminded.append(row)
    session.flush()
    return reminded


def _uuid_field(value: object, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise IntegrationInputError(field, "must be an id (UUID)") from None


def outcomes_summary(outcomes: Sequence[Outcome]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for outcome in outcomes:
        summary[outcome.outcome] = summary.get(outcome.outcome, 0) + 1
    return summary
