"""The one internal inbound-event type every integration is normalised to, its errors, and
the helpers the parsers share (severity -> priority, timestamps, custom-details limits).

Pure: no I/O, no clock. Every parser in this package raises only :class:`InvalidEvent`,
whatever it is given; every error names the field (``payload.summary``,
``alerts[2].startsAt``, ...).

Severity -> priority: a per-integration mapping merged over :data:`DEFAULT_SEVERITY_PRIORITY`
(``critical`` P1, ``error`` P2, ``warning`` P3, ``info`` P4). P0 is reserved for clinical
arrest and never comes from a machine event unless an integration is explicitly configured
with ``allow_p0=True``.

Storable output: every text field and ``details`` of an :class:`InboundEvent` can be written
to Postgres as is: NUL characters and lone surrogates (both accepted by Python's ``json``
but refused by Postgres ``text``/``jsonb``) are replaced by U+FFFD, and non-finite numbers
(``NaN``, ``Infinity``, also accepted by Python's ``json``) in details become the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, get_args

SourceKind = Literal["pagerduty", "alertmanager", "generic", "heartbeat"]
Action = Literal["trigger", "acknowledge", "resolve"]
Severity = Literal["critical", "error", "warning", "info"]
Priority = Literal["P0", "P1", "P2", "P3", "P4"]

SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)
ACTIONS: tuple[Action, ...] = get_args(Action)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

DEFAULT_SEVERITY_PRIORITY: Mapping[Severity, Priority] = MappingProxyType(
    {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}
)

MAX_SUMMARY_CHARS = 1024  # PagerDuty's limit for payload.summary (longer ones are truncated)
MAX_DEDUP_KEY_CHARS = 255  # PagerDuty's limit for dedup_key (longer ones are refused)
MAX_LABEL_CHARS = 255  # source, component, group, class, client (longer ones are truncated)
MAX_URL_CHARS = 2048
MAX_DETAILS_BYTES = 512 * 1024  # PagerDuty's limit for a whole event; ours for the details


@dataclass(frozen=True)
class FieldError:
    """One problem with one field; ``field`` is a path such as ``payload.severity``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"'{self.field}' {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidEvent(Exception):
    """An event (or a whole notification) that cannot be accepted.

    ``field`` and ``message`` are those of the first error; ``errors`` lists them all.
    """

    def __init__(self, field: str, message: str, *, errors: Sequence[FieldError] = ()) -> None:
        self.field = field
        self.message = message
        self.errors: list[FieldError] = list(errors) or [FieldError(field, message)]
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def of(cls, errors: Sequence[FieldError]) -> InvalidEvent:
        if not errors:
            raise ValueError("InvalidEvent.of needs at least one error")
        return cls(errors[0].field, errors[0].message, errors=errors)

    def as_dicts(self) -> list[dict[str, str]]:
        return [e.as_dict() for e in self.errors]


@dataclass(frozen=True)
class Link:
    href: str
    text: str | None = None


@dataclass(frozen=True)
class Image:
    src: str
    href: str | None = None
    alt: str | None = None


@dataclass(frozen=True, kw_only=True)
class InboundEvent:
    """One machine event, whatever format it came in.

    ``dedup_key`` is the key as the sender knows it (PagerDuty: returned verbatim in the 202
    answer, so the service must scope it by integration, as PagerDuty scopes it by routing
    key); Alertmanager and heartbeat keys already contain the integration id.
    ``severity``/``priority`` are ``None`` only for a PagerDuty or generic acknowledge or
    resolve without them (PagerDuty ignores the payload of those). ``occurred_at`` is when
    the sender says it happened (``None``: not said; use the receipt time).
    """

    source_kind: SourceKind
    action: Action
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: Severity | None = None
    priority: Priority | None = None
    occurred_at: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    images: tuple[Image, ...] = ()
    group_key: str | None = None
    client: str | None = None
    client_url: str | None = None
    dedup_key_generated: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (e.g. the payload of the timeline entry recording the event)."""
        return {
            "source_kind": self.source_kind,
            "action": self.action,
            "dedup_key": self.dedup_key,
            "summary": self.summary,
            "source": self.source,
            "severity": self.severity,
            "priority": self.priority,
            "occurred_at": iso(self.occurred_at),
            "component": self.component,
            "group": self.group,
            "class": self.class_,
            "details": dict(self.details),
            "links": [{"href": x.href, "text": x.text} for x in self.links],
            "images": [{"src": x.src, "href": x.href, "alt": x.alt} for x in self.images],
            "group_key": self.group_key,
            "client": self.client,
            "client_url": self.client_url,
            "dedup_key_generated": self.dedup_key_generated,
        }


def iso(value: datetime | None) -> str | None:
    """``2025-01-01T08:00:00Z`` (UTC, microseconds only when present)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- severity -> priority ---------------------------------------------------------------------


