"""Group commit: requests that arrive while a transaction is being committed go together in
the next one (one per web worker process at a time).

A busy integration sends events one HTTP request each (PagerDuty's Events API has no batch
form). Committing each in its own transaction costs a pooled connection, a key look-up, a
rate-limit round trip to Redis and a commit (a WAL flush) per event, which capped inbound
events at a few hundred per second on two cores. `GroupCommit` queues the requests of one
process; one drainer takes every request waiting (at most `max_batch`), runs them in one
transaction in a thread (`run_batch`) and answers each. Nothing waits on purpose: with one
request in flight it runs at once, exactly as before; under load the requests that arrived
during a commit share the next one.

`run_batch` answers every item (an exception for an item is raised to that request only);
an exception from `run_batch` itself fails the whole batch. Each request is answered only
after the commit that holds it: a 202 still means the event is in Postgres.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchRunner = Callable[[list[T]], Sequence[R | BaseException]]


class GroupCommit(Generic[T, R]):
    def __init__(self, run_batch: BatchRunner[T, R], *, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # committed batches (metrics, tests)
        self.largest = 0

    async def submit(self, item: T) -> R:
        """Queue `item`; its answer once the transaction holding it has committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests run one per client): start over
            self._loop, self._waiting, self._drainer = loop, [], None
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        # A request cancelled meanwhile (client gone) cancels only its future: its item is
        # still committed (the sender retries and the dedup key makes the retry a repeat).
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: len(batch)]
            self.largest = max(self.largest, len(batch))
            try:
                answers = await asyncio.to_thread(self.run_batch, [item for item, _ in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"{len(answers)} answers for {len(batch)} requests")
            except BaseException as exc:  # handed to every waiting request
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self.batches += 1
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
