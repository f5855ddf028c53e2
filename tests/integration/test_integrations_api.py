"""Inbound integrations through the API on a real Postgres and Redis: PagerDuty Events API v2
(trigger / acknowledge / resolve, replays, unknown keys, invalid and oversized events, the
rate limit), Alertmanager webhooks (firing -> resolved, groups, out-of-order notifications,
bad alerts), the generic webhook, heartbeats driven by an injected clock, silences (suppress
but record; expired or ended ones no longer do; who may set them) and their reminders, and
the administration of integrations."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from authsupport import (
    CheckedClient,
    assert_error,
    audit_rows_after,
    bearer,
    last_audit_id,
    sign_in,
)
from sqlmodel import col, select
from testsupport import people_and_rules

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.incidents.timeline import read_timeline
from healthguard.integrations import pagerduty
from healthguard.integrations import service as svc
from healthguard.models import Incident, Ward
from healthguard.models.integrations import InboundEventLog, Integration
from workers.integrations import check_heartbeats, silence_reminders

pytestmark = pytest.mark.integration


@dataclass
class Api:
    client: CheckedClient
    tokens: dict[str, dict[str, str]]

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=body, headers=self.tokens["admin"])

    def create(self, kind: str, **fields: Any) -> dict[str, Any]:
        body = {"name": f"{kind} {uuid.uuid4().hex[:8]}", "kind": kind, **fields}
        response = self.admin("POST", "/api/v1/integrations", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def enqueue(self, body: Any, path: str = "/api/v2/enqueue") -> httpx.Response:
        return self.client.post(path, json=body)


@pytest.fixture(scope="module")
def api(seeded: dict[str, int]) -> Iterator[Api]:
    with CheckedClient(build_api()) as client:
        tokens = {
            user: bearer(sign_in(client, user)["access_token"])
            for user in ("admin", "nurse.card", "charge.card", "dr.attending", "auditor")
        }
        yield Api(client, tokens)


def trigger(key: str, dedup: str | None, summary: str = "Gateway ICU-2 down", **extra: Any) -> dict:
    body: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "gw-icu-2", "severity": "critical", **extra},
    }
    if dedup is not None:
        body["dedup_key"] = dedup
    return body


def action(key: str, verb: str, dedup: str) -> dict[str, str]:
    return {"routing_key": key, "event_action": verb, "dedup_key": dedup}


def incidents_of(integration_id: str, dedup: str) -> list[Incident]:
    key = svc.incident_dedup_key(integration_id, dedup)
    with session_scope() as session:
        return list(
            session.exec(
                select(Incident).where(Incident.dedup_key == key).order_by(col(Incident.opened_at))
            ).all()
        )


def events_of(integration_id: str, dedup: str | None = None) -> list[InboundEventLog]:
    with session_scope() as session:
        stmt = select(InboundEventLog).where(
            InboundEventLog.integration_id == uuid.UUID(integration_id)
        )
        if dedup is not None:
            stmt = stmt.where(InboundEventLog.dedup_key == dedup)
        return list(session.exec(stmt.order_by(col(InboundEventLog.id))).all())


def timeline_kinds(incident_id: uuid.UUID) -> list[tuple[str, str]]:
    with session_scope() as session:
        return [
            (row.kind, row.actor) for row in people_and_rules(read_timeline(session, incident_id))
        ]


def integration_row(integration_id: str) -> Integration:
    with session_scope() as session:
        row = session.get(Integration, uuid.UUID(integration_id))
        assert row is not None
        return row


# --- administration -----------------------------------------------------------------------


def test_create_shows_the_key_once_and_audits(api: Api) -> None:
    mark = last_audit_id()
    created = api.create("pagerduty", severity_map={"critical": "P2"}, default_ward_code="icu")
    # PagerDuty-shaped (32 hexadecimal characters), for stock clients that check the shape
    assert re.fullmatch(r"[0-9a-f]{32}", created["key"]), created["key"]
    assert created["severity_map"] == {"critical": "P2"}
    assert created["default_ward_code"] == "ICU"
    assert created["endpoints"]["events"].startswith("/v2/enqueue")
    listed = api.admin("GET", "/api/v1/integrations").json()
    mine = next(i for i in listed if i["id"] == created["id"])
    assert "key" not in mine and mine["key_prefix"] == created["key"][:10]
    assert created["key"] not in str(listed)
    actions = [row.action for row in audit_rows_after(mark)]
    assert actions == ["apikey.created", "integration.created"]
    assert created["key"] not in str([row.details for row in audit_rows_after(mark)])
    assert api.create("generic")["key"].startswith("hgk_")  # other kinds: 256-bit keys


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"severity_map": {"critical": "P0"}}, "severity_map"),
        ({"severity_map": {"fatal": "P1"}}, "severity_map"),
        ({"default_ward_code": "NOWHERE"}, "default_ward_code"),
        ({"heartbeat_grace_seconds": 30}, "heartbeat_grace_seconds"),
    ],
)
def test_create_refuses_bad_configuration(api: Api, fields: dict[str, Any], field: str) -> None:
    response = api.admin(
        "POST", "/api/v1/integrations", {"name": f"bad {field}", "kind": "pagerduty", **fields}
    )
    error = assert_error(response, 422, "invalid_request")
    assert error["message"].startswith(field), error


def test_heartbeat_integration_needs_an_interval(api: Api) -> None:
    response = api.admin("POST", "/api/v1/integrations", {"name": "hb", "kind": "heartbeat"})
    assert "heartbeat_interval_seconds" in assert_error(response, 422, "invalid_request")["message"]


def test_duplicate_name_is_a_conflict(api: Api) -> None:
    created = api.create("generic")
    response = api.admin(
        "POST", "/api/v1/integrations", {"name": created["name"], "kind": "generic"}
    )
    assert_error(response, 409, "conflict")


def test_only_admins_manage_integrations(api: Api) -> None:
    for user in ("nurse.card", "dr.attending", "auditor"):
        response = api.client.get("/api/v1/integrations", headers=api.tokens[user])
        assert_error(response, 403, "forbidden")


# --- PagerDuty Events API v2 --------------------------------------------------------------


def test_pagerduty_trigger_acknowledge_resolve_round_trip(api: Api) -> None:
    pd = api.create("pagerduty", default_ward_code="ICU", severity_map={"critical": "P2"})
    key, dedup = pd["key"], "gw-icu-2/down"

    response = api.enqueue(trigger(key, dedup, component="gateway", **{"class": "GatewayDown"}))
    assert response.status_code == 202, response.text
    assert response.json() == pagerduty.success_body(dedup)
    [incident] = incidents_of(pd["id"], dedup)
    assert (incident.status, incident.priority, incident.source) == (
        "triggered",
        "P2",
        "integration",
    )
    assert incident.title == "Gateway ICU-2 down"
    with session_scope() as session:
        ward = session.get(Ward, incident.ward_id)
        assert ward is not None and ward.code == "ICU"

    response = api.enqueue(action(key, "acknowledge", dedup), path="/v2/enqueue")
    assert response.status_code == 202, response.text
    [incident] = incidents_of(pd["id"], dedup)
    assert incident.status == "acknowledged"
    assert incident.acknowledged_by == f"integration:{pd['name']}"

    response = api.enqueue(action(key, "resolve", dedup), path="/api/v1/integrations/events")
    assert response.status_code == 202, response.text
    assert response.json()["dedup_key"] == dedup
    [incident] = incidents_of(pd["id"], dedup)
    assert (incident.status, incident.resolution_reason) == ("resolved", "other")
    assert incident.resolved_by == f"integration:{pd['name']}"

    actor = f"integration:{pd['name']}"
    assert timeline_kinds(incident.id) == [
        ("opened", actor),
        ("evidence", actor),
        ("acknowledged", actor),
        ("resolved", actor),
    ]
    assert [e.outcome for e in events_of(pd["id"])] == ["opened", "acknowledged", "resolved"]
    # A trigger after the resolve opens a new incident, as in PagerDuty.
    assert api.enqueue(trigger(key, dedup)).status_code == 202
    assert [i.status for i in incidents_of(pd["id"], dedup)] == ["resolved", "triggered"]


def test_pagerduty_documented_example_body_works(api: Api) -> None:
    """PagerDuty's own example event (https://developer.pagerduty.com/docs/events-api-v2/
    trigger-events/), only the routing key replaced, posted where a stock client posts."""
    pd = api.create("pagerduty")
    body = {
        "payload": {
            "summary": "Example alert on host1.example.com",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "severity": "info",
            "source": (
                "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/"
                "api-stats-prod-003"
            ),
            "component": "postgres",
            "group": "prod-datapipe",
            "class": "deploy",
            "custom_details": {"ping time": "1500ms", "load avg": 0.75},
        },
        "routing_key": pd["key"],
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
    response = api.client.post(
        "/v2/enqueue", content=httpx.Request("POST", "/", json=body).content,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    [incident] = incidents_of(pd["id"], "samplekeyhere")
    assert incident.priority == "P4"  # info


def test_a_trigger_without_dedup_key_gets_one(api: Api) -> None:
    pd = api.create("pagerduty")
    first = api.enqueue(trigger(pd["key"], None)).json()["dedup_key"]
    second = api.enqueue(trigger(pd["key"], None)).json()["dedup_key"]
    assert first != second and len(first) == 32
    assert len(incidents_of(pd["id"], first)) == len(incidents_of(pd["id"], second)) == 1


def test_replayed_trigger_is_one_incident_with_evidence(api: Api) -> None:
    pd = api.create("pagerduty")
    for _ in range(3):
        response = api.enqueue(trigger(pd["key"], "replayed"))
        assert response.status_code == 202, response.text
    [incident] = incidents_of(pd["id"], "replayed")
    kinds = [kind for kind, _ in timeline_kinds(incident.id)]
    assert kinds == ["opened", "evidence", "evidence", "evidence"]
    assert [e.outcome for e in events_of(pd["id"])] == ["opened", "updated", "updated"]


def test_concurrent_replays_open_exactly_one_incident(api: Api) -> None:
    pd = api.create("pagerduty")
    integration = integration_row(pd["id"])
    event = pagerduty.parse_enqueue(trigger(pd["key"], "concurrent"))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait(timeout=30)
            with session_scope() as session:
                svc.accept_event(session, integration, event, now=datetime.now(UTC))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(incidents_of(pd["id"], "concurrent")) == 1
    assert sorted(e.outcome for e in events_of(pd["id"])) == ["opened"] + ["updated"] * 7


def test_acknowledge_of_an_unknown_dedup_key_is_accepted_and_ignored(api: Api) -> None:
    pd = api.create("pagerduty")
    response = api.enqueue(action(pd["key"], "acknowledge", "never-triggered"))
    assert response.status_code == 202, response.text
    assert response.json() == pagerduty.success_body("never-triggered")
    [event] = events_of(pd["id"])
    assert (event.outcome, event.incident_id) == ("ignored", None)
    assert "no incident was ever opened" in (event.reason or "")
    assert incidents_of(pd["id"], "never-triggered") == []


def test_acknowledging_twice_is_ignored_with_the_reason(api: Api) -> None:
    pd = api.create("pagerduty")
    api.enqueue(trigger(pd["key"], "twice"))
    for _ in range(2):
        assert api.enqueue(action(pd["key"], "acknowledge", "twice")).status_code == 202
    outcomes = [(e.outcome, e.reason or "") for e in events_of(pd["id"])]
    assert [o for o, _ in outcomes] == ["opened", "acknowledged", "ignored"]
    assert "already acknowledged" in outcomes[-1][1]


def test_resolve_before_trigger_is_ignored_then_the_trigger_opens(api: Api) -> None:
    pd = api.create("pagerduty")
    assert api.enqueue(action(pd["key"], "resolve", "early")).status_code == 202
    assert incidents_of(pd["id"], "early") == []
    assert api.enqueue(trigger(pd["key"], "early")).status_code == 202
    [incident] = incidents_of(pd["id"], "early")
    assert incident.status == "triggered"
    assert [e.outcome for e in events_of(pd["id"])] == ["ignored", "opened"]
    # A resolve of an already resolved incident is ignored too, naming it.
    api.enqueue(action(pd["key"], "resolve", "early"))
    api.enqueue(action(pd["key"], "resolve", "early"))
    last = events_of(pd["id"])[-1]
    assert last.outcome == "ignored" and f"#{incident.number}" in (last.reason or "")


def test_unknown_routing_keys_all_get_the_same_404(api: Api) -> None:
    revoked = api.create("pagerduty")
    assert api.admin("DELETE", f"/api/v1/integrations/{revoked['id']}").status_code == 200
    other_kind = api.create("alertmanager")
    mark = last_audit_id()
    answers = set()
    for key in (
        "hgk_" + "A" * 43,
        "samplekeyhere",
        revoked["key"],  # revoked
        other_kind["key"],  # an Alertmanager integration's key
    ):
        response = api.enqueue(trigger(key, "x"))
        assert response.status_code == 404, response.text
        answers.add(response.text)
    assert len(answers) == 1
    body = response.json()
    assert body["status"] == "invalid event" and body["errors"]
    refused = [r for r in audit_rows_after(mark) if r.action == "apikey.refused"]
    assert len(refused) == 4
    assert all(revoked["key"] not in str(r.details) for r in refused)


def test_invalid_event_is_400_naming_the_field(api: Api) -> None:
    pd = api.create("pagerduty")
    body = trigger(pd["key"], "bad")
    del body["payload"]["severity"]
    body["links"] = [{"href": "javascript:alert(1)"}]
    response = api.enqueue(body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["status"] == "invalid event"
    assert any("'payload.severity'" in e for e in answer["errors"]), answer
    assert any("'links[0].href'" in e for e in answer["errors"]), answer

    response = api.client.post(
        "/api/v2/enqueue", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("'body'")
    response = api.enqueue({"event_action": "trigger"})
    assert response.status_code == 400 and "'routing_key'" in response.json()["errors"][0]
    assert events_of(pd["id"]) == []  # nothing was accepted


def test_huge_custom_details_are_refused_with_413(api: Api) -> None:
    pd = api.create("pagerduty")
    body = trigger(pd["key"], "huge", custom_details={"blob": "x" * (600 * 1024)})
    response = api.enqueue(body)
    assert response.status_code == 413, response.text
    assert response.json()["status"] == "invalid event"
    assert "'body'" in response.json()["errors"][0]

    # Streamed without a Content-Length: refused while reading.
    def chunks() -> Iterator[bytes]:
        yield b'{"routing_key": "' + pd["key"].encode() + b'", "payload": {"custom_details": "'
        for _ in range(700):
            yield b"y" * 1024
        yield b'"}}'

    response = api.client.post(
        "/api/v2/enqueue", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert incidents_of(pd["id"], "huge") == [] and events_of(pd["id"]) == []


def test_large_custom_details_are_kept_capped_in_the_log(api: Api) -> None:
    pd = api.create("pagerduty")
    body = trigger(pd["key"], "large", custom_details={"blob": "z" * (200 * 1024)})
    assert api.enqueue(body).status_code == 202
    [event] = events_of(pd["id"])
    assert event.payload["details"] == {"_truncated": True, "_bytes": 200 * 1024 + 11}
    assert event.payload["dedup_key"] == "large"


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    pd = api.create("pagerduty", rate_limit_per_minute=3)
    statuses = []
    for i in range(7):  # at most one minute boundary falls in 7 quick requests
        response = api.enqueue(trigger(pd["key"], f"rl-{i}"))
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry = int(response.headers["Retry-After"])
            assert 1 <= retry <= 60
            assert response.json()["status"] == "throttle event"
    assert statuses[:3] == [202] * 3 and 429 in statuses
    assert len(events_of(pd["id"])) == statuses.count(202)  # throttled ones are not accepted


def test_revoked_integration_stops_at_once(api: Api) -> None:
    pd = api.create("pagerduty")
    assert api.enqueue(trigger(pd["key"], "before")).status_code == 202
    revoked = api.admin("DELETE", f"/api/v1/integrations/{pd['id']}")
    assert revoked.status_code == 200 and revoked.json()["enabled"] is False
    assert api.enqueue(trigger(pd["key"], "after")).status_code == 404
    assert_error(api.admin("DELETE", f"/api/v1/integrations/{uuid.uuid4()}"), 404, "not_found")


def test_v2_paths_answer_in_the_api_error_shape(api: Api) -> None:
    response = api.client.get("/api/v2/enqueue")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert_error(api.client.post("/api/v2/other"), 404, "not_found")


def test_integration_events_route_lists_outcomes(api: Api) -> None:
    pd = api.create("pagerduty")
    api.enqueue(action(pd["key"], "resolve", "nothing"))
    api.enqueue(trigger(pd["key"], "something"))
    listed = api.admin("GET", f"/api/v1/integrations/{pd['id']}/events").json()
    assert [(e["dedup_key"], e["outcome"]) for e in listed] == [
        ("something", "opened"),
        ("nothing", "ignored"),
    ]
    only = api.admin("GET", f"/api/v1/integrations/{pd['id']}/events?outcome=ignored").json()
    assert [e["dedup_key"] for e in only] == ["nothing"]


# --- Alertmanager -----------------------------------------------------------------------


def am_alert(
    name: str, status: str, starts: datetime, ends: datetime | None = None, **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", "instance": "gw-1", **labels},
        "annotations": {"summary": f"{name} on gw-1"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": (ends or datetime(1, 1, 1, tzinfo=UTC)).isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": uuid.uuid5(uuid.NAMESPACE_DNS, name + str(sorted(labels.items()))).hex[:16],
    }


def notification(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="GatewayDown"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "healthguard",
        "groupLabels": {"alertname": "GatewayDown"},
        "commonLabels": {},
        "commonAnnotations": None,
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def post_am(api: Api, key: str, body: Any) -> httpx.Response:
    return api.client.post(f"/api/v1/integrations/alertmanager/{key}", json=body)


def am_incidents(integration_id: str, alert: dict[str, Any]) -> list[Incident]:
    return incidents_of(integration_id, f"alertmanager:{integration_id}:{alert['fingerprint']}")


def test_alertmanager_firing_then_resolved(api: Api) -> None:
    am = api.create("alertmanager", default_ward_code="ICU")
    start = datetime.now(UTC) - timedelta(minutes=5)
    firing = am_alert("GatewayDown", "firing", start)
    response = post_am(api, am["key"], notification(firing))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "success" and answer["errors"] == []
    assert [(r["index"], r["outcome"]) for r in answer["results"]] == [(0, "opened")]
    [incident] = am_incidents(am["id"], firing)
    assert (incident.status, incident.priority, incident.title) == (
        "triggered",
        "P1",
        "GatewayDown on gw-1",
    )
    # Alertmanager repeats the group: evidence, not a second incident.
    assert (
        post_am(api, am["key"], notification(firing)).json()["results"][0]["outcome"] == "updated"
    )

    resolved = am_alert("GatewayDown", "resolved", start, datetime.now(UTC))
    answer = post_am(api, am["key"], notification(resolved, status="resolved")).json()
    assert answer["results"][0]["outcome"] == "resolved"
    [incident] = am_incidents(am["id"], firing)
    assert incident.status == "resolved"


def test_alertmanager_group_of_alerts_one_incident_each(api: Api) -> None:
    am = api.create("alertmanager")
    start = datetime.now(UTC) - timedelta(minutes=1)
    alerts = [am_alert("GatewayDown", "firing", start, instance=f"gw-{i}") for i in range(3)]
    bad = {**alerts[0], "status": "exploded"}
    response = post_am(api, am["key"], notification(alerts[0], bad, alerts[1], alerts[2]))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(r["index"], r["outcome"]) for r in answer["results"]] == [
        (0, "opened"),
        (2, "opened"),
        (3, "opened"),
    ]
    assert [e["field"] for e in answer["errors"]] == ["alerts[1].status"]
    for alert in alerts:
        assert len(am_incidents(am["id"], alert)) == 1


def test_alertmanager_out_of_order_notifications_are_ignored(api: Api) -> None:
    am = api.create("alertmanager")
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    # The resolved notification arrives before the (older) firing one.
    late = am_alert("O2PressureLow", "firing", t0)
    resolved = am_alert("O2PressureLow", "resolved", t0, t0 + timedelta(minutes=5))
    assert post_am(api, am["key"], notification(resolved)).json()["results"][0]["outcome"] == (
        "ignored"
    )
    result = post_am(api, am["key"], notification(late)).json()["results"][0]
    assert result["outcome"] == "ignored" and "out of order" in result["reason"]
    assert am_incidents(am["id"], late) == []

    # Firing, resolved, then a late repeat of the firing: the incident stays resolved.
    other = am_alert("GatewayFlap", "firing", t0)
    post_am(api, am["key"], notification(other))
    post_am(
        api,
        am["key"],
        notification(am_alert("GatewayFlap", "resolved", t0, t0 + timedelta(minutes=2))),
    )
    result = post_am(api, am["key"], notification(other)).json()["results"][0]
    assert result["outcome"] == "ignored"
    assert [i.status for i in am_incidents(am["id"], other)] == ["resolved"]
    # The alert firing again later (a new startsAt) is a new incident.
    again = am_alert("GatewayFlap", "firing", t0 + timedelta(minutes=10))
    assert post_am(api, am["key"], notification(again)).json()["results"][0]["outcome"] == (
        "opened"
    )


def test_alertmanager_bad_envelope_unknown_key_and_all_bad_alerts(api: Api) -> None:
    am = api.create("alertmanager")
    response = post_am(api, am["key"], {**notification(), "version": "3"})
    error = assert_error(response, 400, "invalid_request")
    assert error["fields"][0]["field"] == "version"
    assert_error(post_am(api, "hgk_unknown", notification()), 404, "not_found")
    assert_error(post_am(api, am["key"] + "x", notification()), 404, "not_found")
    # Every alert refused: still 200 (Alertmanager does not retry a 4xx), errors listed.
    response = post_am(api, am["key"], notification({"status": "firing", "labels": 7}))
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [] and response.json()["errors"]


# --- generic webhook --------------------------------------------------------------------------


def test_generic_webhook_trigger_and_resolve(api: Api) -> None:
    gen = api.create("generic", default_ward_code="CARD")
    headers = {"X-API-Key": gen["key"]}
    body = {"summary": "Oxygen supply pressure low", "dedup": "o2", "severity": "error"}
    response = api.client.post("/api/v1/integrations/webhook", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "opened" and response.json()["dedup"] == "o2"
    [incident] = incidents_of(gen["id"], "o2")
    assert incident.priority == "P2"
    response = api.client.post(
        "/api/v1/integrations/webhook",
        json={"action": "resolve", "dedup": "o2"},
        headers={"Authorization": f"Bearer {gen['key']}"},
    )
    assert response.json()["outcome"] == "resolved"
    assert incidents_of(gen["id"], "o2")[0].status == "resolved"


def test_generic_webhook_refusals(api: Api) -> None:
    gen = api.create("generic")
    pd = api.create("pagerduty")
    url = "/api/v1/integrations/webhook"
    assert_error(api.client.post(url, json={"summary": "x"}), 401, "unauthorized")
    assert_error(
        api.client.post(f"{url}?key={gen['key']}", json={"summary": "x"}), 401, "unauthorized"
    )
    wrong_kind = api.client.post(url, json={"summary": "x"}, headers={"X-API-Key": pd["key"]})
    assert_error(wrong_kind, 404, "not_found")
    invalid = api.client.post(url, json={"action": "resolve"}, headers={"X-API-Key": gen["key"]})
    error = assert_error(invalid, 422, "invalid_request")
    assert error["fields"][0]["field"] == "dedup"
    # A person's token is not an integration.
    as_nurse = api.client.post(url, json={"summary": "x"}, headers=api.tokens["nurse.card"])
    assert_error(as_nurse, 403, "forbidden")


# --- heartbeats ---------------------------------------------------------------------------------


def test_missed_heartbeat_opens_an_incident_the_next_heartbeat_resolves_it(api: Api) -> None:
    hb = api.create(
        "heartbeat",
        heartbeat_interval_seconds=60,
        heartbeat_grace_seconds=30,
        default_ward_code="ICU",
    )
    created = integration_row(hb["id"]).created_at
    dedup = f"heartbeat:{hb['id']}"

    check_heartbeats(now=created + timedelta(seconds=89))
    assert incidents_of(hb["id"], dedup) == []
    result = check_heartbeats(now=created + timedelta(seconds=90))  # the deadline: missed
    assert result.get("opened", 0) >= 1
    [incident] = incidents_of(hb["id"], dedup)
    assert incident.title.startswith(f"No heartbeat from {hb['name']}")
    assert (incident.status, incident.priority) == ("triggered", "P1")
    assert integration_row(hb["id"]).heartbeat_missed
    check_heartbeats(now=created + timedelta(seconds=200))  # still missed: no second incident
    assert len(incidents_of(hb["id"], dedup)) == 1

    response = api.client.post("/api/v1/integrations/heartbeat", headers={"X-API-Key": hb["key"]})
    assert response.status_code == 200, response.text
    assert response.json()["resolved_incident_id"] == str(incident.id)
    [incident] = incidents_of(hb["id"], dedup)
    assert incident.status == "resolved"
    assert not integration_row(hb["id"]).heartbeat_missed
    # A heartbeat while all is well resolves nothing.
    again = api.client.post("/api/v1/integrations/heartbeat", headers={"X-API-Key": hb["key"]})
    assert again.json()["resolved_incident_id"] is None
    assert [e.outcome for e in events_of(hb["id"])] == ["opened", "resolved"]


def test_heartbeat_refusals(api: Api) -> None:
    pd = api.create("pagerduty")  # no heartbeat interval
    url = "/api/v1/integrations/heartbeat"
    assert_error(api.client.post(url, headers={"X-API-Key": pd["key"]}), 404, "not_found")
    hb = api.create("heartbeat", heartbeat_interval_seconds=60)
    assert_error(api.client.post(f"{url}?key={hb['key']}"), 401, "unauthorized")


# --- silences ---------------------------------------------------------------------------------


def silence(api: Api, user: str, scope: dict[str, str], **fields: Any) -> httpx.Response:
    body = {"scope": scope, "reason": "Gateway firmware update", **fields}
    if "ends_at" not in fields:
        body.setdefault("duration_minutes", 60)
    return api.client.post("/api/v1/silences", json=body, headers=api.tokens[user])


def test_a_silence_suppresses_but_records(api: Api) -> None:
    pd = api.create("pagerduty")
    made = silence(api, "admin", {"integration_id": pd["id"]})
    assert made.status_code == 201, made.text
    assert made.json()["active"] is True
    response = api.enqueue(trigger(pd["key"], "during"))
    assert response.status_code == 202
    assert incidents_of(pd["id"], "during") == []
    [event] = events_of(pd["id"])
    assert event.outcome == "suppressed" and str(event.silence_id) == made.json()["id"]
    assert "Gateway firmware update" in (event.reason or "")

    # Ended early: triggers open incidents again.
    ended = api.client.delete(f"/api/v1/silences/{made.json()['id']}", headers=api.tokens["admin"])
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert api.enqueue(trigger(pd["key"], "during")).status_code == 202
    assert len(incidents_of(pd["id"], "during")) == 1


def test_an_expired_silence_no_longer_suppresses(api: Api) -> None:
    pd = api.create("pagerduty")
    made = silence(api, "admin", {"integration_id": pd["id"], "rule": "GatewayDown"})
    assert made.status_code == 201, made.text
    ends_at = datetime.fromisoformat(made.json()["ends_at"])
    integration = integration_row(pd["id"])
    event = pagerduty.parse_enqueue(trigger(pd["key"], "rule", **{"class": "GatewayDown"}))
    other = pagerduty.parse_enqueue(trigger(pd["key"], "other", **{"class": "DiskFull"}))
    with session_scope() as session:
        assert svc.accept_event(session, integration, other, now=ends_at).outcome == "opened"
        during = svc.accept_event(session, integration, event, now=ends_at - timedelta(seconds=1))
        after = svc.accept_event(session, integration, event, now=ends_at)  # ends_at exclusive
    assert (during.outcome, after.outcome) == ("suppressed", "opened")


def test_acknowledge_and_resolve_are_never_suppressed(api: Api) -> None:
    pd = api.create("pagerduty")
    api.enqueue(trigger(pd["key"], "open-before"))
    assert silence(api, "admin", {"integration_id": pd["id"]}).status_code == 201
    api.enqueue(action(pd["key"], "resolve", "open-before"))
    assert incidents_of(pd["id"], "open-before")[0].status == "resolved"


def test_a_silence_on_a_missed_heartbeat_pages_once_it_ends(api: Api) -> None:
    hb = api.create("heartbeat", heartbeat_interval_seconds=60, default_ward_code="ICU")
    made = silence(api, "admin", {"integration_id": hb["id"]}, duration_minutes=120)
    assert made.status_code == 201, made.text
    ends_at = datetime.fromisoformat(made.json()["ends_at"])
    dedup = f"heartbeat:{hb['id']}"
    check_heartbeats(now=ends_at - timedelta(minutes=1))  # missed, but silenced
    assert incidents_of(hb["id"], dedup) == []
    assert [e.outcome for e in events_of(hb["id"])] == ["suppressed"]
    check_heartbeats(now=ends_at)  # the silence is over and it is still missing
    assert len(incidents_of(hb["id"], dedup)) == 1


def test_silence_validation_and_who_may_silence_what(api: Api) -> None:
    pd = api.create("pagerduty", default_ward_code="CARD")
    # Validation (validate_silence), naming the field.
    assert "scope" in assert_error(silence(api, "admin", {}), 422, "invalid_request")["message"]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    response = silence(api, "admin", {"integration_id": pd["id"]}, ends_at=past)
    assert "ends_at" in assert_error(response, 422, "invalid_request")["message"]
    response = silence(api, "admin", {"ward_code": "NOWHERE"})
    assert assert_error(response, 422, "invalid_request")["message"].startswith("scope.ward_code")
    # Nurses may not; a charge nurse only for a ward they cover; admins only machines.
    assert_error(silence(api, "nurse.card", {"ward_code": "CARD"}), 403, "forbidden")
    assert silence(api, "charge.card", {"ward_code": "CARD"}).status_code == 201
    assert_error(silence(api, "charge.card", {"ward_code": "ICU"}), 403, "forbidden")
    assert_error(silence(api, "charge.card", {"integration_id": pd["id"]}), 403, "forbidden")
    assert_error(silence(api, "admin", {"ward_code": "CARD"}), 403, "forbidden")
    assert silence(api, "dr.attending", {"ward_code": "ICU"}).status_code == 201
    # A charge nurse may not end an ICU silence either.
    icu = silence(api, "dr.attending", {"ward_code": "ICU", "rule": "x"}).json()
    response = api.client.delete(f"/api/v1/silences/{icu['id']}", headers=api.tokens["charge.card"])
    assert_error(response, 403, "forbidden")
    listed = api.client.get("/api/v1/silences", headers=api.tokens["charge.card"]).json()
    assert icu["id"] in [s["id"] for s in listed]
    assert_error(
        api.client.delete(f"/api/v1/silences/{uuid.uuid4()}", headers=api.tokens["admin"]),
        404,
        "not_found",
    )


def end_every_silence(api: Api) -> None:
    doctor = api.tokens["dr.attending"]  # the whole hospital
    for made in api.client.get("/api/v1/silences", headers=doctor).json():
        response = api.client.delete(f"/api/v1/silences/{made['id']}", headers=doctor)
        assert response.status_code == 200, response.text
    assert api.client.get("/api/v1/silences", headers=doctor).json() == []


def test_a_ward_silence_covers_the_integrations_of_that_ward(api: Api) -> None:
    end_every_silence(api)
    pd = api.create("pagerduty", default_ward_code="CARD")
    elsewhere = api.create("pagerduty", default_ward_code="ICU")
    assert silence(api, "charge.card", {"ward_code": "CARD"}).status_code == 201
    api.enqueue(trigger(pd["key"], "ward"))
    api.enqueue(trigger(elsewhere["key"], "ward"))
    assert [e.outcome for e in events_of(pd["id"])] == ["suppressed"]
    assert [e.outcome for e in events_of(elsewhere["id"])] == ["opened"]


def test_long_silence_reminder_once_before_it_ends(api: Api) -> None:
    pd = api.create("pagerduty")
    made = silence(api, "admin", {"integration_id": pd["id"]}, duration_minutes=180).json()
    ends_at = datetime.fromisoformat(made["ends_at"])
    mark = last_audit_id()
    assert made["id"] not in silence_reminders(now=ends_at - timedelta(minutes=16))
    assert made["id"] in silence_reminders(now=ends_at - timedelta(minutes=14))
    assert made["id"] not in silence_reminders(now=ends_at - timedelta(minutes=13))
    reminders = [r for r in audit_rows_after(mark) if r.action == "silence.reminder"]
    assert [r.record_id for r in reminders] == [made["id"]]
    assert reminders[0].details["message"] == f"silence {made['id']} ends in 14 min"


def test_concurrent_events_share_transactions_and_each_gets_its_own_answer(api: Api) -> None:
    """Group commit: 60 requests at once through the app (one event loop, as in a web
    worker). Good events, an unknown key and an invalid event arrive together; each gets its
    own answer, every accepted event is recorded, one incident per key, in fewer commits."""
    import asyncio

    from healthguard.api.integrations import event_commits

    pd = api.create("pagerduty")
    bodies: list[dict[str, Any]] = [trigger(pd["key"], f"gc-{n % 6}") for n in range(56)]
    bodies.insert(10, trigger("not-a-key-of-ours", "gc-x"))
    bodies.insert(20, {**trigger(pd["key"], "gc-bad"), "payload": {"summary": "x"}})
    bodies.insert(30, action(pd["key"], "resolve", "gc-never-opened"))
    bodies.insert(40, action(pd["key"], "acknowledge", "gc-1"))
    before = event_commits().batches

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hg") as client:
            return await asyncio.gather(*(client.post("/v2/enqueue", json=b) for b in bodies))

    responses = asyncio.run(send_all())
    statuses = [r.status_code for r in responses]
    assert statuses[10] == 404 and responses[10].json()["message"] == "Unknown routing key"
    assert statuses[20] == 400 and "payload.source" in responses[20].text
    assert statuses.count(202) == len(bodies) - 2
    for body, response in zip(bodies, responses, strict=True):
        if response.status_code == 202:
            assert response.json()["dedup_key"] == body["dedup_key"]  # its own answer
    assert len(events_of(pd["id"])) == len(bodies) - 2  # every accepted event recorded
    for n in range(6):
        assert len(incidents_of(pd["id"], f"gc-{n}")) == 1
    assert event_commits().batches - before < len(bodies) - 2  # they shared commits
    assert event_commits().largest > 1
