"""The audit log: one service every part of HealthGuard Ops calls to record who did what.

Every login, logout, failed login, lockout, read of patient data, change of an incident,
schedule, rule, policy, user, key or setting, and every break-the-glass is recorded with
``record_audit`` *inside the caller's transaction*: the audit row commits with the change it
describes, or neither does.

Tamper evidence, in two layers:

1. Postgres refuses UPDATE, DELETE and TRUNCATE on ``audit_log`` (triggers, migration
   ``0003_audit_append_only``).
2. Each row carries ``prev_hash`` (the hash of the row before it) and ``hash`` = SHA-256 of a
   canonical encoding of ``prev_hash`` and every content column. Someone able to bypass the
   triggers (a superuser, or the table owner, can disable them) can still change rows, but
   ``verify_chain`` then names the first row that was edited, deleted or moved.

What the chain cannot prove on its own: that rows were not removed from the *end* of the log,
or that an attacker with write access did not rewrite every hash after an edit. Keep an
external copy of the head hash (``healthguard audit verify`` prints it and records it in its
own ``audit.verified`` row) to close that gap.

Callers must never put secrets in ``details``: no passwords (not even wrong ones), tokens,
API keys, cookies, TOTP codes or session ids. As a safety net ``record_audit`` drops every key
that looks like one (see ``is_secret_key``) and lists the dropped key paths under
``details["_redacted"]``, so the omission itself is visible to an auditor.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session

from healthguard.models.audit import AuditLog

__all__ = [
    "AUDIT_LOCK_KEY",
    "GENESIS_HASH",
    "AuditAction",
    "AuditEntry",
    "AuditFilter",
    "AuditOutcome",
    "ChainReport",
    "canonical_datetime",
    "export_and_record",
    "export_audit",
    "is_secret_key",
    "query_audit",
    "record_audit",
    "redact_details",
    "verify_chain",
]


class AuditAction(StrEnum):
    """Every audited action. ``record_audit`` refuses names not listed here, so a typo cannot
    hide an action from the auditor's filters; add new actions here (one line each)."""

    # Sign-in and sessions
    LOGIN_SUCCESS = "login.success"
    LOGIN_FAILURE = "login.failure"
    LOGIN_LOCKOUT = "login.lockout"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session.expired"
    # API tokens and integration keys
    TOKEN_ISSUED = "token.issued"
    TOKEN_REFRESHED = "token.refreshed"
    TOKEN_REUSE_DETECTED = "token.reuse_detected"
    TOKEN_REFUSED = "token.refused"
    APIKEY_CREATED = "apikey.created"
    APIKEY_REVOKED = "apikey.revoked"
    APIKEY_REFUSED = "apikey.refused"
    # Reads of protected health information
    PATIENT_READ = "patient.read"
    VITALS_READ = "vitals.read"
    EXPORT = "export"
    # Patient records
    PATIENT_CREATED = "patient.created"
    PATIENT_UPDATED = "patient.updated"
    PATIENT_SPO2_SCALE_SET = "patient.spo2_scale_set"
    # Incidents
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_ASSIGNED = "incident.assigned"
    INCIDENT_ESCALATED = "incident.escalated"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_REOPENED = "incident.reopened"
    INCIDENT_NOTE_ADDED = "incident.note_added"
    INCIDENT_STARTED = "incident.started"
    INCIDENT_RESPONDER_ADDED = "incident.responder_added"
    INCIDENT_RESPONDER_REMOVED = "incident.responder_removed"
    INCIDENT_LEAD_SET = "incident.lead_set"
    INCIDENT_PRIORITY_CHANGED = "incident.priority_changed"
    INCIDENT_CLOSED = "incident.closed"
    # On-call schedules, alarm rules, escalation policies
    SCHEDULE_CREATED = "schedule.created"
    SCHEDULE_UPDATED = "schedule.updated"
    SCHEDULE_DELETED = "schedule.deleted"
    RULE_CREATED = "rule.created"
    RULE_UPDATED = "rule.updated"
    RULE_DELETED = "rule.deleted"
    POLICY_CREATED = "policy.created"
    POLICY_UPDATED = "policy.updated"
    POLICY_DELETED = "policy.deleted"
    # Users
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_LOCKED = "user.locked"
    USER_UNLOCKED = "user.unlocked"
    USER_PASSWORD_RESET = "user.password_reset"
    # Keys and settings
    KEY_ROTATED = "key.rotated"
    SETTING_CHANGED = "setting.changed"
    # Inbound integrations and their silences (maintenance windows)
    INTEGRATION_CREATED = "integration.created"
    INTEGRATION_REVOKED = "integration.revoked"
    SILENCE_CREATED = "silence.created"
    SILENCE_ENDED = "silence.ended"
    SILENCE_REMINDER = "silence.reminder"
    # Break-the-glass
    BREAK_GLASS_GRANTED = "break_glass.granted"
    BREAK_GLASS_USED = "break_glass.used"
    # Authorisation
    ACCESS_DENIED = "access.denied"
    # The audit log itself
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VERIFIED = "audit.verified"


