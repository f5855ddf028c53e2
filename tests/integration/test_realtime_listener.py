"""The realtime listener against real Redis: claim once, skip junk, survive a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from testsupport import free_port

from healthguard.realtime.events import ChangeEvent
from healthguard.realtime.listener import ChangeListener
from healthguard.runtime.embedded import EmbeddedRedis

pytestmark = pytest.mark.integration

TIMEOUT = 15.0


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    """Wait for a condition (polling the event loop), failing the test after `timeout`."""

    async def poll() -> None:
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)  # yield to the listeners; not used as synchronisation

    await asyncio.wait_for(poll(), timeout)


async def subscribers(url: str, channel: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        counts = await client.pubsub_numsub(channel)
        return int(counts[0][1])
    except (redis.RedisError, OSError):
        return -1
    finally:
        await client.aclose()


class RecordingListener(ChangeListener):
    """Records every event it tries to claim (i.e. every valid event it received)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.received: list[str] = []

    async def claim(self, client: aioredis.Redis, event: ChangeEvent) -> bool:
        self.received.append(event.id)
        return await super().claim(client, event)


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        assert isinstance(result, asyncio.CancelledError), result


def test_two_listeners_handle_each_event_once_and_skip_junk(redis_url: str) -> None:
    channel = f"test:changes:{uuid.uuid4().hex}"
    n = 40

    async def scenario() -> None:
        handled: list[tuple[str, str]] = []
        connected: list[str] = []

        def make(name: str) -> RecordingListener:
            async def on_event(event: ChangeEvent) -> None:
                handled.append((name, event.id))

            async def on_connected() -> None:
                connected.append(name)

            return RecordingListener(redis_url, channel, on_event, on_connected)

        a, b = make("a"), make("b")
        tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        try:
            await until(lambda: sorted(connected) == ["a", "b"])
            await until(_numsub_is(redis_url, channel, 2))

            publisher = aioredis.Redis.from_url(redis_url)
            events = [ChangeEvent(kind="incident.opened", entity_id=str(i)) for i in range(n)]
            junk = [b"{not json", b"[1, 2]", b'{"kind": "x"}', b'{"kind": 1, "entity_id": "e"}']
            for i, event in enumerate(events):
                if i % 10 == 5:
                    await publisher.publish(channel, junk[(i // 10) % len(junk)])
                await publisher.publish(channel, event.to_json())
            await publisher.aclose()

            ids = [e.id for e in events]
            # Both listeners received every valid event (and only those) ...
            await until(lambda: a.received == ids and b.received == ids)
            # ... and, with every claim decided, each event was handled exactly once in total.
            await until(lambda: a.handled + b.handled == n)
            assert sorted(event_id for _, event_id in handled) == sorted(ids)
            assert a.handled + b.handled == len(handled) == n
            assert connected == ["a", "b"] or connected == ["b", "a"]
            assert a.reconnects == b.reconnects == 0
        finally:
            await stop(tasks)

    asyncio.run(scenario())


def _numsub_is(url: str, channel: str, expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await subscribers(url, channel) == expected

    return check


def test_failing_handler_does_not_stop_the_listener(redis_url: str) -> None:
    channel = f"test:changes:{uuid.uuid4().hex}"

    async def scenario() -> None:
        handled: list[str] = []

        async def on_event(event: ChangeEvent) -> None:
            if event.entity_id == "boom":
                raise RuntimeError("handler bug")
            handled.append(event.entity_id)

        listener = ChangeListener(redis_url, channel, on_event)
        task = asyncio.create_task(listener.run())
        try:
            await asyncio.wait_for(listener.connected.wait(), TIMEOUT)
            await until(_numsub_is(redis_url, channel, 1))
            publisher = aioredis.Redis.from_url(redis_url)
            for entity in ("boom", "after"):
                await publisher.publish(channel, ChangeEvent(kind="k", entity_id=entity).to_json())
            await publisher.aclose()
            await until(lambda: handled == ["after"])
            assert not task.done()
        finally:
            await stop([task])

    asyncio.run(scenario())


def test_listener_reconnects_after_redis_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, free_port())
    server.start()
    url = server.url()
    channel = "test:changes:restart"

    async def scenario() -> None:
        handled: list[str] = []
        connections = 0

        async def on_event(event: ChangeEvent) -> None:
            handled.append(event.entity_id)

        async def on_connected() -> None:
            nonlocal connections
            connections += 1

        listener = ChangeListener(url, channel, on_event, on_connected, max_backoff_seconds=0.5)
        task = asyncio.create_task(listener.run())
        try:
            await until(lambda: connections == 1)
            await until(_numsub_is(url, channel, 1))
            publisher = redis.Redis.from_url(url)
            publisher.publish(channel, ChangeEvent(kind="k", entity_id="before").to_json())
            await until(lambda: handled == ["before"])

            await asyncio.to_thread(server.stop)
            assert not server.is_ready()
            await asyncio.to_thread(server.start)

            await until(lambda: connections == 2)
            assert listener.reconnects >= 1
            await until(_numsub_is(url, channel, 1))
            publisher = redis.Redis.from_url(url)
            publisher.publish(channel, ChangeEvent(kind="k", entity_id="after").to_json())
            await until(lambda: handled == ["before", "after"])
            assert not task.done()
        finally:
            await stop([task])

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
