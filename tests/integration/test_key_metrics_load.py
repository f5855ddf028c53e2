"""The key-metrics panel's load on real Postgres: the ward the dashboard shows, within the
person's scope (checked on the server), and the same numbers as GET /api/v1/incident-metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from authsupport import bearer, principal, sign_in
from fastapi.testclient import TestClient

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.incidents.metrics_view import KeyMetricsView
from healthguard.incidents.service import open_incident
from healthguard.models import IncidentEvent
from healthguard.security.permissions import Principal
from healthguard.ui.states.key_metrics import (
    CACHE_SECONDS,
    NotYourWard,
    chart_json,
    load_key_metrics_and_charts,
)

pytestmark = pytest.mark.integration


def load_key_metrics(
    who: Principal, ward_code: str, now: datetime, max_age: float = CACHE_SECONDS
) -> KeyMetricsView:
    """The numbers of a load (the panel's state takes numbers and charts together)."""
    return load_key_metrics_and_charts(who, ward_code, now, max_age=max_age).view


NOW = datetime(2025, 2, 12, 14, 30, tzinfo=UTC)  # long ago: no other test's incidents
TODAY = NOW.replace(hour=9, minute=0)
LAST_WEEK = TODAY - timedelta(days=4)


def incident(ward: str, priority: str, opened: datetime, *events: tuple) -> None:
    with session_scope() as session:
        row = open_incident(
            session, title=f"key metrics {ward} {priority}", priority=priority, now=opened,
            ward_code=ward, bed_label="B1", source="manual", actor="test",
        )  # fmt: skip
        for seconds, kind, data in events:
            at = opened + timedelta(seconds=seconds)
            session.add(IncidentEvent(incident_id=row.id, at=at, kind=kind, actor="t", data=data))


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[TestClient]:
    for ack in (40, 70, 100):
        incident("CARD", "P1", TODAY, (ack, "acknowledged", {}))
    incident("CARD", "P1", TODAY, (30, "acknowledged", {}), (90, "escalated", {}))
    incident("CARD", "P2", LAST_WEEK, (300, "acknowledged", {}),
             (900, "resolved", {"reason": "false_alarm"}))  # fmt: skip
    incident("ICU", "P0", TODAY, (10, "acknowledged", {}))
    with TestClient(build_api()) as client:
        yield client


def test_a_ward_nurse_gets_her_ward_and_nothing_else(client: TestClient) -> None:
    nurse = principal("nurse.card")
    view = load_key_metrics(nurse, "CARD", NOW)
    assert view.incidents_24h == 4
    # Every screen of the ward within the cache time shares the load and its charts.
    shared = load_key_metrics_and_charts(nurse, "CARD", NOW)
    assert shared.view is view and shared.charts == chart_json(view)
    assert load_key_metrics_and_charts(nurse, "CARD", NOW).charts is shared.charts
    assert [r.priority for r in view.acknowledge_rows] == ["P1", "P2"]  # no ICU P0
    with pytest.raises(NotYourWard, match="ward ICU"):
        load_key_metrics(nurse, "ICU", NOW)
    with pytest.raises(NotYourWard, match="whole hospital"):
        load_key_metrics(nurse, "ALL", NOW)
    with pytest.raises(NotYourWard):
        load_key_metrics(nurse, "NOSUCHWARD", NOW)


def test_the_whole_hospital_for_a_physician(client: TestClient) -> None:
    view = load_key_metrics(principal("dr.attending"), "ALL", NOW)
    assert view.incidents_24h == 5
    assert [r.priority for r in view.acknowledge_rows] == ["P0", "P1", "P2"]
    cardiology = load_key_metrics(principal("dr.attending"), "CARD", NOW)
    assert cardiology.incidents_24h == 4


def test_the_panel_shows_the_numbers_the_api_gives(client: TestClient) -> None:
    view = load_key_metrics(principal("nurse.card"), "CARD", NOW)
    token = sign_in(client, "nurse.card")["access_token"]
    params = {"from": view.windows.today_start.isoformat(), "to": NOW.isoformat()}
    response = client.get(
        "/api/v1/incident-metrics", params={**params, "group_by": "priority"},
        headers=bearer(token),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    (p1,) = response.json()["groups"]
    api = p1["time_to_acknowledge_seconds"]
    row = view.acknowledge_rows[0]
    assert (row.today_n, row.today_p50, row.today_p90) == (api["n"], api["p50"], api["p90"])
    assert (row.today_p50, row.today_p90) == (40.0, 100.0)  # nearest rank of 30, 40, 70, 100
    assert view.escalations_today == p1["escalations"] == 1
    assert view.false_alarm_share_baseline == 1.0 and view.false_alarm_share_today is None


def test_screens_of_a_ward_share_one_load_but_each_person_is_checked(client: TestClient) -> None:
    first = load_key_metrics(principal("nurse.card"), "CARD", NOW + timedelta(minutes=1))
    again = load_key_metrics(
        principal("charge.card"), "CARD", NOW + timedelta(minutes=1, seconds=5)
    )
    assert again is first  # within CACHE_SECONDS: no second load
    with pytest.raises(NotYourWard):  # the cached numbers are not handed to another ward's nurse
        load_key_metrics(principal("nurse.icu"), "CARD", NOW + timedelta(minutes=1, seconds=6))
    incident("CARD", "P3", NOW + timedelta(seconds=30), (20, "acknowledged", {}))
    later = load_key_metrics(
        principal("charge.card"), "CARD", NOW + timedelta(minutes=1, seconds=11)
    )
    assert later is not first and later.incidents_24h == first.incidents_24h + 1