def resolve_severity_map(
    overrides: Mapping[str, str] | None = None, *, allow_p0: bool = False
) -> dict[Severity, Priority]:
    """The complete mapping: ``overrides`` (some or all severities) over the default.

    Raises ``ValueError`` naming the bad entry (a configuration error, checked when an
    integration is saved): unknown severity, unknown priority, or P0 without ``allow_p0``.
    """
    result: dict[Severity, Priority] = dict(DEFAULT_SEVERITY_PRIORITY)
    for key, value in (overrides or {}).items():
        severity = key.strip().lower() if isinstance(key, str) else key
        if severity not in SEVERITIES:
            raise ValueError(
                f"severity_map: {key!r} is not a severity (one of {', '.join(SEVERITIES)})"
            )
        priority = value.strip().upper() if isinstance(value, str) else value
        if priority not in PRIORITIES:
            raise ValueError(
                f"severity_map[{key!r}]: {value!r} is not a priority (one of "
                f"{', '.join(PRIORITIES)})"
            )
        if priority == "P0" and not allow_p0:
            raise ValueError(
                f"severity_map[{key!r}]: P0 is reserved for clinical arrest; machine events "
                "map to P1-P4 unless the integration explicitly allows P0"
            )
        result[severity] = priority
    return result


def priority_for(
    severity: Severity, severity_map: Mapping[str, str] | None = None, *, allow_p0: bool = False
) -> Priority:
    return resolve_severity_map(severity_map, allow_p0=allow_p0)[severity]


# --- timestamps --------------------------------------------------------------------------------


def parse_timestamp(raw: object, field: str) -> datetime:
    """An ISO 8601 / RFC 3339 time -> an aware UTC datetime.

    Accepts ``Z``, ``+00:00`` and ``+0000`` offsets (PagerDuty's own example uses
    ``2015-07-17T08:42:58.315+0000``), any number of fractional digits (Go writes
    nanoseconds: ``2024-01-02T03:04:05.123456789Z``; truncated to microseconds). A time
    without an offset is taken as UTC. Raises :class:`InvalidEvent` naming ``field``.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidEvent(field, "must be an ISO 8601 time, e.g. 2025-01-01T08:00:00Z")
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent(
            field, f"{echo(raw)} is not an ISO 8601 time, e.g. 2025-01-01T08:00:00Z"
        ) from None
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00:00+01:00
        raise InvalidEvent(field, f"{echo(raw)} is out of the supported range") from None


# --- details (custom_details, labels, ...) ----------------------------------------------------


def normalise_details(
    value: object, *, field: str, wrap_key: str, max_bytes: int = MAX_DETAILS_BYTES
) -> tuple[dict[str, Any], FieldError | None]:
    """Any JSON value -> a storable object: objects as they are, ``null`` -> ``{}``, anything
    else under ``wrap_key`` (``{"custom_details": "disk full"}``).

    Refused (with an error naming ``field``) when its JSON encoding exceeds ``max_bytes``,
    is nested too deeply, or is not JSON at all (non-string keys, other Python objects).
    """
    if value is None:
        return {}, None
    try:
        encoded = _dumps(value)
        encoded.encode("utf-8")
        storable = "\\u0000" not in encoded
    except RecursionError:
        return {}, FieldError(field, "is nested too deeply")
    except (TypeError, ValueError):  # NaN / Infinity, lone surrogates, or not JSON at all
        storable = False
    if not storable:
        try:
            value = _clean_json(value)
            encoded = _dumps(value)
        except RecursionError:
            return {}, FieldError(field, "is nested too deeply")
        except (TypeError, ValueError):
            return {}, FieldError(field, "is not a JSON value")
    size = len(encoded.encode("utf-8"))
    if size > max_bytes:
        return {}, FieldError(
            field,
            f"is too large: {size} bytes of JSON, the limit is {max_bytes} bytes "
            f"({max_bytes // 1024} KiB); send the bulk elsewhere and link to it",
        )
    if isinstance(value, dict):
        return value, None
    return {wrap_key: value}, None


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _clean_json(value: object) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("keys must be strings")
            cleaned[clean_text(key)] = _clean_json(item)
        return cleaned
    if isinstance(value, list | tuple):
        return [_clean_json(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- text -----------------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """Storable text: NUL and lone surrogates -> U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def echo(value: object, limit: int = 60) -> str:
    """A short, safe rendering of a bad value for an error message."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages ("got a number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
