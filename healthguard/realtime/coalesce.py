"""Coalesced feed reloads: new vital signs on a bed board (every 2 s at most) and incident
changes (every 0.25 s at most during a burst; the first change after a quiet spell at once).

Vital signs change many times a second under load, and an integration storm changes
hundreds of incidents a second; reloading a feed for each would swamp the web worker (the
listener handles events one after another), so `CoalescedReloads`
reloads a feed at most once per `min_interval` seconds: the first change after a quiet
period reloads at once, the changes during the interval are folded into one reload at its
end. Nothing is lost: the last reload always happens after the last change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class CoalescedReloads:
    def __init__(
        self,
        reload: Callable[[str], Awaitable[None]],
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reload = reload
        self.min_interval = min_interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self.reloads = 0

    def request(self, token: str) -> None:
        """Ask for a reload of `token`'s feed; returns at once."""
        if token in self._pending:
            return  # a reload is already due: it will read this change too
        self._pending[token] = asyncio.create_task(self._run(token))

    async def _run(self, token: str) -> None:
        try:
            wait = self._last.get(token, float("-inf")) + self.min_interval - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            # From here on, a new change asks for a new reload (this one may have read the
            # database before that change committed).
            self._pending.pop(token, None)
        self._last[token] = self.clock()
        try:
            await self.reload(token)
            self.reloads += 1
        except Exception:
            log.exception("realtime: coalesced reload of %s failed", token)

    async def drain(self) -> None:
        """Wait until every pending reload has run (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)
