"""Prometheus Alertmanager webhook (payload version 4) -> one :class:`InboundEvent` per alert.

Pure: no I/O, no clock. The body Alertmanager POSTs to a ``webhook_configs`` receiver::

    {"version": "4", "groupKey": "{}:{alertname=\\"GatewayDown\\"}", "truncatedAlerts": 0,
     "status": "firing", "receiver": "healthguard", "groupLabels": {...},
     "commonLabels": {...}, "commonAnnotations": {...}, "externalURL": "http://am:9093",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "2024-01-02T03:04:05.123456789Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom:9090/graph?...",
                 "fingerprint": "fbab788ec4c1018b"}]}

Per alert:

- ``firing`` -> ``trigger``, ``resolved`` -> ``resolve``.
- dedup key ``alertmanager:<integration id>:<fingerprint>``: one incident per alert per
  integration (two Alertmanagers, or two integrations, never collide; the same alert sent in
  two groups is still one incident). No ``fingerprint`` (Alertmanager before 0.19, or a
  hand-written body): computed from the labels exactly as Alertmanager does (FNV-1a 64 over
  the sorted label pairs, :func:`alert_fingerprint`).
- ``group_key`` = ``groupKey`` (the service groups by it); longer than 255 characters (many
  group labels): ``sha256:<hex digest>`` of it instead, stable and storable.
- summary: ``annotations.summary``, else ``annotations.description``, else
  ``labels.alertname`` (truncated at 1024 characters); source: ``labels.instance``, else
  ``labels.job``, else the receiver; component ``labels.job``; class ``labels.alertname``;
  group ``labels.service``.
- severity: ``labels.severity`` (critical, error, warning, info, any case); missing or
  anything else -> ``warning``; then the integration's severity -> priority mapping.
- ``occurred_at``: ``startsAt`` for firing, ``endsAt`` for resolved. Go's zero time
  ``0001-01-01T00:00:00Z`` means unset (``None``). Go RFC 3339 times with nanoseconds are
  accepted (truncated to microseconds).
- links: ``generatorURL``, ``annotations.runbook_url`` and ``externalURL`` when they are
  absolute http(s) URLs (anything else stays in the details only).
- details: labels, annotations, startsAt, endsAt, fingerprint, generatorURL, receiver,
  externalURL, groupLabels.

Errors: an envelope that is not version 4 (``version``), or whose ``alerts`` is not a list,
or with a malformed envelope field, raises :class:`InvalidEvent` (nothing is taken). A
malformed alert is refused alone: its errors (``alerts[2].status``, ...) are returned in
:attr:`AlertmanagerNotification.errors` next to the events of the good alerts, because
Alertmanager does not retry a 4xx answer and the good alerts must not be lost; only when
every alert is refused does :func:`parse_webhook` raise. ``null`` objects (Alertmanager
sends ``"commonAnnotations": null``) are empty objects.

Out-of-order notifications (retries, HA pairs, a slow receiver): see :func:`is_stale`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from healthguard.integrations._fields import Fields, url_problem
from healthguard.integrations.events import (
    MAX_DETAILS_BYTES,
    MAX_LABEL_CHARS,
    MAX_SUMMARY_CHARS,
    SEVERITIES,
    FieldError,
    InboundEvent,
    InvalidEvent,
    Link,
    Priority,
    Severity,
    clean_text,
    echo,
    iso,
    json_type,
    normalise_details,
    parse_timestamp,
    resolve_severity_map,
)

SUPPORTED_VERSION = "4"
STATUSES = ("firing", "resolved")
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
MAX_FINGERPRINT_CHARS = 128
MAX_GROUP_KEY_CHARS = 255  # longer group keys are replaced by "sha256:<hex digest>"
DEFAULT_SEVERITY: Severity = "warning"

_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
_SEPARATOR = 0xFF  # model.SeparatorByte: cannot occur in UTF-8


@dataclass(frozen=True)
class AlertmanagerNotification:
    """One webhook notification: the group's envelope, the events of its acceptable alerts
    (in the order sent) and the errors of the refused ones."""

    version: str
    group_key: str | None
    status: str | None
    receiver: str | None
    external_url: str | None
    truncated_alerts: int
    group_labels: Mapping[str, str] = field(default_factory=dict)
    events: tuple[InboundEvent, ...] = ()
    errors: tuple[FieldError, ...] = ()


def parse_webhook(
    body: object,
    *,
    integration_id: str,
    severity_map: Mapping[str, str] | None = None,
    allow_p0: bool = False,
    max_details_bytes: int = MAX_DETAILS_BYTES,
) -> AlertmanagerNotification:
    """Parse one Alertmanager v4 notification (see the module documentation).

    ``integration_id`` (non-blank; a ``ValueError`` otherwise: a caller bug) scopes the dedup
    keys. Raises :class:`InvalidEvent` for a bad envelope or when no alert is acceptable.
    """
    if not isinstance(integration_id, str) or not integration_id.strip():
        raise ValueError("integration_id is required to scope Alertmanager dedup keys")
    mapping = resolve_severity_map(severity_map, allow_p0=allow_p0)
    if not isinstance(body, dict):
        raise InvalidEvent("body", f"must be a JSON object, got {json_type(body)}")
    envelope_errors: list[FieldError] = []
    top = Fields(body, "", envelope_errors)
    version = body.get("version")
    if version is None:
        top.error(
            "version", f'is missing (this endpoint takes payload version "{SUPPORTED_VERSION}")'
        )
    elif not (
        (isinstance(version, str) and version.strip() == SUPPORTED_VERSION)
        or (type(version) is int and version == int(SUPPORTED_VERSION))
    ):
        top.error(
            "version",
            f'must be "{SUPPORTED_VERSION}" (Alertmanager webhook payload version '
            f"{SUPPORTED_VERSION}), got {echo(version, 40)}",
        )
        raise InvalidEvent.of(envelope_errors)  # another format: do not guess at the rest
    group_key = _group_key(top)
    status = _status(top, "status", required=False)
    receiver = top.text("receiver")
    external_url = top.text("externalURL", max_chars=2048)
    truncated = body.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        top.error("truncatedAlerts", f"must be a whole number >= 0, got {echo(truncated, 40)}")
        truncated = 0
    group_labels = _string_map(body.get("groupLabels"), "groupLabels", envelope_errors)
    _string_map(body.get("commonLabels"), "commonLabels", envelope_errors)
    _string_map(body.get("commonAnnotations"), "commonAnnotations", envelope_errors)
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        top.error(
            "alerts",
            "is missing: a list of alerts"
            if alerts is None
            else f"must be a list of alerts, got {json_type(alerts)}",
        )
    if envelope_errors:
        raise InvalidEvent.of(envelope_errors)
    assert isinstance(alerts, list)

    context = _Envelope(
        integration_id=integration_id.strip(),
        group_key=group_key,
        receiver=receiver,
        external_url=external_url,
        group_labels=group_labels or {},
        mapping=mapping,
        max_details_bytes=max_details_bytes,
    )
    events: list[InboundEvent] = []
    alert_errors: list[FieldError] = []
    for index, alert in enumerate(alerts):
        errors: list[FieldError] = []
        event = _alert(alert, f"alerts[{index}]", context, errors)
        if event is not None and not errors:
            events.append(event)
        alert_errors.extend(errors)
    if alert_errors and not events:
        raise InvalidEvent.of(alert_errors)
    return AlertmanagerNotification(
        version=SUPPORTED_VERSION,
        group_key=group_key,
        status=status,
        receiver=receiver,
        external_url=external_url,
        truncated_alerts=truncated,
        group_labels=group_labels or {},
        events=tuple(events),
        errors=tuple(alert_errors),
    )


def dedup_key_for(integration_id: str, fingerprint: str) -> str:
    return f"alertmanager:{integration_id}:{fingerprint}"


def alert_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (``model.LabelSet.Fingerprint``, 16 hex).

    FNV-1a 64 over ``name 0xFF value 0xFF`` for each label, names in byte order.
    """
    value = _FNV64_OFFSET
    for name in sorted(labels, key=lambda n: n.encode("utf-8", "replace")):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "replace"):
                value = ((value ^ byte) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
            value = ((value ^ _SEPARATOR) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def parse_go_time(raw: object, field: str) -> datetime | None:
    """An RFC 3339 time as Go writes it (nanoseconds allowed); absent, blank or Go's zero time
    ``0001-01-01T00:00:00Z`` -> ``None``. Raises :class:`InvalidEvent` naming ``field``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = parse_timestamp(raw, field)
    return None if value == GO_ZERO_TIME else value


def is_stale(event: InboundEvent, last_seen_at: datetime | None) -> bool:
    """Whether an Alertmanager event arrived out of order and must be ignored (recorded, not
    applied).

    The rule: each event has a time, ``occurred_at`` (``startsAt`` of a firing alert,
    ``endsAt`` of a resolved one). Per dedup key the service keeps ``last_seen_at``, the
    latest time of the events it applied (:func:`advance_last_seen`). An event whose time is
    strictly earlier than that is stale:

    - a late ``firing`` (startsAt 10:00) after the ``resolved`` (endsAt 10:05) of the same
      alert: 10:00 < 10:05, stale; the incident stays resolved;
    - the alert firing again later is a new alert instance with a new startsAt (10:20 >=
      10:05): applied, a new trigger;
    - a late ``resolved`` (endsAt 10:05) after that new firing (startsAt 10:20): stale; the
      new incident stays open;
    - repeats (same time, e.g. the two Alertmanagers of an HA pair, or the group's
      ``repeat_interval``) are not stale; dedup makes them idempotent.

    Events without a time (Go zero time, or not from Alertmanager) are never stale.
    """
    if event.source_kind != "alertmanager" or event.occurred_at is None or last_seen_at is None:
        return False
    return event.occurred_at < last_seen_at


def advance_last_seen(last_seen_at: datetime | None, event: InboundEvent) -> datetime | None:
    """The ``last_seen_at`` to store after applying ``event`` (the later of the two)."""
    if event.occurred_at is None:
        return last_seen_at
    if last_seen_at is None:
        return event.occurred_at
    return max(last_seen_at, event.occurred_at)


@dataclass(frozen=True)
class _Envelope:
    integration_id: str
    group_key: str | None
    receiver: str | None
    external_url: str | None
    group_labels: Mapping[str, str]
    mapping: Mapping[Severity, Priority]
    max_details_bytes: int


def _alert(raw: object, path: str, env: _Envelope, errors: list[FieldError]) -> InboundEvent | None:
    if not isinstance(raw, dict):
        errors.append(FieldError(path, f"must be an object, got {json_type(raw)}"))
        return None
    alert = Fields(raw, path, errors)
    status = _status(alert, "status", required=True)
    labels = _string_map(raw.get("labels"), f"{path}.labels", errors)
    annotations = _string_map(raw.get("annotations"), f"{path}.annotations", errors)
    starts_at = _time(raw, "startsAt", path, errors)
    ends_at = _time(raw, "endsAt", path, errors)
    generator_url = alert.text("generatorURL", max_chars=4096)
    fingerprint = alert.text(
        "fingerprint", max_chars=MAX_FINGERPRINT_CHARS, truncate=False, strip=True
    )
    if errors or status is None or labels is None or annotations is None:
        return None
    if fingerprint is None:
        fingerprint = alert_fingerprint(labels)
    severity_label = labels.get("severity", "").strip().lower()
    severity = severity_label if severity_label in SEVERITIES else DEFAULT_SEVERITY
    alertname = _label(labels, "alertname")
    summary = (
        _label(annotations, "summary")
        or _label(annotations, "description")
        or alertname
        or f"Alertmanager alert {fingerprint}"
    )[:MAX_SUMMARY_CHARS]
    details, problem = normalise_details(
        {
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": iso(starts_at),
            "endsAt": iso(ends_at),
            "fingerprint": fingerprint,
            "generatorURL": generator_url,
            "receiver": env.receiver,
            "externalURL": env.external_url,
            "groupLabels": dict(env.group_labels),
        },
        field=path,
        wrap_key="alert",
        max_bytes=env.max_details_bytes,
    )
    if problem is not None:
        errors.append(problem)
        return None
    links = [
        Link(href=url, text=text)
        for url, text in (
            (generator_url, "Alert source (Prometheus)"),
            (annotations.get("runbook_url"), "Runbook"),
            (env.external_url, "Alertmanager"),
        )
        if url and url_problem(url) is None
    ]
    return InboundEvent(
        source_kind="alertmanager",
        action="trigger" if status == "firing" else "resolve",
        dedup_key=dedup_key_for(env.integration_id, fingerprint),
        summary=summary,
        source=(
            _label(labels, "instance") or _label(labels, "job") or env.receiver or "alertmanager"
        )[:MAX_LABEL_CHARS],
        severity=severity,
        priority=env.mapping[severity],
        occurred_at=starts_at if status == "firing" else ends_at,
        component=_short(_label(labels, "job")),
        group=_short(_label(labels, "service")),
        class_=_short(alertname),
        details=details,
        links=tuple(links),
        group_key=env.group_key,
    )


def _group_key(top: Fields) -> str | None:
    raw = top.obj.get("groupKey")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        top.error("groupKey", f"must be a string, got {json_type(raw)}")
        return None
    value = clean_text(raw)
    if len(value) > MAX_GROUP_KEY_CHARS:
        return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()
    return value


def _status(fields: Fields, key: str, *, required: bool) -> str | None:
    raw = fields.obj.get(key)
    if raw is None:
        if required:
            fields.error(key, "is missing (firing or resolved)")
        return None
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in STATUSES:
        fields.error(key, f"must be firing or resolved, got {echo(raw, 40)}")
        return None
    return value


def _time(raw: Mapping[str, Any], key: str, path: str, errors: list[FieldError]) -> datetime | None:
    try:
        return parse_go_time(raw.get(key), f"{path}.{key}")
    except InvalidEvent as exc:
        errors.extend(exc.errors)
        return None


def _string_map(raw: object, path: str, errors: list[FieldError]) -> dict[str, str] | None:
    """Labels or annotations: an object of strings (``null`` -> ``{}``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(FieldError(path, f"must be an object of strings, got {json_type(raw)}"))
        return None
    result: dict[str, str] = {}
    ok = True
    for key, value in raw.items():
        if not isinstance(value, str):
            errors.append(FieldError(f"{path}.{key}", f"must be a string, got {json_type(value)}"))
            ok = False
            continue
        result[clean_text(str(key))] = clean_text(value)
    return result if ok else None


def _label(labels: Mapping[str, str], name: str) -> str | None:
    value = labels.get(name, "").strip()
    return value or None


def _short(value: str | None) -> str | None:
    return value[:MAX_LABEL_CHARS] if value is not None else None