class AuditOutcome(StrEnum):
    """How the audited action ended: the usual values. Any short lower-case word is accepted
    (``OUTCOME_PATTERN``) so a service can be precise; prefer these."""

    SUCCESS = "success"  # it happened
    FAILURE = "failure"  # it was attempted and failed (wrong password, tampered log...)
    DENIED = "denied"  # refused by authorisation (403, expired or revoked credentials)
    ERROR = "error"  # an unexpected error stopped it
    LOCKED = "locked"  # an account was locked by the attempt
    GRANTED = "granted"  # an access (break-the-glass) was granted
    FLAGGED = "flagged"  # allowed, but flagged for review (break-the-glass use)


KNOWN_ACTIONS: frozenset[str] = frozenset(a.value for a in AuditAction)
KNOWN_OUTCOMES: frozenset[str] = frozenset(o.value for o in AuditOutcome)
OUTCOME_PATTERN = re.compile(r"[a-z][a-z_]{0,31}")

#: ``prev_hash`` of the first row of the log.
GENESIS_HASH = "0" * 64

#: Key of the transaction-scoped advisory lock that serialises writers of the chain
#: (the first 8 bytes of SHA-256("healthguard:audit_log"), as a signed bigint).
AUDIT_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"healthguard:audit_log").digest()[:8], "big", signed=True
)

#: Version of the canonical encoding, hashed with every row (a future change of the encoding
#: bumps it, and verification can then pick the right encoder per row).
CANONICAL_VERSION = 1

# --- secrets guard -------------------------------------------------------------------------

_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "privatekey",
    "credential",
    "otp",
)
# Keys about a secret rather than holding one ("token_type", "apikey_id", "token_family").
_SAFE_SUFFIXES = (
    "id",
    "ids",
    "type",
    "family",
    "prefix",
    "kind",
    "scope",
    "scopes",
    "expires_at",
    "count",
)
REDACTED_KEY = "_redacted"


def _key_words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: str) -> bool:
    """True for a details key that looks like it holds a secret.

    A key is secret-looking when, ignoring case and separators, it contains ``password``,
    ``passwd``, ``passphrase``, ``secret``, ``token``, ``apikey``, ``authorization``,
    ``cookie``, ``privatekey`` or ``credential``, or one of its words is ``otp``/``totp``; unless it
    ends with a word that describes the secret instead of holding it (``_id``, ``_ids``,
    ``_type``, ``_family``, ``_prefix``, ``_kind``, ``_scope(s)``, ``_expires_at``,
    ``_count``). So ``password``, ``refreshToken``, ``api_key`` and ``totp_secret`` are
    dropped; ``token_type``, ``apikey_id`` and ``token_family`` are kept.
    """
    words = _key_words(key)
    if not words:
        return False
    joined = "".join(words)
    hit = any(w in joined for w in _SECRET_WORDS if w != "otp") or bool(
        {"otp", "totp"} & set(words)
    )
    if not hit:
        return False
    tail = "_".join(words)
    return not any(tail == s or tail.endswith("_" + s) for s in _SAFE_SUFFIXES)


