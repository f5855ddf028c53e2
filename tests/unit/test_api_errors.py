"""The API's error shape and how validation locations become field names."""

from __future__ import annotations

import pytest

from healthguard.api.errors import _field_name, error_body

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
