"""PagerDuty Events API v2: the body of ``POST /v2/enqueue`` -> :class:`InboundEvent`.

Pure: no I/O, no clock. Follows PagerDuty's documentation of the alert event
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/), so a stock PagerDuty
client (or Alertmanager's ``pagerduty_configs``) pointed at our base URL works:

============================  ========================================================
``routing_key``               required. PagerDuty's are 32 characters; we accept any
                              non-blank string up to 64 (our integration keys, and the
                              ``samplekeyhere`` of PagerDuty's own examples).
``event_action``              required: ``trigger``, ``acknowledge`` or ``resolve``.
``dedup_key``                 at most 255 characters (longer: refused, as PagerDuty
                              does). Required for acknowledge and resolve. A trigger
                              without one (or with a blank one) gets a new random key
                              (uuid4 hex, generator injectable), returned in the 202
                              answer, so every such trigger opens a new incident, as in
                              PagerDuty.
``payload``                   required for trigger; ignored for acknowledge/resolve
                              (PagerDuty ignores it), as are links, images and client.
``payload.summary``           required; longer than 1024 characters: truncated.
``payload.source``            required (truncated at 255 characters).
``payload.severity``          required: critical, error, warning, info (any case).
``payload.timestamp``         optional ISO 8601 (``2015-07-17T08:42:58.315+0000``).
``payload.component/group/    optional strings (truncated at 255 characters).
class``
``payload.custom_details``    optional, any JSON (an object as PagerDuty documents;
                              anything else is kept under ``{"custom_details": ...}``);
                              larger than ``max_details_bytes`` (512 KiB) as JSON:
                              refused.
``links``                     ``[{"href", "text"}]``: href required, http(s) only.
``images``                    ``[{"src", "href", "alt"}]``: src required, https only.
``client``, ``client_url``    optional (client_url http(s) only).
============================  ========================================================

Unknown fields are ignored. Every problem is reported at once, each naming its field, in
the 400 body PagerDuty answers (:func:`error_body`)::

    {"status": "invalid event", "message": "Event object is invalid",
     "errors": ["'payload.severity' must be one of critical, error, warning, info"]}

The route also caps the whole body (PagerDuty: 512 KB) before parsing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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

MAX_ROUTING_KEY_CHARS = 64
SUCCESS_MESSAGE = "Event processed"
INVALID_STATUS = "invalid event"
INVALID_MESSAGE = "Event object is invalid"


def new_dedup_key() -> str:
    """PagerDuty generates a random UUID for a trigger without a dedup_key; so do we."""
    return uuid.uuid4().hex


def routing_key_of(body: object) -> str:
    """The routing key alone (to find the integration and its severity mapping before
    :func:`parse_enqueue`). Raises :class:`InvalidEvent` naming ``routing_key``."""
    if not isinstance(body, dict):
        raise InvalidEvent("body", f"must be a JSON object, got {json_type(body)}")
    errors: list[FieldError] = []
    key = _routing_key(Fields(body, "", errors))
    if key is None:
        raise InvalidEvent.of(errors)
    return key


def parse_enqueue(
    body: object,
    *,
    severity_map: Mapping[str, str] | None = None,
    allow_p0: bool = False,
    dedup_key_factory: Callable[[], str] = new_dedup_key,
    max_details_bytes: int = MAX_DETAILS_BYTES,
) -> InboundEvent:
    """One Events API v2 alert event -> :class:`InboundEvent` (``source_kind="pagerduty"``).

    ``severity_map`` is the integration's (merged over the default; see
    :func:`healthguard.integrations.events.resolve_severity_map`, whose ``ValueError`` for a
    bad mapping is a configuration error, not an :class:`InvalidEvent`). Raises
    :class:`InvalidEvent` listing every problem.
    """
    mapping = resolve_severity_map(severity_map, allow_p0=allow_p0)
    if not isinstance(body, dict):
        raise InvalidEvent("body", f"must be a JSON object, got {json_type(body)}")
    errors: list[FieldError] = []
    top = Fields(body, "", errors)
    _routing_key(top)
    action = _action(top)
    dedup_key = top.text("dedup_key", max_chars=MAX_DEDUP_KEY_CHARS, truncate=False, strip=False)
    if action is None:
        raise InvalidEvent.of(errors)
    if action != "trigger":
        if dedup_key is None and not any(e.field == "dedup_key" for e in errors):
            top.error("dedup_key", f"is required to {action} (the key of the trigger)")
        if errors:
            raise InvalidEvent.of(errors)
        assert dedup_key is not None
        return InboundEvent(source_kind="pagerduty", action=action, dedup_key=dedup_key)

    raw_payload = body.get("payload")
    payload: Fields | None = None
    if not isinstance(raw_payload, dict):
        top.error(
            "payload",
            "is required for a trigger: an object with summary, source and severity"
            if raw_payload is None
            else f"must be an object, got {json_type(raw_payload)}",
        )
    else:
        payload = Fields(raw_payload, "payload", errors)
    summary = source = severity = None
    occurred_at = component = group = class_ = None
    details: dict[str, Any] = {}
    if payload is not None:
        summary = payload.text("summary", required=True, max_chars=MAX_SUMMARY_CHARS)
        source = payload.text("source", required=True)
        severity = _severity(payload)
        if payload.obj.get("timestamp") is not None:
            try:
                occurred_at = parse_timestamp(payload.obj["timestamp"], "payload.timestamp")
            except InvalidEvent as exc:
                errors.extend(exc.errors)
        component = payload.text("component")
        group = payload.text("group")
        class_ = payload.text("class")
        details, problem = normalise_details(
            payload.obj.get("custom_details"),
            field="payload.custom_details",
            wrap_key="custom_details",
            max_bytes=max_details_bytes,
        )
        if problem is not None:
            errors.append(problem)
    links = top.links()
    images = top.images()
    client = top.text("client")
    client_url = top.url("client_url")
    if errors:
        raise InvalidEvent.of(errors)
    assert summary is not None and source is not None and severity is not None
    generated = dedup_key is None
    return InboundEvent(
        source_kind="pagerduty",
        action="trigger",
        dedup_key=dedup_key if dedup_key is not None else dedup_key_factory(),
        dedup_key_generated=generated,
        summary=summary,
        source=source,
        severity=severity,
        priority=mapping[severity],
        occurred_at=occurred_at,
        component=component,
        group=group,
        class_=class_,
        details=details,
        links=links,
        images=images,
        client=client,
        client_url=client_url,
    )


def success_body(dedup_key: str) -> dict[str, str]:
    """The 202 answer."""
    return {"status": "success", "message": SUCCESS_MESSAGE, "dedup_key": dedup_key}


def error_body(problem: InvalidEvent | Sequence[FieldError] | Sequence[str]) -> dict[str, Any]:
    """The 400 answer, as PagerDuty words it; each error string names its field."""
    items: Sequence[FieldError] | Sequence[str] = (
        problem.errors if isinstance(problem, InvalidEvent) else problem
    )
    return {
        "status": INVALID_STATUS,
        "message": INVALID_MESSAGE,
        "errors": [str(item) for item in items],
    }


def _routing_key(top: Fields) -> str | None:
    raw = top.obj.get("routing_key")
    if isinstance(raw, str) and raw.strip() and len(raw.strip()) > MAX_ROUTING_KEY_CHARS:
        top.error(
            "routing_key",
            f"is too long ({len(raw.strip())} characters; integration keys are 32, "
            f"at most {MAX_ROUTING_KEY_CHARS})",
        )
        return None
    return top.text("routing_key", required=True, max_chars=MAX_ROUTING_KEY_CHARS)


def _action(top: Fields) -> Action | None:
    raw = top.obj.get("event_action")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        top.error("event_action", "is missing or blank (trigger, acknowledge or resolve)")
        return None
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in ACTIONS:
        top.error("event_action", f"must be one of {', '.join(ACTIONS)}, got {_show(raw)}")
        return None
    return value


def _severity(payload: Fields) -> Severity | None:
    raw = payload.obj.get("severity")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        payload.error("severity", f"is missing or blank ({', '.join(SEVERITIES)})")
        return None
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in SEVERITIES:
        payload.error("severity", f"must be one of {', '.join(SEVERITIES)}, got {_show(raw)}")
        return None
    return value


def _show(raw: object) -> str:
    return echo(raw, 40)
