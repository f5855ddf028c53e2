"""The listener each web worker runs: subscribe, claim each event once, hand it on.

Survives Redis restarts: on any connection error it waits (exponential backoff with a cap)
and subscribes again, then calls `on_connected` so the caller can reload every feed from
Postgres, which covers whatever was published while it was away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from healthguard.realtime.events import ChangeEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[ChangeEvent], Awaitable[None]]
ConnectedHandler = Callable[[], Awaitable[None]]

CLAIM_PREFIX = "healthguard:claimed:"


def next_backoff(previous: float, cap: float) -> float:
    """0.1 s, 0.2 s, 0.4 s ... up to `cap` seconds."""
    return min(cap, max(0.1, previous * 2))


class ChangeListener:
    def __init__(
        self,
        redis_url: str,
        channel: str,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None = None,
        claim_ttl_seconds: int = 60,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.on_event = on_event
        self.on_connected = on_connected
        self.claim_ttl_seconds = claim_ttl_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.handled = 0

    async def claim(self, client: aioredis.Redis, event: ChangeEvent) -> bool:
        """True for exactly one of the workers that receive this event."""
        return bool(
            await client.set(CLAIM_PREFIX + event.id, "1", nx=True, ex=self.claim_ttl_seconds)
        )

    async def run(self) -> None:
        backoff = 0.0
        while True:
            client = aioredis.Redis.from_url(self.redis_url, health_check_interval=10)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.connected.set()
                    backoff = 0.0
                    if self.on_connected is not None:
                        await self._safely(self.on_connected())
                    await self._consume(client, pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected.clear()
                backoff = next_backoff(backoff, self.max_backoff_seconds)
                self.reconnects += 1
                log.warning("realtime: Redis unreachable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
            finally:
                self.connected.clear()
                await client.aclose()

    async def _consume(self, client: aioredis.Redis, pubsub: aioredis.client.PubSub) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                event = ChangeEvent.from_json(message["data"])
            except ValueError as exc:
                log.error("realtime: ignoring malformed change event: %s", exc)
                continue
            if not await self.claim(client, event):
                continue
            await self._safely(self.on_event(event))
            self.handled += 1

    async def _safely(self, awaitable: Awaitable[None]) -> None:
        """A failing handler must not stop the listener (the next event may succeed)."""
        try:
            await awaitable
        except (RedisError, OSError):
            raise
        except Exception:
            log.exception("realtime: handler failed")
