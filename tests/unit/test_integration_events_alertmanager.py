"""Prometheus Alertmanager webhook (payload version 4) -> inbound events (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthguard.integrations.alertmanager import (
    GO_ZERO_TIME,
    advance_last_seen,
    alert_fingerprint,
    dedup_key_for,
    is_stale,
    parse_go_time,
    parse_webhook,
)
from healthguard.integrations.events import InboundEvent, InvalidEvent
from healthguard.integrations.generic import parse_generic

pytestmark = pytest.mark.unit

INTEGRATION = "3b0e7f4c-6d1a-4c1e-9a55-0f2d7e1c9a10"
GATEWAY_LABELS = {
    "alertname": "MonitorGatewayDown",
    "instance": "gw-ward7.hospital.local:9100",
    "job": "monitor-gateways",
    "severity": "critical",
    "ward": "W7",
}
HL7_LABELS = {
    "alertname": "HL7FeedLagging",
    "instance": "hl7-ingest-1:9200",
    "job": "monitor-gateways",
    "severity": "warning",
}

# What Alertmanager 0.26 POSTs to a webhook receiver (group_by: [job]).
FIRING: dict[str, Any] = {
    "receiver": "healthguard",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": GATEWAY_LABELS,
            "annotations": {
                "summary": "Monitor gateway gw-ward7 is down",
                "description": "No scrape of gw-ward7.hospital.local:9100 for 2 minutes.",
                "runbook_url": "https://wiki.hospital.local/runbooks/gateway-down",
            },
            "startsAt": "2024-01-02T03:04:05.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.hospital.local:9090/graph?g0.expr=up%7Bjob%3D%22"
            "monitor-gateways%22%7D+%3D%3D+0&g0.tab=1",
            "fingerprint": "6061cb7d9a9f989f",
        },
        {
            "status": "firing",
            "labels": HL7_LABELS,
            "annotations": {"description": "HL7 feed is 95 s behind."},
            "startsAt": "2024-01-02T03:05:00.5Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.hospital.local:9090/graph?g0.expr=hl7_lag_seconds",
            "fingerprint": "9581fa1fda93a374",
        },
    ],
    "groupLabels": {"job": "monitor-gateways"},
    "commonLabels": {"job": "monitor-gateways"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.hospital.local:9093",
    "version": "4",
    "groupKey": '{}/{job=~"monitor-.*"}:{job="monitor-gateways"}',
    "truncatedAlerts": 0,
}


def body(**overrides: Any) -> dict[str, Any]:
    result = json.loads(json.dumps(FIRING))
    for key, value in overrides.items():
        if value is ...:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def alert(index: int = 0, **overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(FIRING["alerts"][index]))
    for key, value in overrides.items():
        if value is ...:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def resolved_of(index: int, ends_at: str) -> dict[str, Any]:
    return alert(index, status="resolved", endsAt=ends_at)


def test_real_v4_firing_notification() -> None:
    note = parse_webhook(FIRING, integration_id=INTEGRATION)
    assert note.version == "4"
    assert note.group_key == '{}/{job=~"monitor-.*"}:{job="monitor-gateways"}'
    assert (note.status, note.receiver, note.truncated_alerts) == ("firing", "healthguard", 0)
    assert note.external_url == "http://alertmanager.hospital.local:9093"
    assert note.group_labels == {"job": "monitor-gateways"}
    assert note.errors == ()
    gateway, hl7 = note.events
    assert gateway.source_kind == "alertmanager"
    assert gateway.action == "trigger"
    assert gateway.dedup_key == f"alertmanager:{INTEGRATION}:6061cb7d9a9f989f"
    assert gateway.group_key == note.group_key
    assert gateway.summary == "Monitor gateway gw-ward7 is down"
    assert gateway.source == "gw-ward7.hospital.local:9100"
    assert (gateway.component, gateway.class_, gateway.group) == (
        "monitor-gateways",
        "MonitorGatewayDown",
        None,
    )
    assert (gateway.severity, gateway.priority) == ("critical", "P1")
    assert gateway.occurred_at == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert [link.text for link in gateway.links] == [
        "Alert source (Prometheus)",
        "Runbook",
        "Alertmanager",
    ]
    assert gateway.details["labels"] == GATEWAY_LABELS
    assert gateway.details["startsAt"] == "2024-01-02T03:04:05.123456Z"
    assert gateway.details["endsAt"] is None  # Go zero time: unset
    assert gateway.details["fingerprint"] == "6061cb7d9a9f989f"
    assert hl7.summary == "HL7 feed is 95 s behind."  # description when no summary
    assert (hl7.severity, hl7.priority) == ("warning", "P3")
    assert hl7.occurred_at == datetime(2024, 1, 2, 3, 5, 0, 500000, tzinfo=UTC)
    json.dumps([e.as_dict() for e in note.events], allow_nan=False)


def test_resolved_notification_resolves_the_same_dedup_key() -> None:
    firing = parse_webhook(FIRING, integration_id=INTEGRATION).events[0]
    resolved_body = body(
        status="resolved",
        alerts=[resolved_of(0, "2024-01-02T03:14:05.000000001Z")],
    )
    note = parse_webhook(resolved_body, integration_id=INTEGRATION)
    (event,) = note.events
    assert event.action == "resolve"
    assert event.dedup_key == firing.dedup_key
    assert event.occurred_at == datetime(2024, 1, 2, 3, 14, 5, tzinfo=UTC)
    assert event.details["endsAt"] == "2024-01-02T03:14:05Z"


def test_mixed_firing_and_resolved_alerts_in_one_group() -> None:
    note = parse_webhook(
        body(alerts=[alert(0), resolved_of(1, "2024-01-02T03:10:00Z")]),
        integration_id=INTEGRATION,
    )
    assert [e.action for e in note.events] == ["trigger", "resolve"]


def test_dedup_keys_scoped_by_integration() -> None:
    a = parse_webhook(FIRING, integration_id="am-cluster-a").events[0]
    b = parse_webhook(FIRING, integration_id="am-cluster-b").events[0]
    assert a.dedup_key != b.dedup_key
    assert a.dedup_key == dedup_key_for("am-cluster-a", "6061cb7d9a9f989f")
    # the same alert in another group (another route) is still the same incident
    other_group = parse_webhook(body(groupKey='{}:{ward="W7"}'), integration_id="am-cluster-a")
    assert other_group.events[0].dedup_key == a.dedup_key
    assert other_group.events[0].group_key != a.group_key
    with pytest.raises(ValueError):
        parse_webhook(FIRING, integration_id="  ")


def test_fingerprint_computed_like_alertmanager_when_missing() -> None:
    # A label set and the fingerprint Alertmanager sent for it (from a captured webhook).
    labels = {
        "alertname": "Deployment",
        "app_kubernetes_io_instance": "eric-oss-common-base",
        "app_kubernetes_io_managed_by": "Helm",
        "app_kubernetes_io_name": "eric-pm-kube-state-metrics",
        "app_kubernetes_io_version": "2.1.0_10",
        "chart": "eric-pm-kube-state-metrics-2.1.0_10",
        "deployment": "eric-log-transformer",
        "instance": "192.168.69.53:8080",
        "job": "eric-pm-kube-state-metrics",
        "kubernetes_name": "eric-pm-kube-state-metrics",
        "kubernetes_namespace": "eric-eo-cm-ci406",
        "namespace": "eric-eo-cm-ci406",
        "severity": "Warning",
    }
    assert alert_fingerprint(labels) == "fbab788ec4c1018b"
    assert alert_fingerprint(dict(reversed(labels.items()))) == "fbab788ec4c1018b"
    assert alert_fingerprint({}) == "cbf29ce484222325"  # FNV-1a 64 offset basis
    assert alert_fingerprint(GATEWAY_LABELS) == "6061cb7d9a9f989f"
    note = parse_webhook(
        body(alerts=[alert(0, fingerprint=...), alert(1, fingerprint="")]),
        integration_id=INTEGRATION,
    )
    assert [e.dedup_key.rsplit(":", 1)[1] for e in note.events] == [
        "6061cb7d9a9f989f",
        "9581fa1fda93a374",
    ]


@pytest.mark.parametrize(
    ("label", "severity", "priority"),
    [
        ("critical", "critical", "P1"),
        ("Critical", "critical", "P1"),
        ("error", "error", "P2"),
        ("warning", "warning", "P3"),
        ("info", "info", "P4"),
        ("page", "warning", "P3"),  # unknown -> warning
        ("none", "warning", "P3"),
        (..., "warning", "P3"),  # missing -> warning
    ],
)
def test_severity_label_mapping(label: object, severity: str, priority: str) -> None:
    labels: dict[str, object] = dict(GATEWAY_LABELS)
    if label is ...:
        del labels["severity"]
    else:
        labels["severity"] = label
    (event,) = parse_webhook(body(alerts=[alert(0, labels=labels)]), integration_id="i").events
    assert (event.severity, event.priority) == (severity, priority)
    assert event.dedup_key.startswith("alertmanager:i:")


def test_severity_mapping_override_per_integration() -> None:
    events = parse_webhook(
        FIRING, integration_id="i", severity_map={"critical": "P2", "warning": "P4"}
    ).events
    assert [e.priority for e in events] == ["P2", "P4"]
    with pytest.raises(ValueError, match="P0"):
        parse_webhook(FIRING, integration_id="i", severity_map={"critical": "P0"})


def test_summary_fallbacks_and_nulls() -> None:
    bare = alert(0, annotations=None, labels={"alertname": "GatewayDown"})
    (event,) = parse_webhook(
        body(alerts=[bare], commonAnnotations=None, groupLabels=None, commonLabels=None),
        integration_id="i",
    ).events
    assert event.summary == "GatewayDown"
    assert event.source == "healthguard"  # no instance or job: the receiver
    nameless = alert(0, annotations={}, labels={}, fingerprint="abc")
    (event,) = parse_webhook(body(alerts=[nameless], receiver=...), integration_id="i").events
    assert event.summary == "Alertmanager alert abc"
    assert event.source == "alertmanager"
    long = alert(0, annotations={"summary": "s" * 3000})
    assert len(parse_webhook(body(alerts=[long]), integration_id="i").events[0].summary) == 1024


def test_optional_envelope_fields_and_links() -> None:
    minimal = {"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "X"}}]}
    note = parse_webhook(minimal, integration_id="i")
    assert (note.group_key, note.truncated_alerts, note.status) == (None, 0, None)
    (event,) = note.events
    assert event.occurred_at is None and event.links == ()
    relative = alert(0, generatorURL="/graph?g0.expr=up", annotations={"runbook_url": "wiki"})
    (event,) = parse_webhook(body(alerts=[relative], externalURL=...), integration_id="i").events
    assert event.links == ()
    assert event.details["generatorURL"] == "/graph?g0.expr=up"
    assert parse_webhook(body(version=4), integration_id="i").events  # a number 4 is fine
    assert parse_webhook(body(truncatedAlerts=3), integration_id="i").truncated_alerts == 3
    assert parse_webhook(body(truncatedAlerts=None), integration_id="i").truncated_alerts == 0
    assert parse_webhook(body(alerts=[]), integration_id="i").events == ()


def test_long_group_key_is_hashed_stably() -> None:
    long_key = "{}:{" + ",".join(f'l{i}="{"v" * 20}"' for i in range(30)) + "}"
    first = parse_webhook(body(groupKey=long_key), integration_id="i").group_key
    assert first is not None and first.startswith("sha256:") and len(first) == 71
    assert parse_webhook(body(groupKey=long_key), integration_id="i").group_key == first


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(version="3"), "version"),
        (body(version=...), "version"),
        (body(version=True), "version"),
        (body(alerts=...), "alerts"),
        (body(alerts={"status": "firing"}), "alerts"),
        (body(groupKey=42), "groupKey"),
        (body(status="pending"), "status"),
        (body(truncatedAlerts=-1), "truncatedAlerts"),
        (body(truncatedAlerts="2"), "truncatedAlerts"),
        (body(groupLabels=["job"]), "groupLabels"),
        (body(commonLabels={"job": 1}), "commonLabels.job"),
        (body(receiver=["x"]), "receiver"),
        ([FIRING], "body"),
        (body(alerts=["firing"]), "alerts[0]"),
        (body(alerts=[alert(0, status=...)]), "alerts[0].status"),
        (body(alerts=[alert(0, status="pending")]), "alerts[0].status"),
        (body(alerts=[alert(0, labels="alertname=X")]), "alerts[0].labels"),
        (body(alerts=[alert(0, labels={"severity": 2})]), "alerts[0].labels.severity"),
        (body(alerts=[alert(0, annotations={"summary": None})]), "alerts[0].annotations.summary"),
        (body(alerts=[alert(0, startsAt="2024-01-02 nonsense")]), "alerts[0].startsAt"),
        (body(alerts=[alert(0, endsAt=0)]), "alerts[0].endsAt"),
        (body(alerts=[alert(0, fingerprint="f" * 129)]), "alerts[0].fingerprint"),
        (body(alerts=[alert(0, generatorURL=5)]), "alerts[0].generatorURL"),
    ],
)
def test_every_error_names_its_field(payload: object, field: str) -> None:
    with pytest.raises(InvalidEvent) as exc:
        parse_webhook(payload, integration_id=INTEGRATION)
    assert [e.field for e in exc.value.errors] == [field]
    assert exc.value.field == field
    assert f"'{field}'" in str(exc.value)


def test_unsupported_version_is_refused_whole() -> None:
    with pytest.raises(InvalidEvent) as exc:
        parse_webhook({"version": "3", "alerts": "anything"}, integration_id="i")
    assert exc.value.field == "version"
    assert '"4"' in exc.value.message


def test_one_bad_alert_does_not_lose_the_good_ones() -> None:
    note = parse_webhook(
        body(alerts=[alert(0), alert(1, status="pending"), alert(0, startsAt="never")]),
        integration_id="i",
    )
    assert len(note.events) == 1 and note.events[0].class_ == "MonitorGatewayDown"
    assert [e.field for e in note.errors] == ["alerts[1].status", "alerts[2].startsAt"]
    with pytest.raises(InvalidEvent) as exc:  # nothing acceptable: refused
        parse_webhook(body(alerts=[alert(1, status="pending")]), integration_id="i")
    assert exc.value.field == "alerts[0].status"


def test_huge_alert_is_refused_by_index() -> None:
    big = alert(1, annotations={"description": "d" * 2000})
    note = parse_webhook(body(alerts=[alert(0), big]), integration_id="i", max_details_bytes=1500)
    assert len(note.events) == 1
    assert [e.field for e in note.errors] == ["alerts[1]"]
    assert "too large" in note.errors[0].message


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0001-01-01T00:00:00Z", None),
        (None, None),
        ("", None),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T03:04:05.999999999+01:00", datetime(2024, 1, 2, 2, 4, 5, 999999, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_go_rfc3339_times(raw: object, expected: datetime | None) -> None:
    assert parse_go_time(raw, "alerts[0].endsAt") == expected
    assert datetime(1, 1, 1, tzinfo=UTC) == GO_ZERO_TIME


# --- out-of-order notifications ---------------------------------------------------------------


def am_event(status: str, starts: str, ends: str = "0001-01-01T00:00:00Z") -> InboundEvent:
    payload = body(alerts=[alert(0, status=status, startsAt=starts, endsAt=ends)])
    (event,) = parse_webhook(payload, integration_id="i").events
    return event


def test_is_stale_rule_late_firing_after_resolved() -> None:
    firing = am_event("firing", "2024-01-02T10:00:00Z", "2024-01-02T10:04:00Z")
    resolved = am_event("resolved", "2024-01-02T10:00:00Z", "2024-01-02T10:05:00Z")
    refiring = am_event("firing", "2024-01-02T10:20:00Z")
    last: datetime | None = None
    # in order: firing, resolved, then the same firing again arrives late (a retry)
    assert not is_stale(firing, last)
    last = advance_last_seen(last, firing)
    assert last == firing.occurred_at
    assert not is_stale(firing, last)  # a repeat of the same firing: not stale (dedup)
    assert not is_stale(resolved, last)
    last = advance_last_seen(last, resolved)
    assert is_stale(firing, last)  # the late firing: ignored, the incident stays resolved
    assert not is_stale(resolved, last)  # the HA twin's resolved: idempotent
    assert not is_stale(refiring, last)  # the alert firing again later: a new trigger
    last = advance_last_seen(last, refiring)
    assert is_stale(resolved, last)  # the old resolve arriving now: ignored
    assert advance_last_seen(last, firing) == last  # never goes back


def test_is_stale_resolved_before_firing_and_unknown_times() -> None:
    firing = am_event("firing", "2024-01-02T10:00:00Z")
    resolved = am_event("resolved", "2024-01-02T10:00:00Z", "2024-01-02T10:05:00Z")
    last = advance_last_seen(None, resolved)  # the resolve overtook the trigger
    assert last is not None and is_stale(firing, last)
    no_end = am_event("resolved", "2024-01-02T10:00:00Z", "0001-01-01T00:00:00Z")
    assert no_end.occurred_at is None
    assert not is_stale(no_end, last + timedelta(days=1))
    assert advance_last_seen(last, no_end) == last
    generic = parse_generic({"summary": "x", "timestamp": "2000-01-01T00:00:00Z"})
    assert not is_stale(generic, last)  # the rule is for Alertmanager events only


# --- property tests ---------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=20)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: JSON if n == 0 else value)


GO_TIMES = st.sampled_from(
    ["0001-01-01T00:00:00Z", "2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05+01:00"]
) | st.datetimes().map(lambda d: d.isoformat() + "Z")
ALERT_LIKE = st.fixed_dictionaries(
    {
        "status": maybe(st.sampled_from(["firing", "resolved"])),
        "labels": maybe(st.dictionaries(TEXT, TEXT, max_size=4)),
        "annotations": maybe(st.dictionaries(st.sampled_from(["summary", "description"]), TEXT)),
        "startsAt": maybe(GO_TIMES),
        "endsAt": maybe(GO_TIMES),
    },
    optional={"fingerprint": maybe(TEXT), "generatorURL": maybe(TEXT)},
)
WEBHOOK_LIKE = st.fixed_dictionaries(
    {"version": maybe(st.just("4")), "alerts": maybe(st.lists(maybe(ALERT_LIKE), max_size=4))},
    optional={
        "groupKey": maybe(TEXT),
        "status": maybe(st.sampled_from(["firing", "resolved"])),
        "receiver": maybe(TEXT),
        "truncatedAlerts": maybe(st.integers(min_value=0)),
        "groupLabels": maybe(st.dictionaries(TEXT, TEXT, max_size=3)),
        "commonLabels": maybe(st.dictionaries(TEXT, TEXT, max_size=3)),
        "commonAnnotations": maybe(st.dictionaries(TEXT, TEXT, max_size=3)),
        "externalURL": maybe(TEXT),
    },
)


def has_nul(value: object) -> bool:
    """Whether a NUL character is in any string (key or value) of a JSON-like value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, WEBHOOK_LIKE))
def test_any_json_raises_only_invalid_event(payload: object) -> None:
    try:
        note = parse_webhook(payload, integration_id=INTEGRATION)
    except InvalidEvent as exc:
        assert exc.errors and all(e.field for e in exc.errors)
        return
    for event in note.events:
        encoded = json.dumps(event.as_dict(), allow_nan=False, ensure_ascii=False)
        encoded.encode("utf-8")
        assert not has_nul(event.as_dict())
        assert event.dedup_key.startswith(f"alertmanager:{INTEGRATION}:")
        assert event.action in ("trigger", "resolve")
        assert event.priority in ("P1", "P2", "P3", "P4")
        assert len(event.summary) <= 1024
    assert all(e.field.startswith("alerts[") for e in note.errors)
