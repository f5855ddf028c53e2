"""The pure parts of the integrations service: scoped dedup keys that fit their column, the
capped payload kept for each event, and the Redis rate limit (fixed window, Retry-After,
open when Redis is down)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from healthguard.integrations import service as svc
from healthguard.integrations.events import InboundEvent
from healthguard.models.integrations import Integration

pytestmark = pytest.mark.unit

INTEGRATION = uuid.UUID("2a720bc5-0bdd-458a-8e55-57e7d63e1252")


def test_dedup_key_is_scoped_by_integration() -> None:
    assert svc.incident_dedup_key(INTEGRATION, "gw/down") == f"int:{INTEGRATION}:gw/down"
    other = uuid.uuid4()
    assert svc.incident_dedup_key(other, "gw/down") != svc.incident_dedup_key(
        INTEGRATION, "gw/down"
    )


def test_long_dedup_keys_are_hashed_to_fit_the_column() -> None:
    long_a, long_b = "a" * 255, "a" * 254 + "b"
    key_a = svc.incident_dedup_key(INTEGRATION, long_a)
    assert len(key_a) <= svc.MAX_INCIDENT_DEDUP_CHARS
    assert key_a.startswith(f"int:{INTEGRATION}:sha256:")
    assert key_a == svc.incident_dedup_key(INTEGRATION, long_a)  # stable
    assert key_a != svc.incident_dedup_key(INTEGRATION, long_b)
    # The longest key kept as is still fits.
    fits = "k" * (svc.MAX_INCIDENT_DEDUP_CHARS - len(f"int:{INTEGRATION}:"))
    assert svc.incident_dedup_key(INTEGRATION, fits).endswith(fits)


def _event(details: dict[str, Any]) -> InboundEvent:
    return InboundEvent(
        source_kind="pagerduty", action="trigger", dedup_key="k", summary="s", details=details
    )


def test_payload_keeps_small_details_and_caps_large_ones() -> None:
    small = svc.capped_payload(_event({"bar": 3.1}), 1024)
    assert small["details"] == {"bar": 3.1} and small["dedup_key"] == "k"
    large = svc.capped_payload(_event({"blob": "x" * 2000}), 1024)
    assert large["details"] == {"_truncated": True, "_bytes": 2000 + len('{"blob":""}')}
    assert large["summary"] == "s"


class FakeRedis:
    def __init__(self, fail: bool = False) -> None:
        self.counts: dict[str, int] = {}
        self.fail = fail

    def pipeline(self, transaction: bool = False) -> FakeRedis:
        self.ops: list[tuple[str, str, int]] = []
        return self

    def incrby(self, key: str, amount: int) -> None:
        self.ops.append(("incrby", key, amount))

    def expire(self, key: str, seconds: int) -> None:
        self.ops.append(("expire", key, seconds))

    def execute(self) -> list[int]:
        if self.fail:
            raise ConnectionError("redis is down")
        _, key, amount = self.ops[0]
        self.counts[key] = self.counts.get(key, 0) + amount
        return [self.counts[key], 1]


def test_rate_limit_is_a_fixed_window_per_minute() -> None:
    integration = Integration(
        id=INTEGRATION, name="x", kind="pagerduty", api_key_id=uuid.uuid4(),
        rate_limit_per_minute=2, created_by="t",
    )  # fmt: skip
    client = FakeRedis()
    at = datetime(2025, 1, 6, 13, 10, 45, tzinfo=UTC)
    assert svc.rate_limited(client, integration, now=at) is None
    assert svc.rate_limited(client, integration, now=at) is None
    assert svc.rate_limited(client, integration, now=at) == 15  # seconds to 13:11:00
    # The next minute is a new window.
    assert svc.rate_limited(client, integration, now=at.replace(minute=11, second=0)) is None


def test_rate_limit_of_a_batch_lets_through_only_the_requests_within_the_limit() -> None:
    integration = Integration(
        id=INTEGRATION, name="x", kind="pagerduty", api_key_id=uuid.uuid4(),
        rate_limit_per_minute=5, created_by="t",
    )  # fmt: skip
    client = FakeRedis()
    at = datetime(2025, 1, 6, 13, 10, 45, tzinfo=UTC)
    assert svc.rate_limited_many(client, integration, 3, now=at) == [None, None, None]
    # Two more fit in this minute; the rest of the batch waits for the next one.
    assert svc.rate_limited_many(client, integration, 4, now=at) == [None, None, 15, 15]
    assert svc.rate_limited_many(FakeRedis(fail=True), integration, 2, now=at) == [None, None]


def test_rate_limit_lets_events_through_when_redis_is_down() -> None:
    integration = Integration(
        id=INTEGRATION, name="x", kind="pagerduty", api_key_id=uuid.uuid4(),
        rate_limit_per_minute=1, created_by="t",
    )  # fmt: skip
    now = datetime.now(UTC)
    assert svc.rate_limited(FakeRedis(fail=True), integration, now=now) is None