def redact_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``details`` without secret-looking keys (at any depth), with the dropped key
    paths listed under ``_redacted`` (e.g. ``["password", "client.refresh_token"]``)."""
    dropped: list[str] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            kept: dict[str, Any] = {}
            for k, v in value.items():
                key = str(k)
                where = f"{path}.{key}" if path else key
                if key != REDACTED_KEY and is_secret_key(key):
                    dropped.append(where)
                    continue
                kept[key] = walk(v, where)
            return kept
        if isinstance(value, list | tuple):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    clean: dict[str, Any] = walk(details, "")
    if dropped:
        previous = clean.get(REDACTED_KEY)
        earlier = [str(p) for p in previous] if isinstance(previous, list) else []
        clean[REDACTED_KEY] = sorted(set(earlier + dropped))
    return clean


# --- canonical encoding and hashing -------------------------------------------------------


def canonical_datetime(value: datetime) -> str:
    """ISO-8601 in UTC with microseconds and a ``Z``; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware (UTC); got a naive datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise_json(value: Any) -> Any:
    """The form in which a JSON value survives a round trip through JSONB unchanged.

    JSONB keeps numbers as ``numeric``: a float such as ``1e20`` comes back as the integer
    ``100000000000000000000`` and ``2.0`` may come back as ``2.0`` or ``2``. Integral floats
    are therefore written as integers, on the way in and when hashing what was read back.
    NUL characters (which JSONB refuses) become U+FFFD.
    """
    if isinstance(value, dict):
        return {_clean_text(str(k)): _normalise_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_json(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("audit details cannot hold NaN or infinity")
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return _clean_text(value)
    return value


def _clean_text(value: str) -> str:
    return value.replace("\x00", "\ufffd")


def _to_json_value(details: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON types only: UUIDs, datetimes, Decimals... become their ``str()``."""
    try:
        text = json.dumps(dict(details), default=str, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details are not valid JSON: {exc}") from None
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True)
class AuditEntry:
    """The hashed content of one audit row (everything except ``id`` and ``hash``).

    ``id`` is left out on purpose: order is proven by the ``prev_hash`` links, so renumbering
    alone changes nothing, while any edit, deletion or reordering breaks a hash or a link.
    """

    prev_hash: str
    at: datetime
    actor: str
    action: str
    record_type: str
    record_id: str | None
    ip: str | None
    user_agent: str | None
    outcome: str
    details: dict[str, Any]

    def canonical(self) -> bytes:
        """JSON with sorted keys and no whitespace, time as ISO-8601 UTC with microseconds."""
        document = {
            "v": CANONICAL_VERSION,
            "prev_hash": self.prev_hash,
            "at": canonical_datetime(self.at),
            "actor": self.actor,
            "action": self.action,
            "record_type": self.record_type,
            "record_id": self.record_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "outcome": self.outcome,
            "details": _normalise_json(self.details),
        }
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        ).encode("ascii")

    def digest(self) -> str:
        """SHA-256 of ``canonical()``, lower-case hex (64 characters)."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditEntry:
        """The entry of a stored row (a mapping of ``audit_log`` columns)."""
        return cls(
            prev_hash=row["prev_hash"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            record_type=row["record_type"],
            record_id=row["record_id"],
            ip=row["ip"],
            user_agent=row["user_agent"],
            outcome=row["outcome"],
            details=row["details"] if row["details"] is not None else {},
        )


# --- writing -------------------------------------------------------------------------------

_TABLE: sa.Table = AuditLog.__table__  # type: ignore[attr-defined]


def _column_limit(name: str) -> int | None:
    length = getattr(_TABLE.c[name].type, "length", None)
    return int(length) if length else None


def _fit(name: str, value: str | None) -> str | None:
    """NUL-free and cut to the column's length (user agents and names come from outside and
    must not make the audited action fail)."""
    if value is None:
        return None
    value = _clean_text(str(value))
    limit = _column_limit(name)
    return value[:limit] if limit is not None else value


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    record_type: str,
    now: datetime,
    record_id: str | None = None,
    outcome: str = "success",
    ip: str | None = None,
    user_agent: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Append one row to the audit log, inside the caller's transaction, and flush it.

    - ``actor``: who (a username, ``apikey:<name>``, ``system``, ``cli:<os user>``...).
    - ``action``: an ``AuditAction`` (its string value is accepted); unknown names raise
      ``ValueError``. ``outcome``: an ``AuditOutcome`` value or another lower-case word.
    - ``record_type`` / ``record_id``: which record (``"patient"``, ``str(patient.id)``).
    - ``now``: when; timezone-aware, stored in UTC with microseconds (naive: ``ValueError``).
    - ``ip`` / ``user_agent``: from where; cut to the column length.
    - ``details``: small JSON-able context. NEVER secrets: secret-looking keys are dropped
      and listed under ``details["_redacted"]``; UUIDs, datetimes etc. become strings.

    The row is chained: a transaction-scoped advisory lock serialises writers until the
    caller commits or rolls back, so record the audit late in the transaction and commit
    promptly (every audited transaction waits for the one before it). The session must use
    READ COMMITTED (Postgres' default); other isolation levels raise ``RuntimeError`` since
    their snapshot could miss the latest row and fork the chain.
    """
    if action not in KNOWN_ACTIONS:
        raise ValueError(
            f"unknown audit action {action!r}: add it to healthguard.security.audit.AuditAction"
        )
    if not OUTCOME_PATTERN.fullmatch(str(outcome)):
        raise ValueError(
            f"bad audit outcome {outcome!r}: one lower-case word (a-z, _), at most 32 "
            f"characters, e.g. {', '.join(sorted(KNOWN_OUTCOMES))}"
        )
    if not actor or not actor.strip():
        raise ValueError("audit rows need an actor (who did it); use 'system' for the product")
    if not record_type or not record_type.strip():
        raise ValueError("audit rows need a record_type (what kind of record)")
    at = datetime.fromisoformat(canonical_datetime(now).replace("Z", "+00:00"))
    clean_details = _normalise_json(redact_details(_to_json_value(details or {})))

    isolation = session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key), current_setting('transaction_isolation')"),
        {"key": AUDIT_LOCK_KEY},
    ).one()[1]
    if isolation != "read committed":
        raise RuntimeError(
            f"record_audit needs a READ COMMITTED transaction, not {isolation!r}: the chain "
            "head read under an older snapshot would fork the audit log"
        )
    prev_hash = session.execute(
        sa.select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
    ).scalar_one_or_none()

    entry = AuditEntry(
        prev_hash=prev_hash if prev_hash is not None else GENESIS_HASH,
        at=at,
        actor=_fit("actor", actor) or "",
        action=str(action),
        record_type=_fit("record_type", record_type) or "",
        record_id=_fit("record_id", record_id),
        ip=_fit("ip", ip),
        user_agent=_fit("user_agent", user_agent),
        outcome=str(outcome),
        details=clean_details,
    )
    row = AuditLog(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        record_type=entry.record_type,
        record_id=entry.record_id,
        ip=entry.ip,
        user_agent=entry.user_agent,
        outcome=entry.outcome,
        details=entry.details,
        prev_hash=entry.prev_hash,
        hash=entry.digest(),
    )
    session.add(row)
    session.flush()
    return row


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """The result of ``verify_chain``.

    ``rows_checked`` counts the rows read, up to and including the first bad one.
    ``head_hash`` is the hash of the last row that verified (None for an empty log, or when
    the very first row is bad); ``head_id`` its id.
    """

    ok: bool
    rows_checked: int
    head_hash: str | None
    head_id: int | None
    first_bad_id: int | None = None
    reason: str | None = None

    def summary(self) -> str:
        """One line for people: "Audit log intact: ..." or "Audit log TAMPERED: ..."."""
        if self.ok:
            head = self.head_hash[:16] if self.head_hash else "(empty)"
            return f"Audit log intact: {self.rows_checked} rows, head {head}"
        return f"Audit log TAMPERED: {self.reason}"


_VERIFY_COLUMNS = [
    _TABLE.c.id,
    _TABLE.c.at,
    _TABLE.c.actor,
    _TABLE.c.action,
    _TABLE.c.record_type,
    _TABLE.c.record_id,
    _TABLE.c.ip,
    _TABLE.c.user_agent,
    _TABLE.c.outcome,
    _TABLE.c.details,
    _TABLE.c.prev_hash,
    _TABLE.c.hash,
]


def _rows_in_id_order(session: Session, batch_size: int) -> Iterator[sa.RowMapping]:
    """Every row, oldest first, read in batches by keyset (never all in memory)."""
    last_id: int | None = None
    while True:
        stmt = sa.select(*_VERIFY_COLUMNS).order_by(_TABLE.c.id).limit(batch_size)
        if last_id is not None:
            stmt = stmt.where(_TABLE.c.id > last_id)
        batch = session.execute(stmt).mappings().all()
        if not batch:
            return
        yield from batch
        last_id = int(batch[-1]["id"])
        if len(batch) < batch_size:
            return


def verify_chain(session: Session, batch_size: int = 1000) -> ChainReport:
    """Walk the log in id order and check every row's hash and its link to the row before.

    Stops at the first bad row and says why, in words:
    - "row 42 was edited: ..." when a row's contents no longer match its own hash;
    - "row 42 does not follow row 40: a row was deleted or the rows were reordered" when a
      row is intact but its ``prev_hash`` is not the hash of the row before it;
    - "row 1 does not start the chain: ..." when the first row links to something else
      (earlier rows deleted).
    Read-only; it does not record anything (``healthguard audit verify`` does).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    checked = 0
    prev_hash = GENESIS_HASH
    prev_id: int | None = None
    for row in _rows_in_id_order(session, batch_size):
        checked += 1
        row_id = int(row["id"])
        bad_reason: str | None = None
        try:
            recomputed: str | None = AuditEntry.from_row(row).digest()
        except (ValueError, TypeError) as exc:
            recomputed = None
            bad_reason = f"row {row_id} was edited: its contents cannot be hashed ({exc})"
        if bad_reason is None and recomputed != row["hash"]:
            bad_reason = f"row {row_id} was edited: its contents no longer match its hash"
        elif bad_reason is None and row["prev_hash"] != prev_hash:
            if prev_id is None:
                bad_reason = (
                    f"row {row_id} does not start the chain: earlier rows were deleted "
                    "or the rows were reordered"
                )
            else:
                bad_reason = (
                    f"row {row_id} does not follow row {prev_id}: a row was deleted or the "
                    "rows were reordered"
                )
        if bad_reason is not None:
            return ChainReport(
                ok=False,
                rows_checked=checked,
                head_hash=prev_hash if prev_id is not None else None,
                head_id=prev_id,
                first_bad_id=row_id,
                reason=bad_reason,
            )
        prev_hash = str(row["hash"])
        prev_id = row_id
    return ChainReport(
        ok=True,
        rows_checked=checked,
        head_hash=prev_hash if prev_id is not None else None,
        head_id=prev_id,
    )


# --- reading and export --------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor view and the export filter on. ``action`` may end in ``.*`` for a
    family (``"incident.*"``); ``since`` is inclusive, ``until`` exclusive."""

    actor: str | None = None
    action: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The filters that are set, JSON-ready (for the export's own audit row)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value is None:
                continue
            out[key] = canonical_datetime(value) if isinstance(value, datetime) else value
        return out


def _where(flt: AuditFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.actor is not None:
        clauses.append(_TABLE.c.actor == flt.actor)
    if flt.action is not None:
        if flt.action.endswith(".*"):
            family = flt.action[:-1]  # "incident."
            clauses.append(_TABLE.c.action.startswith(family, autoescape=True))
        else:
            clauses.append(_TABLE.c.action == flt.action)
    if flt.record_type is not None:
        clauses.append(_TABLE.c.record_type == flt.record_type)
    if flt.record_id is not None:
        clauses.append(_TABLE.c.record_id == flt.record_id)
    if flt.outcome is not None:
        clauses.append(_TABLE.c.outcome == flt.outcome)
    if flt.since is not None:
        canonical_datetime(flt.since)  # refuses naive datetimes
        clauses.append(_TABLE.c.at >= flt.since)
    if flt.until is not None:
        canonical_datetime(flt.until)
        clauses.append(_TABLE.c.at < flt.until)
    return clauses


MAX_QUERY_LIMIT = 10_000


def query_audit(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[AuditLog]:
    """Audit rows matching every given filter, newest first (by id, i.e. chain order).

    ``action="incident.*"`` matches a family; ``since`` inclusive, ``until`` exclusive;
    ``limit`` 1..10 000. Reading the log is not itself audited here: the auditor view decides
    (and a PHI-bearing search, e.g. by patient, should be recorded by the caller).
    """
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_QUERY_LIMIT}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    flt = AuditFilter(actor, action, record_type, record_id, outcome, since, until)
    stmt = (
        sa.select(AuditLog)
        .where(*_where(flt))
        .order_by(_TABLE.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.execute(stmt).scalars().all())


EXPORT_COLUMNS: tuple[str, ...] = (
    "id",
    "at",
    "actor",
    "action",
    "record_type",
    "record_id",
    "ip",
    "user_agent",
    "outcome",
    "details",
    "prev_hash",
    "hash",
)
ExportFormat = Literal["csv", "json"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _export_rows(
    session: Session, flt: AuditFilter, batch_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Matching rows, oldest first, as JSON-ready dicts, read in batches."""
    last_id: int | None = None
    while True:
        stmt = sa.select(*_VERIFY_COLUMNS).where(*_where(flt)).order_by(_TABLE.c.id)
        if last_id is not None:
            stmt = stmt.where(_TABLE.c.id > last_id)
        batch = session.execute(stmt.limit(batch_size)).mappings().all()
        for row in batch:
            item = {name: row[name] for name in EXPORT_COLUMNS}
            item["at"] = canonical_datetime(row["at"])
            yield item
        if len(batch) < batch_size:
            return
        last_id = int(batch[-1]["id"])


def _csv_cell(value: Any) -> str:
    """Text for a spreadsheet: JSON for details, '' for NULL, and a leading ' on anything
    that a spreadsheet would run as a formula (CSV injection from user agents, names...)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_audit(
    session: Session,
    fmt: ExportFormat,
    filters: AuditFilter | None = None,
) -> str:
    """The matching rows (oldest first, every column) as CSV or JSON text.

    CSV: a header row with ``EXPORT_COLUMNS``; ``details`` as JSON text; cells that a
    spreadsheet would treat as a formula get a leading ``'`` (use JSON for the exact values).
    JSON: ``{"format": "healthguard-audit-export/1", "filters": {...}, "count": N,
    "rows": [...]}``, exact values, so the hashes can be re-checked outside the product.

    This function does NOT audit the export: exporting the audit log is itself an audited
    action, which the CALLER records with ``record_audit(action="audit.exported", ...)`` in
    the same transaction. ``export_and_record`` does both and is what the UI and CLI use.
    """
    flt = filters or AuditFilter()
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for item in _export_rows(session, flt):
            writer.writerow([_csv_cell(item[name]) for name in EXPORT_COLUMNS])
        return buffer.getvalue()
    if fmt == "json":
        rows = list(_export_rows(session, flt))
        document = {
            "format": "healthguard-audit-export/1",
            "filters": flt.as_json(),
            "count": len(rows),
            "rows": rows,
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown export format {fmt!r}; expected 'csv' or 'json'")


def _count_exported(text: str, fmt: ExportFormat) -> int:
    if fmt == "json":
        return int(json.loads(text)["count"])
    return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)


def export_and_record(
    session: Session,
    actor: str,
    fmt: ExportFormat,
    filters: AuditFilter | None,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> str:
    """Export (``export_audit``) and record exactly one ``audit.exported`` row (format,
    filters, row count) in the same transaction; the export does not contain its own row."""
    flt = filters or AuditFilter()
    text = export_audit(session, fmt, flt)
    record_audit(
        session,
        actor=actor,
        action=AuditAction.AUDIT_EXPORTED,
        record_type="audit_log",
        now=now,
        ip=ip,
        user_agent=user_agent,
        details={"format": fmt, "filters": flt.as_json(), "rows": _count_exported(text, fmt)},
    )
    return text
