"""The API's error shape, how validation locations become field names, and the answer when
the database refuses a transaction: a collision with another change (a deadlock victim) is
told as such, not as an unreachable database."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import errors as pg_errors
from sqlalchemy.exc import OperationalError

from healthguard.api.errors import _field_name, error_body, install_error_handlers

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "priority"), "priority"),
        (("body", "vitals", 0, "value"), "vitals.0.value"),
        (("query", "ward"), "ward"),
        (("path", "incident_id"), "incident_id"),
        (("header", "x-token"), "x-token"),
        (("body",), "body"),
        ((), "body"),
        (["body", "bed_label"], "bed_label"),
    ],
)
def test_field_name(loc: tuple[object, ...], name: str) -> None:
    assert _field_name(loc) == name


def test_error_body_without_fields() -> None:
    assert error_body("not_found", "nope") == {"error": {"code": "not_found", "message": "nope"}}


def test_error_body_with_fields() -> None:
    fields = [{"field": "priority", "message": "bad"}]
    assert error_body("invalid_request", "priority: bad", fields) == {
        "error": {"code": "invalid_request", "message": "priority: bad", "fields": fields}
    }


def app_raising(error: Exception) -> TestClient:
    api = FastAPI()
    install_error_handlers(api)

    @api.post("/change")
    def change() -> None:
        raise error

    return TestClient(api, raise_server_exceptions=False)


def test_a_deadlock_victim_is_told_to_try_again() -> None:
    error = OperationalError("UPDATE incidents ...", {}, pg_errors.DeadlockDetected("deadlock"))
    response = app_raising(error).post("/change")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "collision"
    assert "collided with another one" in response.json()["error"]["message"]


def test_an_unreachable_database_is_still_said_so() -> None:
    error = OperationalError("SELECT 1", {}, pg_errors.OperationalError("connection refused"))
    response = app_raising(error).post("/change")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.headers["Retry-After"] == "5"
