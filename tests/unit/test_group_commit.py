"""GroupCommit: requests that arrive while a batch runs share the next one; every request
gets its own answer (or its own error); a failed batch fails only its own requests."""

from __future__ import annotations

import asyncio
import threading

import pytest

from healthguard.api.group_commit import GroupCommit

pytestmark = pytest.mark.unit


def test_requests_arriving_during_a_commit_share_the_next_one() -> None:
    release = threading.Event()
    started = threading.Event()
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int | BaseException]:
        batches.append(list(items))
        if len(batches) == 1:
            started.set()
            assert release.wait(10), "the test never released the first batch"
        return [ValueError(f"item {i}") if i == 13 else i * 10 for i in items]

    commits: GroupCommit[int, int] = GroupCommit(run, max_batch=4)

    async def scenario() -> list[int | BaseException]:
        first = asyncio.create_task(commits.submit(1))
        await asyncio.to_thread(started.wait, 10)  # the first batch is in its thread
        rest = [asyncio.create_task(commits.submit(i)) for i in (11, 12, 13, 14, 15, 16)]
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    answers = asyncio.run(scenario())
    assert batches == [[1], [11, 12, 13, 14], [15, 16]]  # at most max_batch, in arrival order
    assert answers[:3] == [10, 110, 120]
    assert isinstance(answers[3], ValueError) and str(answers[3]) == "item 13"  # its own error
    assert answers[4:] == [140, 150, 160]
    assert commits.batches == 3 and commits.largest == 4


def test_a_failed_batch_fails_its_requests_and_the_next_batch_still_runs() -> None:
    def run(items: list[str]) -> list[str]:
        if "bad" in items:
            raise RuntimeError("commit failed")
        return [item.upper() for item in items]

    commits: GroupCommit[str, str] = GroupCommit(run)

    async def scenario() -> tuple[BaseException | str, str]:
        failed = await asyncio.gather(commits.submit("bad"), return_exceptions=True)
        return failed[0], await commits.submit("good")

    failed, good = asyncio.run(scenario())
    assert isinstance(failed, RuntimeError) and good == "GOOD"


def test_a_wrong_number_of_answers_is_an_error_not_a_misdelivered_answer() -> None:
    release = threading.Event()
    started = threading.Event()

    def run(items: list[int]) -> list[int]:
        if items == [1]:
            started.set()
            assert release.wait(10)
            return [1]
        return [0]  # one answer for two requests

    commits: GroupCommit[int, int] = GroupCommit(run)

    async def scenario() -> list[int | BaseException]:
        first = asyncio.create_task(commits.submit(1))
        await asyncio.to_thread(started.wait, 10)
        pair = [asyncio.create_task(commits.submit(n)) for n in (2, 3)]
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(first, *pair, return_exceptions=True)

    first, second, third = asyncio.run(scenario())
    assert first == 1
    assert isinstance(second, RuntimeError) and isinstance(third, RuntimeError)


def test_a_new_event_loop_starts_afresh() -> None:
    commits: GroupCommit[int, int] = GroupCommit(lambda items: list(items))
    assert asyncio.run(commits.submit(1)) == 1
    assert asyncio.run(commits.submit(2)) == 2  # a second loop (a new test client)
