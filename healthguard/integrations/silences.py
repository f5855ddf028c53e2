"""Maintenance windows and silences: pure matching, the clock is passed in.

A :class:`Silence` has a scope (integration, ward, patient, rule: any of them), a window
``[starts_at, ends_at)`` (starts_at inclusive, ends_at exclusive), a reason and an author.

- **Matching** (:func:`silence_matches`): every field given in the scope must equal the
  event's; a field not given is a wildcard. An event that does not carry a field the scope
  gives (a ward-scoped silence and an event with no ward) does not match: a silence never
  widens. Ids compare as strings, so ``uuid.UUID`` and its string match.
- **Active** at ``now`` when ``starts_at <= now < ends_at``: scheduled ahead, it starts by
  itself; it expires by itself (nothing to clean up). :func:`active_silence` returns the
  matching active silence that ends last (ties: smallest id), the one to show.
- **Creation** (:func:`validate_silence`): the scope must give at least one field (an empty
  scope would silence everything), no blank fields, an aware ``starts_at < ends_at``, at
  most ``max_duration`` long (default 7 days), not already over, starting within
  ``max_lead`` (default 90 days), a reason (at most 500 characters) and an author.
- **Reminders** (:func:`reminders_due`): a silence longer than ``long_threshold`` (1 h),
  active, and ending within ``lead`` (15 min): ``ends_at - lead <= now < ends_at``.

Suppressed events are still recorded by the service; this module only decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from healthguard.integrations.events import FieldError, json_type

Id = str | uuid.UUID
MAX_DURATION = timedelta(days=7)
MAX_LEAD = timedelta(days=90)
MAX_REASON_CHARS = 500
DEFAULT_REMINDER_LEAD = timedelta(minutes=15)
DEFAULT_LONG_THRESHOLD = timedelta(hours=1)
SCOPE_FIELDS = ("integration_id", "ward_code", "patient_id", "rule")


class InvalidSilence(ValueError):
    """``field``/``message`` of the first problem; ``errors`` all of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        if not errors:
            raise ValueError("InvalidSilence needs at least one error")
        self.errors = errors
        self.field = errors[0].field
        self.message = errors[0].message
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class SilenceScope:
    integration_id: Id | None = None
    ward_code: str | None = None
    patient_id: Id | None = None
    rule: str | None = None

    @classmethod
    def from_mapping(cls, raw: object) -> SilenceScope:
        """From a JSON object; unknown keys and non-string values raise
        :class:`InvalidSilence` (``scope``, ``scope.ward_code``, ...)."""
        if not isinstance(raw, Mapping):
            raise InvalidSilence([FieldError("scope", f"must be an object, got {json_type(raw)}")])
        errors = [
            FieldError(f"scope.{key}", f"is not a scope field ({', '.join(SCOPE_FIELDS)})")
            for key in raw
            if key not in SCOPE_FIELDS
        ]
        values: dict[str, str | None] = {}
        for key in SCOPE_FIELDS:
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                errors.append(
                    FieldError(f"scope.{key}", f"must be a string, got {json_type(value)}")
                )
                continue
            values[key] = value
        if errors:
            raise InvalidSilence(errors)
        return cls(**values)

    def given(self) -> dict[str, str]:
        """The fields that restrict the scope, as strings."""
        return {
            f.name: str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @property
    def is_empty(self) -> bool:
        return not self.given()


@dataclass(frozen=True)
class Silence:
    id: Id
    scope: SilenceScope
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: Id

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    def is_active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class EventContext:
    """What an event is about, as far as silences care (fields it does not have: ``None``).

    ``rule``: the clinical rule code, or the alert's name (``alertname``) for machine events.
    """

    integration_id: Id | None = None
    ward_code: str | None = None
    patient_id: Id | None = None
    rule: str | None = None


def validate_silence(
    silence: Silence,
    *,
    now: datetime,
    max_duration: timedelta = MAX_DURATION,
    max_lead: timedelta = MAX_LEAD,
) -> None:
    """Raise :class:`InvalidSilence` listing every problem (see the module documentation)."""
    errors: list[FieldError] = []
    scope = silence.scope
    if not isinstance(scope, SilenceScope):
        errors.append(FieldError("scope", "must be a SilenceScope"))
    else:
        for name in SCOPE_FIELDS:
            value = getattr(scope, name)
            if value is not None and not str(value).strip():
                errors.append(
                    FieldError(f"scope.{name}", "must not be blank; leave it out to match any")
                )
        if scope.is_empty:
            errors.append(
                FieldError(
                    "scope",
                    "must name at least one of integration_id, ward_code, patient_id, rule "
                    "(an empty scope would silence everything)",
                )
            )
    times_ok = True
    for name in ("starts_at", "ends_at"):
        value = getattr(silence, name)
        if not isinstance(value, datetime) or value.tzinfo is None:
            errors.append(FieldError(name, "must be a timezone-aware time"))
            times_ok = False
    if times_ok:
        if silence.ends_at <= silence.starts_at:
            errors.append(FieldError("ends_at", "must be after starts_at"))
        elif silence.duration > max_duration:
            errors.append(
                FieldError(
                    "ends_at",
                    f"makes the silence {_hours(silence.duration)} long; the most is "
                    f"{_hours(max_duration)}",
                )
            )
        if silence.ends_at <= now:
            errors.append(FieldError("ends_at", "is already past"))
        if silence.starts_at > now + max_lead:
            errors.append(FieldError("starts_at", f"is more than {max_lead.days} days ahead"))
    if not isinstance(silence.reason, str) or not silence.reason.strip():
        errors.append(FieldError("reason", "is required (why alerts are silenced)"))
    elif len(silence.reason) > MAX_REASON_CHARS:
        errors.append(FieldError("reason", f"is longer than {MAX_REASON_CHARS} characters"))
    if silence.created_by is None or not str(silence.created_by).strip():
        errors.append(FieldError("created_by", "is required"))
    if errors:
        raise InvalidSilence(errors)


def silence_matches(scope: SilenceScope, context: EventContext) -> bool:
    """Every field the scope gives equals the event's; an empty scope matches nothing."""
    given = scope.given()
    if not given:
        return False
    for name, wanted in given.items():
        actual: Any = getattr(context, name)
        if actual is None or str(actual) != wanted:
            return False
    return True


def active_silence(
    context: EventContext, silences: Iterable[Silence], now: datetime
) -> Silence | None:
    """The active silence covering the event (the one ending last, ties: smallest id), or
    ``None``."""
    covering = sorted(
        (s for s in silences if s.is_active(now) and silence_matches(s.scope, context)),
        key=lambda s: str(s.id),
    )
    return max(covering, key=lambda s: s.ends_at) if covering else None  # first of equals


def reminders_due(
    silences: Iterable[Silence],
    now: datetime,
    lead: timedelta = DEFAULT_REMINDER_LEAD,
    long_threshold: timedelta = DEFAULT_LONG_THRESHOLD,
    *,
    already_reminded: Collection[Id] = (),
) -> list[Silence]:
    """Long silences (strictly longer than ``long_threshold``) that are active and end within
    ``lead`` (``ends_at - lead <= now < ends_at``), soonest end first; those whose id is in
    ``already_reminded`` are left out (the caller records the reminders it sent)."""
    reminded = {str(i) for i in already_reminded}
    due = [
        s
        for s in silences
        if s.duration > long_threshold
        and s.is_active(now)
        and s.ends_at - lead <= now
        and str(s.id) not in reminded
    ]
    return sorted(due, key=lambda s: (s.ends_at, str(s.id)))


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
