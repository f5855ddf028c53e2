"""A generic JSON webhook for anything that speaks neither PagerDuty nor Alertmanager.

Pure: no I/O, no clock. The body::

    {"summary": "Oxygen supply pressure low, ward 7", "action": "trigger",
     "dedup": "o2-ward7", "severity": "critical", "details": {"bar": 3.1}}

==============  ===========================================================================
``action``      ``trigger`` (default), ``acknowledge`` or ``resolve``.
``summary``     required for a trigger (truncated at 1024 characters); optional otherwise.
``dedup``       at most 255 characters; required to acknowledge or resolve. A trigger
                without one gets a new random key (uuid4 hex; injectable), returned to the
                caller so it can resolve later; every such trigger opens a new incident.
``severity``    critical, error, warning or info (any case); mapped to a priority by the
                integration's mapping. Default ``warning`` for a trigger; none (and no
                priority) for an acknowledge or resolve that does not give one.
``details``     optional, any JSON (an object is kept as is; anything else under
                ``{"details": ...}``); larger than 512 KiB as JSON: refused.
``source``      optional (default ``generic``), truncated at 255 characters.
``timestamp``   optional ISO 8601 time.
==============  ===========================================================================

Unknown fields are ignored. Raises only :class:`InvalidEvent`, listing every problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from healthguard.integrations._fields import Fields
from healthguard.integrations.events import (
    ACTIONS,
    MAX_DEDUP_KEY_CHARS,
    MAX_DETAILS_BYTES,
    MAX_SUMMARY_CHARS,
    SEVERITIES,
    Action,
    FieldError,
    InboundEvent,
    InvalidEvent,
    Severity,
    echo,
    json_type,
    normalise_details,
    parse_timestamp,
    resolve_severity_map,
)
from healthguard.integrations.pagerduty import new_dedup_key

DEFAULT_SOURCE = "generic"
DEFAULT_SEVERITY: Severity = "warning"


def parse_generic(
    body: object,
    *,
    severity_map: Mapping[str, str] | None = None,
    allow_p0: bool = False,
    dedup_key_factory: Callable[[], str] = new_dedup_key,
    max_details_bytes: int = MAX_DETAILS_BYTES,
) -> InboundEvent:
    """One generic webhook body -> :class:`InboundEvent` (``source_kind="generic"``)."""
    mapping = resolve_severity_map(severity_map, allow_p0=allow_p0)
    if not isinstance(body, dict):
        raise InvalidEvent("body", f"must be a JSON object, got {json_type(body)}")
    errors: list[FieldError] = []
    fields = Fields(body, "", errors)
    action = _action(fields)
    dedup = fields.text("dedup", max_chars=MAX_DEDUP_KEY_CHARS, truncate=False, strip=False)
    summary = fields.text("summary", required=action == "trigger", max_chars=MAX_SUMMARY_CHARS)
    severity = _severity(fields, default=DEFAULT_SEVERITY if action == "trigger" else None)
    source = fields.text("source") or DEFAULT_SOURCE
    occurred_at = None
    if body.get("timestamp") is not None:
        try:
            occurred_at = parse_timestamp(body["timestamp"], "timestamp")
        except InvalidEvent as exc:
            errors.extend(exc.errors)
    details, problem = normalise_details(
        body.get("details"), field="details", wrap_key="details", max_bytes=max_details_bytes
    )
    if problem is not None:
        errors.append(problem)
    if (
        action is not None
        and action != "trigger"
        and dedup is None
        and not any(e.field == "dedup" for e in errors)
    ):
        fields.error("dedup", f"is required to {action} (the dedup key of the trigger)")
    if errors:
        raise InvalidEvent.of(errors)
    assert action is not None
    return InboundEvent(
        source_kind="generic",
        action=action,
        dedup_key=dedup if dedup is not None else dedup_key_factory(),
        dedup_key_generated=dedup is None,
        summary=summary or "",
        source=source,
        severity=severity,
        priority=mapping[severity] if severity is not None else None,
        occurred_at=occurred_at,
        details=details,
    )


def _action(fields: Fields) -> Action | None:
    raw = fields.obj.get("action")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return "trigger"
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in ACTIONS:
        fields.error("action", f"must be one of {', '.join(ACTIONS)}, got {echo(raw, 40)}")
        return None
    return value


def _severity(fields: Fields, *, default: Severity | None) -> Severity | None:
    raw = fields.obj.get("severity")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in SEVERITIES:
        fields.error("severity", f"must be one of {', '.join(SEVERITIES)}, got {echo(raw, 40)}")
        return None
    return value
