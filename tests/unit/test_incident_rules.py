"""Priorities, queue order and the small pure helpers of the incident service."""

from __future__ import annotations

import pytest

from healthguard.incidents.priority import (
    PRIORITIES,
    PRIORITY_STYLES,
    queue_order_key,
    validate_priority,
)
from healthguard.incidents.service import IncidentInputError, initials

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("P0", "P0"), (" p1 ", "P1"), ("p2", "P2"), ("P3\n", "P3"), ("\tP4", "P4")],
)
def test_validate_priority_normalises(raw: str, expected: str) -> None:
    assert validate_priority(raw) == expected


@pytest.mark.parametrize("bad", ["P5", "", "  ", "P", "1", "high", None, 1])
def test_validate_priority_rejects_with_the_accepted_values(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        validate_priority(bad)  # type: ignore[arg-type]
    message = str(info.value)
    assert "priority" in message
    assert "P0, P1, P2, P3, P4" in message


def test_priorities_are_p0_to_p4_and_all_styled() -> None:
    assert tuple(PRIORITIES) == ("P0", "P1", "P2", "P3", "P4")
    assert set(PRIORITY_STYLES) == set(PRIORITIES)
    for priority, style in PRIORITY_STYLES.items():
        assert style.label.startswith(priority + " ")  # words, not colour only


def test_queue_order_p0_first_then_oldest_first() -> None:
    incidents = [
        ("P3", 100.0, "old P3"),
        ("P1", 300.0, "new P1"),
        ("P0", 500.0, "newest P0"),
        ("P1", 200.0, "old P1"),
        ("P4", 0.0, "oldest P4"),
    ]
    ordered = sorted(incidents, key=lambda i: queue_order_key(i[0], i[1]))
    assert [i[2] for i in ordered] == ["newest P0", "old P1", "new P1", "old P3", "oldest P4"]


def test_queue_order_key_rejects_unknown_priority() -> None:
    with pytest.raises(ValueError):
        queue_order_key("P9", 0.0)


@pytest.mark.parametrize(
    ("given", "family", "expected"),
    [
        ("Harold", "Whitfield", "H.W."),
        ("harold", "whitfield", "H.W."),
        (" ada ", " lovelace", "A.L."),
        ("Ada", None, "A."),
        (None, "Lovelace", "L."),
        (None, None, ""),
        ("", "  ", ""),
    ],
)
def test_initials(given: str | None, family: str | None, expected: str) -> None:
    assert initials(given, family) == expected


def test_incident_input_error_names_the_field() -> None:
    error = IncidentInputError("ward_code", "no ward with code 'XYZ'")
    assert isinstance(error, ValueError)
    assert error.field == "ward_code"
    assert error.message == "no ward with code 'XYZ'"
    assert str(error) == "ward_code: no ward with code 'XYZ'"
