"""POST /api/v1/news2: the NEWS2 calculator for any signed-in person or integration key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from authsupport import new_integration_key, sign_in
from fastapi.testclient import TestClient

from healthguard.api import build_api

pytestmark = pytest.mark.integration

URL = "/api/v1/news2"
EXAMPLE_11 = {
    "resp_rate": 22,
    "spo2": 94,
    "spo2_scale": 1,
    "on_oxygen": True,
    "systolic_bp": 105,
    "heart_rate": 45,
    "consciousness": "C",
    "temperature_c": 35.5,
}


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(build_api()) as client:
        yield client


@pytest.fixture(scope="module")
def nurse(client: TestClient) -> dict[str, str]:
    token = sign_in(client, "nurse.card")["access_token"]
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, body: Any, headers: dict[str, str]) -> Any:
    return client.post(URL, json=body, headers=headers)


def test_worked_example_scores_11_high(client: TestClient, nurse: dict[str, str]) -> None:
    response = post(client, EXAMPLE_11, nurse)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "total": 11,
        "subscores": {
            "resp_rate": 2,
            "spo2": 1,
            "on_oxygen": 2,
            "systolic_bp": 1,
            "heart_rate": 1,
            "consciousness": 3,
            "temperature_c": 1,
        },
        "red_flag": True,
        "risk": "high",
        "monitoring": "continuous monitoring of vital signs",
        "response": response.json()["response"],
        "partial": False,
        "missing": [],
    }
    assert "critical-care" in response.json()["response"]


def test_hl7_sample_scores_9(client: TestClient, nurse: dict[str, str]) -> None:
    body = {
        "resp_rate": 24,
        "spo2": 93,
        "on_oxygen": False,
        "systolic_bp": 98,
        "heart_rate": 112,
        "consciousness": "A",
        "temperature_c": 38.4,
    }
    answer = post(client, body, nurse).json()
    assert (answer["total"], answer["risk"], answer["red_flag"]) == (9, "high", False)


def test_scale_2(client: TestClient, nurse: dict[str, str]) -> None:
    one = post(client, {"spo2": 90, "on_oxygen": False}, nurse).json()
    two = post(client, {"spo2": 90, "on_oxygen": False, "spo2_scale": 2}, nurse).json()
    assert one["subscores"]["spo2"] == 3 and two["subscores"]["spo2"] == 0


def test_partial_score_is_marked_partial(client: TestClient, nurse: dict[str, str]) -> None:
    answer = post(client, {"heart_rate": 72, "spo2": 98}, nurse).json()
    assert answer["partial"] is True
    assert answer["total"] == 0
    assert "resp_rate" in answer["missing"]
    assert answer["subscores"]["resp_rate"] is None
    assert answer["response"].startswith("Incomplete score")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**EXAMPLE_11, "colour": "blue"}, "colour"),
        ({**EXAMPLE_11, "heart_rate": 900}, "heart_rate"),
        ({**EXAMPLE_11, "heart_rate": "fast"}, "heart_rate"),
        ({**EXAMPLE_11, "spo2_scale": 3}, "spo2_scale"),
        ({**EXAMPLE_11, "consciousness": "X"}, "consciousness"),
        ({**EXAMPLE_11, "on_oxygen": "yes"}, "on_oxygen"),
        ({**EXAMPLE_11, "temperature_c": 60}, "temperature_c"),
        ({}, "body"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    client: TestClient, nurse: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = post(client, body, nurse)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in [f["field"] for f in error["fields"]]


def test_not_json_is_422(client: TestClient, nurse: dict[str, str]) -> None:
    response = client.post(
        URL, content=b"{not json", headers={**nurse, "Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_needs_credentials(client: TestClient) -> None:
    response = post(client, EXAMPLE_11, {})
    assert response.status_code == 401


def test_an_integration_key_may_score(client: TestClient) -> None:
    _, key = new_integration_key("news2 test gateway", ["ingest:vitals"])
    response = post(client, EXAMPLE_11, {"X-API-Key": key})
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 11


def test_declared_in_openapi_with_its_permission(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["paths"][URL]["post"]["x-permission"] == "self:read"
