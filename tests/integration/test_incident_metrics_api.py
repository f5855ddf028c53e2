"""GET /api/v1/incident-metrics and /hourly on real Postgres: figures from crafted timelines,
limited to the caller's wards, bad queries named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from authsupport import bearer, sign_in
from fastapi.testclient import TestClient

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import IncidentEvent

pytestmark = pytest.mark.integration

DAY = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday long ago: no other test's incidents
RANGE = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()}


def incident(ward: str, bed: str, priority: str, opened: datetime, *events: tuple) -> None:
    with session_scope() as session:
        row = open_incident(
            session, title=f"metrics {ward} {priority}", priority=priority, now=opened,
            ward_code=ward, bed_label=bed, source="manual", actor="test",
        )  # fmt: skip
        for seconds, kind, actor, data in events:
            at = opened + timedelta(seconds=seconds)
            session.add(IncidentEvent(incident_id=row.id, at=at, kind=kind, actor=actor, data=data))


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[TestClient]:
    # Cardiology: acknowledged after 60 s and 120 s, one resolved as a false alarm after
    # 600 s, one escalated twice; Cardiology at 09:00 (day shift) and 16:00 (evening shift).
    at9, at16 = DAY.replace(hour=9), DAY.replace(hour=16)
    incident("CARD", "B1", "P1", at9,
             (60, "acknowledged", "nurse.card", {}), (300, "started", "nurse.card", {}),
             (600, "resolved", "nurse.card", {"reason": "false_alarm"}))  # fmt: skip
    incident("CARD", "B2", "P1", at16,
             (30, "escalated", "system", {}), (90, "escalated", "system", {}),
             (120, "acknowledged", "charge.card", {}))  # fmt: skip
    incident("ICU", "B1", "P0", at9, (15, "acknowledged", "rrt.lead", {}))
    with TestClient(build_api()) as client:
        yield client


def get(client: TestClient, user: str, path: str = "", **params: str) -> dict:
    token = sign_in(client, user)["access_token"]
    response = client.get(f"/api/v1/incident-metrics{path}", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_ward_nurse_gets_the_figures_of_her_ward_only(client: TestClient) -> None:
    body = get(client, "nurse.card", **RANGE, group_by="priority")
    assert [g["group"] for g in body["groups"]] == [{"priority": "P1"}]  # no ICU P0
    p1 = body["groups"][0]
    assert p1["count"] == 2 and p1["acknowledged"] == 2 and p1["open"] == 1
    assert p1["time_to_acknowledge_seconds"]["p50"] == 60.0  # nearest rank of [60, 120]
    assert p1["time_to_acknowledge_seconds"]["max"] == 120.0
    assert p1["time_to_bedside_seconds"]["n"] == 1 and p1["time_to_bedside_seconds"]["p50"] == 300
    assert p1["time_to_resolve_seconds"]["p99"] == 600.0
    assert p1["false_alarm_share"] == 1.0 and p1["escalations"] == 2
    assert p1["escalations_per_incident"] == 1.0


def test_hospital_wide_roles_see_every_ward_grouped_by_ward_and_shift(client: TestClient) -> None:
    body = get(client, "dr.attending", **RANGE, group_by="ward,shift", zone="Europe/London")
    groups = {(g["group"]["ward"], g["group"]["shift"]): g["count"] for g in body["groups"]}
    assert groups == {("CARD", "day"): 1, ("CARD", "evening"): 1, ("ICU", "day"): 1}
    nobody = get(client, "dr.attending", **RANGE)["groups"][0]
    assert nobody["count"] == 3
    empty = get(client, "dr.attending", **{"from": "2024-01-01T00:00:00Z",
                                       "to": "2024-01-02T00:00:00Z"})["groups"][0]  # fmt: skip
    assert empty["count"] == 0 and empty["time_to_acknowledge_seconds"]["p50"] is None


def test_incidents_per_hour_by_priority(client: TestClient) -> None:
    body = get(client, "dr.attending", "/hourly", **RANGE, zone="UTC")
    assert len(body["hours"]) == 24
    nine = body["hours"][9]
    assert nine["counts"]["P0"] == 1 and nine["counts"]["P1"] == 1 and nine["total"] == 2
    assert body["hours"][16]["counts"]["P1"] == 1
    assert sum(h["total"] for h in body["hours"]) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"group_by": "ward,ward"}, "group_by"),
        ({"zone": "Mars/Olympus"}, "zone"),
        ({"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "to"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "from"),
        ({"from": "2025-01-01T00:00:00", "to": "2025-01-02T00:00:00Z"}, "from"),
    ],
)
def test_bad_queries_name_the_field(client: TestClient, params: dict, field: str) -> None:
    token = sign_in(client, "dr.attending")["access_token"]
    response = client.get("/api/v1/incident-metrics", params=params, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == field


def test_metrics_need_a_signed_in_clinician(client: TestClient) -> None:
    assert client.get("/api/v1/incident-metrics").status_code == 401
    token = sign_in(client, "auditor")["access_token"]
    assert client.get("/api/v1/incident-metrics", headers=bearer(token)).status_code == 403
