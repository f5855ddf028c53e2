"""Which people's own feeds ("my alarms" and the bell) are followed by a browser.

A person's feed reloads on change events about their incidents and notifications. The
periodic resync (healthguard/healthguard.py) is the safety net for a lost event; it must
know which of those per-person feeds to reload without reloading every staff member of the
hospital. Each time a browser follows a person's feed (every page load: the bell is on every
page), the person's staff id is stamped in one Redis sorted set; the resync reloads the
people stamped within the last ``realtime_followed_feed_hours`` and forgets older stamps.
"""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis

FOLLOWED_STAFF_FEEDS_KEY = "healthguard:followed-staff-feeds"


async def remember_followed(
    client: aioredis.Redis, staff_id: uuid.UUID, now: float | None = None
) -> None:
    """Stamp that a browser follows this person's feed now."""
    await client.zadd(
        FOLLOWED_STAFF_FEEDS_KEY, {str(staff_id): time.time() if now is None else now}
    )


async def followed_recently(
    client: aioredis.Redis, window_seconds: float, now: float | None = None
) -> list[uuid.UUID]:
    """The people whose feed a browser followed within the window (older stamps dropped)."""
    cutoff = (time.time() if now is None else now) - window_seconds
    await client.zremrangebyscore(FOLLOWED_STAFF_FEEDS_KEY, "-inf", f"({cutoff}")
    found = await client.zrangebyscore(FOLLOWED_STAFF_FEEDS_KEY, cutoff, "+inf")
    people = []
    for raw in found:
        try:
            people.append(uuid.UUID(raw.decode() if isinstance(raw, bytes) else raw))
        except ValueError:
            continue  # not written by remember_followed: ignore
    return people
