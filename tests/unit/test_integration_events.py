"""Inbound events: the shared helpers, PagerDuty Events API v2 and the generic webhook (pure).

Property tests: no JSON value makes a parser raise anything but InvalidEvent, and what they
accept is storable (strict JSON, valid UTF-8, no NUL).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthguard.integrations.events import (
    DEFAULT_SEVERITY_PRIORITY,
    MAX_DETAILS_BYTES,
    FieldError,
    InboundEvent,
    InvalidEvent,
    normalise_details,
    parse_timestamp,
    priority_for,
    resolve_severity_map,
)
from healthguard.integrations.generic import parse_generic
from healthguard.integrations.pagerduty import (
    error_body,
    new_dedup_key,
    parse_enqueue,
    routing_key_of,
    success_body,
)

pytestmark = pytest.mark.unit

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"  # 32 characters, like PagerDuty's


def fixed_key() -> str:
    return "generated-key-1"


# The trigger example of PagerDuty's Events API v2 documentation, with our routing key.
PD_TRIGGER: dict[str, Any] = {
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats",
        "severity": "info",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": ROUTING_KEY,
    "dedup_key": "samplekeyhere",
    "images": [
        {
            "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "href": "https://example.com/",
            "alt": "Example text",
        }
    ],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example.com",
}


def pd(**overrides: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(PD_TRIGGER))
    for key, value in overrides.items():
        if key.startswith("payload_"):
            name = key.removeprefix("payload_")
            if value is ...:
                body["payload"].pop(name, None)
            else:
                body["payload"][name] = value
        elif value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def fields_of(exc: pytest.ExceptionInfo[InvalidEvent]) -> list[str]:
    return [e.field for e in exc.value.errors]


# --- shared helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2015-07-17T08:42:58.315+0000", datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            "2024-01-02T03:04:05.123456789Z",  # Go nanoseconds: truncated to microseconds
            datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        ),
        ("2024-01-02T03:04:05.1Z", datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),  # naive: UTC
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_iso8601_rfc3339_with_nanoseconds(raw: str, expected: datetime) -> None:
    value = parse_timestamp(raw, "payload.timestamp")
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2024-13-01T00:00:00Z", "", "   ", 1700000000, None, "0001-01-01T00:00:00+01:00"],
)
def test_bad_timestamps_name_the_field(raw: object) -> None:
    with pytest.raises(InvalidEvent) as exc:
        parse_timestamp(raw, "payload.timestamp")
    assert exc.value.field == "payload.timestamp"
    assert "payload.timestamp" in str(exc.value)


def test_severity_map_defaults_overrides_and_p0_reserved() -> None:
    assert resolve_severity_map() == {
        "critical": "P1",
        "error": "P2",
        "warning": "P3",
        "info": "P4",
    }
    assert dict(DEFAULT_SEVERITY_PRIORITY) == resolve_severity_map()
    assert "P0" not in resolve_severity_map().values()
    merged = resolve_severity_map({"Critical": "p2", "info": "P3"})
    assert merged == {"critical": "P2", "error": "P2", "warning": "P3", "info": "P3"}
    assert priority_for("warning", {"warning": "P4"}) == "P4"
    with pytest.raises(ValueError, match="P0 is reserved"):
        resolve_severity_map({"critical": "P0"})
    assert resolve_severity_map({"critical": "P0"}, allow_p0=True)["critical"] == "P0"
    with pytest.raises(ValueError, match="not a severity"):
        resolve_severity_map({"fatal": "P1"})
    with pytest.raises(ValueError, match="not a priority"):
        resolve_severity_map({"error": "P9"})


def test_details_normalised_to_storable_json() -> None:
    assert normalise_details(None, field="d", wrap_key="details") == ({}, None)
    assert normalise_details("disk full", field="d", wrap_key="details") == (
        {"details": "disk full"},
        None,
    )
    assert normalise_details([1, 2], field="d", wrap_key="x") == ({"x": [1, 2]}, None)
    details, problem = normalise_details(
        {"a": math.nan, "b": [math.inf, -math.inf], "c\x00": "nul\x00", "d": "\ud800"},
        field="d",
        wrap_key="details",
    )
    assert problem is None
    assert details == {
        "a": "NaN",
        "b": ["Infinity", "-Infinity"],
        "c\ufffd": "nul\ufffd",
        "d": "\ufffd",
    }
    json.dumps(details, allow_nan=False).encode("utf-8")


def test_details_too_large_deep_or_not_json_are_refused_by_field() -> None:
    huge = {"blob": "x" * (MAX_DETAILS_BYTES + 1)}
    details, problem = normalise_details(huge, field="payload.custom_details", wrap_key="c")
    assert details == {}
    assert problem is not None and problem.field == "payload.custom_details"
    assert "limit is 524288 bytes (512 KiB)" in problem.message
    # the boundary: exactly at the limit is accepted
    at_limit = {"b": "x" * (100 - len('{"b":""}'))}
    assert normalise_details(at_limit, field="f", wrap_key="c", max_bytes=100)[1] is None
    over = {"b": "x" * (101 - len('{"b":""}'))}
    assert normalise_details(over, field="f", wrap_key="c", max_bytes=100)[1] is not None
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert normalise_details(deep, field="f", wrap_key="c")[1] == FieldError(
        "f", "is nested too deeply"
    )
    assert normalise_details({"s": {1, 2}}, field="f", wrap_key="c")[1] == FieldError(
        "f", "is not a JSON value"
    )


def test_event_as_dict_is_json() -> None:
    event = parse_enqueue(PD_TRIGGER)
    data = event.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["class"] == "deploy"
    assert data["occurred_at"] == "2015-07-17T08:42:58.315000Z"


# --- PagerDuty Events API v2 ------------------------------------------------------------------


def test_pagerduty_documented_trigger_example() -> None:
    event = parse_enqueue(PD_TRIGGER)
    assert event.source_kind == "pagerduty"
    assert event.action == "trigger"
    assert event.dedup_key == "samplekeyhere"
    assert not event.dedup_key_generated
    assert event.summary == "Example alert on host1.example.com"
    assert event.source.startswith("monitoringtool:cloudvendor")
    assert (event.severity, event.priority) == ("info", "P4")
    assert event.occurred_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert (event.component, event.group, event.class_) == ("postgres", "prod-datapipe", "deploy")
    assert event.details == {"ping time": "1500ms", "load avg": 0.75}
    assert [(x.href, x.text) for x in event.links] == [("https://example.com/", "Link text")]
    assert [(x.src, x.href, x.alt) for x in event.images] == [
        (
            "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "https://example.com/",
            "Example text",
        )
    ]
    assert event.client == "Sample Monitoring Service"
    assert event.client_url == "https://monitoring.example.com"
    assert routing_key_of(PD_TRIGGER) == ROUTING_KEY


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_and_resolve_examples(action: str) -> None:
    body = {"routing_key": "routingkeyhere", "dedup_key": "dedupkeyhere", "event_action": action}
    event = parse_enqueue(body)
    assert (event.action, event.dedup_key) == (action, "dedupkeyhere")
    assert event.severity is None and event.priority is None and event.summary == ""
    # PagerDuty ignores the payload (and links, images) of these: so do we, even malformed
    event = parse_enqueue({**body, "payload": "nonsense", "links": 3, "images": [1]})
    assert event.action == action


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
@pytest.mark.parametrize("dedup", [..., None, "", "   "])
def test_pagerduty_acknowledge_resolve_need_the_dedup_key(action: str, dedup: object) -> None:
    body: dict[str, Any] = {"routing_key": "k", "event_action": action}
    if dedup is not ...:
        body["dedup_key"] = dedup
    with pytest.raises(InvalidEvent) as exc:
        parse_enqueue(body)
    assert fields_of(exc) == ["dedup_key"]
    assert action in exc.value.message


@pytest.mark.parametrize("dedup", [..., None, "", "  "])
def test_pagerduty_trigger_without_dedup_key_gets_a_generated_one(dedup: object) -> None:
    event = parse_enqueue(pd(dedup_key=dedup), dedup_key_factory=fixed_key)
    assert event.dedup_key == "generated-key-1"
    assert event.dedup_key_generated
    assert success_body(event.dedup_key) == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "generated-key-1",
    }
    default = parse_enqueue(pd(dedup_key=dedup))
    assert len(default.dedup_key) == 32 and int(default.dedup_key, 16) >= 0
    assert parse_enqueue(pd(dedup_key=dedup)).dedup_key != default.dedup_key  # random
    assert len(new_dedup_key()) == 32


def test_pagerduty_dedup_key_limit_is_255_and_kept_verbatim() -> None:
    assert parse_enqueue(pd(dedup_key="k" * 255)).dedup_key == "k" * 255
    assert parse_enqueue(pd(dedup_key=" spaced ")).dedup_key == " spaced "
    with pytest.raises(InvalidEvent) as exc:
        parse_enqueue(pd(dedup_key="k" * 256))
    assert fields_of(exc) == ["dedup_key"]
    assert "255" in exc.value.message
    with pytest.raises(InvalidEvent) as exc:
        parse_enqueue(pd(dedup_key=12345))
    assert fields_of(exc) == ["dedup_key"]


def test_pagerduty_summary_truncated_at_1024_like_pagerduty() -> None:
    event = parse_enqueue(pd(payload_summary="é" * 5000))
    assert event.summary == "é" * 1024
    long_source = parse_enqueue(pd(payload_source="s" * 1000, payload_component="c" * 300))
    assert len(long_source.source) == 255 and long_source.component == "c" * 255


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (pd(routing_key=...), "routing_key"),
        (pd(routing_key=""), "routing_key"),
        (pd(routing_key=42), "routing_key"),
        (pd(routing_key="k" * 65), "routing_key"),
        (pd(event_action=...), "event_action"),
        (pd(event_action="escalate"), "event_action"),
        (pd(event_action=["trigger"]), "event_action"),
        (pd(payload=...), "payload"),
        (pd(payload="Example alert"), "payload"),
        (pd(payload_summary=...), "payload.summary"),
        (pd(payload_summary="  "), "payload.summary"),
        (pd(payload_summary=7), "payload.summary"),
        (pd(payload_source=...), "payload.source"),
        (pd(payload_severity=...), "payload.severity"),
        (pd(payload_severity="fatal"), "payload.severity"),
        (pd(payload_severity=3), "payload.severity"),
        (pd(payload_timestamp="17/07/2015 08:42"), "payload.timestamp"),
        (pd(payload_timestamp=1437122578), "payload.timestamp"),
        (pd(payload_component=["mysql"]), "payload.component"),
        (pd(payload_group=1), "payload.group"),
        (pd(payload_class={}), "payload.class"),
        (pd(payload_custom_details={"x": "y" * MAX_DETAILS_BYTES}), "payload.custom_details"),
        (pd(links={"href": "https://example.com"}), "links"),
        (pd(links=["https://example.com"]), "links[0]"),
        (pd(links=[{"text": "no href"}]), "links[0].href"),
        (pd(links=[{"href": "javascript:alert(1)"}]), "links[0].href"),
        (pd(links=[{"href": "http://[::1/broken"}]), "links[0].href"),
        (pd(links=[{"href": "https://example.com/a b"}]), "links[0].href"),
        (pd(links=[{"href": "https://ok.example"}, {"href": "/relative"}]), "links[1].href"),
        (pd(images=[{"alt": "no src"}]), "images[0].src"),
        (pd(images=[{"src": "http://insecure.example/x.png"}]), "images[0].src"),
        (
            pd(images=[{"src": "https://ok.example/x.png", "href": "data:text/html,x"}]),
            "images[0].href",
        ),
        (pd(client=5), "client"),
        (pd(client_url="monitoring.example.com"), "client_url"),
        (pd(dedup_key="k" * 256), "dedup_key"),
        ([PD_TRIGGER], "body"),
        ("not an object", "body"),
        (None, "body"),
    ],
)
def test_pagerduty_every_error_names_its_field(body: object, field: str) -> None:
    with pytest.raises(InvalidEvent) as exc:
        parse_enqueue(body)
    assert fields_of(exc) == [field]
    assert exc.value.field == field
    answer = error_body(exc.value)
    assert answer["status"] == "invalid event"
    assert answer["message"] == "Event object is invalid"
    assert len(answer["errors"]) == 1 and f"'{field}'" in answer["errors"][0]


def test_pagerduty_reports_every_problem_at_once() -> None:
    body = {
        "event_action": "trigger",
        "payload": {"severity": "bad", "timestamp": "nope"},
        "links": [{"href": "ftp://x"}],
    }
    with pytest.raises(InvalidEvent) as exc:
        parse_enqueue(body)
    assert fields_of(exc) == [
        "routing_key",
        "payload.summary",
        "payload.source",
        "payload.severity",
        "payload.timestamp",
        "links[0].href",
    ]
    assert json.loads(json.dumps(error_body(exc.value)))["errors"][0] == (
        "'routing_key' is missing or blank"
    )
    assert error_body(["Invalid JSON"])["errors"] == ["Invalid JSON"]
    assert exc.value.as_dicts()[0] == {
        "field": "routing_key",
        "message": "is missing or blank",
    }


def test_pagerduty_routing_key_rules() -> None:
    assert routing_key_of(pd(routing_key="samplekeyhere")) == "samplekeyhere"
    assert routing_key_of(pd(routing_key="k" * 64)) == "k" * 64
    for bad in ("", "k" * 65, None, 1):
        with pytest.raises(InvalidEvent) as exc:
            routing_key_of(pd(routing_key=bad))
        assert exc.value.field == "routing_key"
    with pytest.raises(InvalidEvent) as exc:
        routing_key_of("x")
    assert exc.value.field == "body"


def test_pagerduty_severity_case_and_mapping_override() -> None:
    assert parse_enqueue(pd(payload_severity="CRITICAL")).priority == "P1"
    for severity, priority in (
        ("critical", "P1"),
        ("error", "P2"),
        ("warning", "P3"),
        ("info", "P4"),
    ):
        assert parse_enqueue(pd(payload_severity=severity)).priority == priority
    ward_map = {"critical": "P2", "warning": "P4"}
    assert parse_enqueue(pd(payload_severity="critical"), severity_map=ward_map).priority == "P2"
    assert parse_enqueue(pd(payload_severity="warning"), severity_map=ward_map).priority == "P4"
    assert parse_enqueue(pd(payload_severity="error"), severity_map=ward_map).priority == "P2"
    with pytest.raises(ValueError, match="P0 is reserved"):
        parse_enqueue(pd(), severity_map={"info": "P0"})
    assert (
        parse_enqueue(
            pd(payload_severity="critical"), severity_map={"critical": "P0"}, allow_p0=True
        ).priority
        == "P0"
    )


def test_pagerduty_custom_details_any_json_and_size_limit() -> None:
    assert parse_enqueue(pd(payload_custom_details="free text")).details == {
        "custom_details": "free text"
    }
    assert parse_enqueue(pd(payload_custom_details=None)).details == {}
    assert parse_enqueue(pd(payload_custom_details=...)).details == {}
    assert parse_enqueue(pd(payload_custom_details=[1, "two"])).details == {
        "custom_details": [1, "two"]
    }
    big_but_ok = {"log": "x" * (400 * 1024)}
    assert parse_enqueue(pd(payload_custom_details=big_but_ok)).details == big_but_ok
    huge = {"rows": ["y" * 1024] * 600}  # ~600 KiB of JSON
    with pytest.raises(InvalidEvent) as exc:
        parse_enqueue(pd(payload_custom_details=huge))
    assert exc.value.field == "payload.custom_details"
    assert "too large" in exc.value.message and "512 KiB" in exc.value.message
    with pytest.raises(InvalidEvent):
        parse_enqueue(pd(payload_custom_details={"a": "b" * 50}), max_details_bytes=32)


def test_pagerduty_timestamp_optional_and_offsets() -> None:
    assert parse_enqueue(pd(payload_timestamp=...)).occurred_at is None
    assert parse_enqueue(pd(payload_timestamp=None)).occurred_at is None
    event = parse_enqueue(pd(payload_timestamp="2024-06-01T10:00:00.987654321+02:00"))
    assert event.occurred_at == datetime(2024, 6, 1, 8, 0, 0, 987654, tzinfo=UTC)


def test_pagerduty_unknown_fields_ignored_and_strings_cleaned() -> None:
    event = parse_enqueue(pd(extra="ignored", payload_summary="  Gateway\x00 down  "))
    assert event.summary == "Gateway\ufffd down"


# --- generic webhook --------------------------------------------------------------------------


def test_generic_minimal_trigger_defaults() -> None:
    event = parse_generic(
        {"summary": "Oxygen supply pressure low, ward 7"}, dedup_key_factory=fixed_key
    )
    assert event.source_kind == "generic"
    assert event.action == "trigger"
    assert event.dedup_key == "generated-key-1" and event.dedup_key_generated
    assert (event.severity, event.priority) == ("warning", "P3")
    assert event.source == "generic"
    assert event.details == {}
    assert event.occurred_at is None


def test_generic_full_trigger_and_resolve() -> None:
    body = {
        "summary": "Oxygen supply pressure low, ward 7",
        "details": {"pressure_bar": 3.1, "manifold": "B"},
        "action": "trigger",
        "dedup": "o2-ward7",
        "severity": "critical",
        "source": "o2-manifold-b",
        "timestamp": "2025-01-01T08:00:00+01:00",
    }
    event = parse_generic(body)
    assert (event.dedup_key, event.dedup_key_generated) == ("o2-ward7", False)
    assert (event.severity, event.priority) == ("critical", "P1")
    assert event.details == {"pressure_bar": 3.1, "manifold": "B"}
    assert event.source == "o2-manifold-b"
    assert event.occurred_at == datetime(2025, 1, 1, 7, 0, tzinfo=UTC)
    resolved = parse_generic({"action": "resolve", "dedup": "o2-ward7"})
    assert (resolved.action, resolved.dedup_key, resolved.summary) == ("resolve", "o2-ward7", "")
    assert resolved.severity is None and resolved.priority is None
    acked = parse_generic({"action": "ACKNOWLEDGE", "dedup": "o2-ward7", "severity": "info"})
    assert (acked.action, acked.priority) == ("acknowledge", "P4")
    assert parse_generic({"summary": "x", "details": "plain text"}).details == {
        "details": "plain text"
    }
    assert (
        parse_generic({"summary": "x", "severity": "error"}, severity_map={"error": "P4"}).priority
        == "P4"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "summary"),
        ({"summary": ""}, "summary"),
        ({"summary": 12}, "summary"),
        ({"summary": "x", "action": "close"}, "action"),
        ({"summary": "x", "action": 1}, "action"),
        ({"action": "resolve"}, "dedup"),
        ({"action": "acknowledge", "dedup": "  "}, "dedup"),
        ({"summary": "x", "dedup": "d" * 256}, "dedup"),
        ({"summary": "x", "dedup": 5}, "dedup"),
        ({"summary": "x", "severity": "high"}, "severity"),
        ({"summary": "x", "details": {"x": "y" * MAX_DETAILS_BYTES}}, "details"),
        ({"summary": "x", "timestamp": "soon"}, "timestamp"),
        ({"summary": "x", "source": ["a"]}, "source"),
        (["summary"], "body"),
    ],
)
def test_generic_every_error_names_its_field(body: object, field: str) -> None:
    with pytest.raises(InvalidEvent) as exc:
        parse_generic(body)
    assert fields_of(exc) == [field]
    assert f"'{field}'" in str(exc.value)


# --- property tests ---------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=30)  # incl. surrogates
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def has_nul(value: object) -> bool:
    """Whether a NUL character is in any string (key or value) of a JSON-like value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def assert_storable(event: InboundEvent) -> None:
    encoded = json.dumps(event.as_dict(), allow_nan=False, ensure_ascii=False)
    assert not has_nul(event.as_dict())
    encoded.encode("utf-8")  # no lone surrogates
    assert len(event.summary) <= 1024
    assert len(event.dedup_key) <= 255
    assert event.priority in (None, "P1", "P2", "P3", "P4")


