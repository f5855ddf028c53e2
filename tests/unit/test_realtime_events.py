"""Change events (pure data) and the listener's reconnect backoff."""

from __future__ import annotations

import json

import pytest

from healthguard.realtime.events import (
    ALL_WARDS_FEED,
    ChangeEvent,
    feed_tokens_for,
    ward_feed_token,
)
from healthguard.realtime.listener import next_backoff

pytestmark = pytest.mark.unit


def test_round_trip_keeps_every_field() -> None:
    event = ChangeEvent(kind="incident.opened", entity_id="abc", ward_code="CARD")
    parsed = ChangeEvent.from_json(event.to_json())
    assert parsed == event
    assert parsed.id == event.id and parsed.at == event.at


def test_round_trip_from_bytes_without_ward() -> None:
    event = ChangeEvent(kind="incident.acknowledged", entity_id="42")
    parsed = ChangeEvent.from_json(event.to_json().encode())
    assert parsed == event
    assert parsed.ward_code is None


def test_each_event_gets_its_own_id() -> None:
    a = ChangeEvent(kind="k", entity_id="1")
    b = ChangeEvent(kind="k", entity_id="1")
    assert a.id != b.id


def test_to_json_is_compact_json_object() -> None:
    event = ChangeEvent(kind="k", entity_id="e", ward_code="ICU", at="t", id="i")
    assert json.loads(event.to_json()) == {
        "kind": "k",
        "entity_id": "e",
        "ward_code": "ICU",
        "at": "t",
        "id": "i",
    }
    assert " " not in event.to_json()


def test_not_json_is_rejected() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        ChangeEvent.from_json("{not json")


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "3", "null"])
def test_non_object_is_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        ChangeEvent.from_json(raw)


@pytest.mark.parametrize("missing", ["kind", "entity_id", "id"])
def test_missing_required_field_is_named(missing: str) -> None:
    data = {"kind": "k", "entity_id": "e", "id": "i"}
    del data[missing]
    with pytest.raises(ValueError, match=f"'{missing}'"):
        ChangeEvent.from_json(json.dumps(data))


@pytest.mark.parametrize("field", ["kind", "entity_id", "id"])
@pytest.mark.parametrize("bad", ["", 7, None, ["x"]])
def test_empty_or_non_string_required_field_is_named(field: str, bad: object) -> None:
    data: dict[str, object] = {"kind": "k", "entity_id": "e", "id": "i"}
    data[field] = bad
    with pytest.raises(ValueError, match=f"'{field}'"):
        ChangeEvent.from_json(json.dumps(data))


def test_unknown_keys_are_ignored() -> None:
    raw = json.dumps(
        {"kind": "k", "entity_id": "e", "id": "i", "ward_code": "MED", "extra": 1, "v": [2]}
    )
    event = ChangeEvent.from_json(raw)
    assert event == ChangeEvent(kind="k", entity_id="e", ward_code="MED", at=event.at, id="i")
    assert not hasattr(event, "extra")


@pytest.mark.parametrize(
    ("code", "token"),
    [
        ("CARD", "ward-card"),
        ("icu", "ward-icu"),
        ("A_B_C", "ward-a-b-c"),
        ("Step_Down", "ward-step-down"),
        (None, ALL_WARDS_FEED),
        ("", ALL_WARDS_FEED),
    ],
)
def test_ward_feed_token(code: str | None, token: str) -> None:
    result = ward_feed_token(code)
    assert result == token
    assert "_" not in result
    assert result == result.lower()


def test_all_wards_feed_has_no_underscore() -> None:
    assert ALL_WARDS_FEED == "ward-all"


def test_feed_tokens_for_ward_event() -> None:
    event = ChangeEvent(kind="incident.opened", entity_id="1", ward_code="ICU_2")
    assert feed_tokens_for(event) == ["ward-all", "ward-icu-2"]


def test_feed_tokens_for_hospital_wide_event() -> None:
    assert feed_tokens_for(ChangeEvent(kind="k", entity_id="1")) == ["ward-all"]


def test_backoff_starts_at_a_tenth_and_doubles_to_the_cap() -> None:
    delays = []
    delay = 0.0
    for _ in range(10):
        delay = next_backoff(delay, cap=1.0)
        delays.append(delay)
    assert delays[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert delays[4:] == [1.0] * 6


def test_backoff_never_exceeds_cap_or_falls_below_minimum() -> None:
    assert next_backoff(0.0, cap=10.0) == pytest.approx(0.1)
    assert next_backoff(0.01, cap=10.0) == pytest.approx(0.1)
    assert next_backoff(8.0, cap=10.0) == 10.0
    assert next_backoff(10.0, cap=10.0) == 10.0
