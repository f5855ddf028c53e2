"""The REST API skeleton: health, readiness, wards, OpenAPI, docs, errors and metrics
(signed in; authentication itself is in test_auth_api.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from authsupport import sign_in
from fastapi.testclient import TestClient
from testsupport import create_database, drop_database, env_override, free_port

from healthguard.api import build_api

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[TestClient]:
    """Signed in as a Cardiology nurse (every /api/v1 route but sign-in needs credentials;
    the authorisation matrix test covers who may call what)."""
    with TestClient(build_api()) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, 'nurse.card')['access_token']}"
        yield client


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ready_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "redis": "ok", "migrations": "ok"}


def test_readyz_names_migrations_on_an_empty_database(
    client: TestClient, postgres_server_url: str
) -> None:
    empty = create_database(postgres_server_url, prefix="empty")
    try:
        with env_override(DATABASE_URL=empty):
            response = client.get("/readyz")
    finally:
        drop_database(postgres_server_url, empty)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["migrations"] != "ok"
    assert "healthguard migrate" in body["checks"]["migrations"]


def test_readyz_names_redis_when_it_is_down(client: TestClient) -> None:
    port = free_port()
    with env_override(REDIS_URL=f"redis://127.0.0.1:{port}/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"] == "ok"
    assert checks["redis"] != "ok"
    assert "unreachable" in checks["redis"] and str(port) in checks["redis"]


def test_readyz_names_the_database_when_it_is_down(client: TestClient) -> None:
    port = free_port()
    url = f"postgresql+psycopg://hg:topsecret@127.0.0.1:{port}/hg"
    with env_override(DATABASE_URL=url):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert "unreachable" in checks["database"] and str(port) in checks["database"]
    assert "topsecret" not in response.text  # no password in answers
    assert checks["migrations"] != "ok"
    assert checks["redis"] == "ok"


def test_readyz_recovers_after_the_override(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200


def test_wards_lists_the_seeded_wards(client: TestClient) -> None:
    response = client.get("/api/v1/wards")
    assert response.status_code == 200
    wards = response.json()
    assert [w["code"] for w in wards] == ["CARD", "ICU", "MED"]
    names = {w["code"]: w["name"] for w in wards}
    assert names["ICU"] == "Intensive Care Unit"
    assert all(set(w) == {"id", "code", "name"} and w["id"] for w in wards)


def test_openapi_lists_the_routes(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "HealthGuard Ops API"
    for path in ("/api/v1/wards", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    assert "/api/v1/{path}" not in spec["paths"]  # the catch-all 404 stays out of the spec


def test_docs_page_is_self_contained_html(client: TestClient) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    for path in ("/api/v1/wards", "/healthz", "/readyz"):
        assert f"<code>{path}</code>" in page
    assert "openapi.json" in page
    assert "<script" not in page and "cdn" not in page.lower()


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_path_is_json_404(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/v1/whatever/else")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "/api/v1/whatever/else" in error["message"]


def test_unknown_non_api_path_uses_the_error_shape(client: TestClient) -> None:
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_uses_the_error_shape(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_metrics_expose_healthguard_metrics(client: TestClient) -> None:
    from healthguard.realtime.metrics import FEED_RELOADS  # registered by the web app

    FEED_RELOADS.inc()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "healthguard_realtime_events_total",
        "healthguard_feed_reloads_total",
        "healthguard_feed_reload_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    reloads = [
        line for line in text.splitlines() if line.startswith("healthguard_feed_reloads_total ")
    ]
    assert reloads and float(reloads[0].split()[1]) >= 1.0