URL = st.sampled_from(["https://example.com/a", "http://x.test", "javascript:x", "/rel"]) | TEXT


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right kind of value, sometimes any JSON."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: JSON if n == 0 else value)


PD_LIKE = st.fixed_dictionaries(
    {
        "routing_key": maybe(st.just(ROUTING_KEY)),
        "event_action": maybe(st.sampled_from(["trigger", "acknowledge", "resolve"])),
        "payload": maybe(
            st.fixed_dictionaries(
                {
                    "summary": maybe(TEXT),
                    "source": maybe(TEXT),
                    "severity": maybe(st.sampled_from(["critical", "error", "warning", "info"])),
                },
                optional={
                    "timestamp": maybe(st.datetimes().map(lambda d: d.isoformat())),
                    "component": maybe(TEXT),
                    "group": maybe(TEXT),
                    "class": maybe(TEXT),
                    "custom_details": JSON,
                },
            )
        ),
    },
    optional={
        "dedup_key": maybe(TEXT),
        "links": maybe(st.lists(maybe(st.fixed_dictionaries({"href": maybe(URL)})), max_size=3)),
        "images": maybe(st.lists(maybe(st.fixed_dictionaries({"src": maybe(URL)})), max_size=3)),
        "client": maybe(TEXT),
        "client_url": maybe(URL),
    },
)


