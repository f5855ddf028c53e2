"""Which people's own feeds the periodic resync reloads: those a browser followed within
the window, against the real Redis; older stamps are forgotten, junk members ignored."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from healthguard.realtime.followed import (
    FOLLOWED_STAFF_FEEDS_KEY,
    followed_recently,
    remember_followed,
)


def test_only_people_followed_within_the_window_are_resynced(redis_url: str) -> None:
    recent, again, old = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def scenario() -> tuple[list[uuid.UUID], list[uuid.UUID], int]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.delete(FOLLOWED_STAFF_FEEDS_KEY)
            await remember_followed(client, old, now=1_000.0)
            await remember_followed(client, again, now=1_000.0)
            await remember_followed(client, recent, now=5_000.0)
            await remember_followed(client, again, now=5_500.0)  # a later page load renews
            await client.zadd(FOLLOWED_STAFF_FEEDS_KEY, {"not-a-staff-id": 5_000.0})
            first = await followed_recently(client, window_seconds=3_600, now=6_000.0)
            later = await followed_recently(client, window_seconds=3_600, now=9_000.0)
            left = await client.zcard(FOLLOWED_STAFF_FEEDS_KEY)
            return first, later, left
        finally:
            await client.delete(FOLLOWED_STAFF_FEEDS_KEY)
            await client.aclose()

    first, later, left = asyncio.run(scenario())
    assert sorted(first, key=str) == sorted([recent, again], key=str)
    assert later == [again]
    assert left == 1  # the old stamps are gone, not only skipped
