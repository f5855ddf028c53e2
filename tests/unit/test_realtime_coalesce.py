"""Coalesced feed reloads: at most one per interval per feed, and always one after the last
change."""

from __future__ import annotations

import asyncio

from healthguard.realtime.coalesce import CoalescedReloads


def test_a_burst_of_changes_gives_one_reload_now_and_one_at_the_end_of_the_interval() -> None:
    async def scenario() -> list[str]:
        reloaded: list[str] = []

        async def reload(token: str) -> None:
            reloaded.append(token)

        reloads = CoalescedReloads(reload, min_interval=0.2)
        reloads.request("ward-card")  # quiet before: reloads at once
        await reloads.drain()
        assert reloaded == ["ward-card"]
        for _ in range(50):  # a burst within the interval: folded into one reload
            reloads.request("ward-card")
        reloads.request("ward-icu")  # another feed is independent
        await reloads.drain()
        return reloaded

    reloaded = asyncio.run(scenario())
    assert sorted(reloaded) == ["ward-card", "ward-card", "ward-icu"]


def test_the_reload_waits_for_the_interval_measured_on_the_injected_clock() -> None:
    async def scenario() -> tuple[int, int]:
        now = [100.0]
        calls: list[str] = []

        async def reload(token: str) -> None:
            calls.append(token)

        reloads = CoalescedReloads(reload, min_interval=10.0, clock=lambda: now[0])
        reloads.request("ward-all")
        await reloads.drain()
        now[0] = 115.0  # the interval has passed: no wait
        reloads.request("ward-all")
        await reloads.drain()
        return len(calls), reloads.reloads

    assert asyncio.run(scenario()) == (2, 2)


def test_a_failing_reload_is_logged_and_the_next_change_reloads_again() -> None:
    async def scenario() -> int:
        attempts = [0]

        async def reload(token: str) -> None:
            attempts[0] += 1
            if attempts[0] == 1:
                raise RuntimeError("database unreachable")

        reloads = CoalescedReloads(reload, min_interval=0.0)
        reloads.request("ward-card")
        await reloads.drain()
        reloads.request("ward-card")
        await reloads.drain()
        return attempts[0]

    assert asyncio.run(scenario()) == 2