@FUZZ
@given(st.one_of(JSON, PD_LIKE))
def test_pagerduty_any_json_raises_only_invalid_event(body: object) -> None:
    try:
        event = parse_enqueue(body, dedup_key_factory=fixed_key)
    except InvalidEvent as exc:
        assert exc.errors and all(e.field for e in exc.errors)
        assert all(
            f"'{e.field}'" in s for e, s in zip(exc.errors, error_body(exc)["errors"], strict=True)
        )
        return
    assert_storable(event)
    try:
        assert routing_key_of(body)
    except InvalidEvent:  # pragma: no cover - parse_enqueue checked it already
        pytest.fail("routing_key_of refused what parse_enqueue accepted")


GENERIC_LIKE = st.fixed_dictionaries(
    {"summary": maybe(TEXT)},
    optional={
        "details": JSON,
        "action": maybe(st.sampled_from(["trigger", "acknowledge", "resolve"])),
        "dedup": maybe(TEXT),
        "severity": maybe(st.sampled_from(["critical", "error", "warning", "info"])),
        "timestamp": maybe(st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat())),
        "source": maybe(TEXT),
    },
)


@FUZZ
@given(st.one_of(JSON, GENERIC_LIKE))
def test_generic_any_json_raises_only_invalid_event(body: object) -> None:
    try:
        event = parse_generic(body)
    except InvalidEvent as exc:
        assert exc.errors and all(e.field for e in exc.errors)
        return
    assert_storable(event)


@FUZZ
@given(st.datetimes(timezones=OFFSETS), st.integers(min_value=0, max_value=999))
def test_timestamps_round_trip_with_nanoseconds(value: datetime, nanos: int) -> None:
    text = value.isoformat()
    if value.microsecond == 0:
        text = text[:19] + ".000000" + text[19:]
    text = text[:26] + f"{nanos:03d}" + text[26:]  # 9 fractional digits
    try:
        parsed = parse_timestamp(text, "t")
    except InvalidEvent as exc:  # only when UTC falls outside years 1..9999
        assert exc.field == "t"
        return
    assert parsed == value.astimezone(UTC)


def test_timezone_offsets_other_than_utc() -> None:
    value = parse_timestamp("2024-03-31T01:30:00-05:30", "t")
    assert value == datetime(2024, 3, 31, 7, 0, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)
    assert datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))) == value
