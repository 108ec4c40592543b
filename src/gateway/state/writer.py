"""Writes to Redis that the hot path hands off: queued, run in order, never waited for.

``submit`` is synchronous and never blocks. A write is dropped, not queued,
while the breaker is open (reconciliation after Redis returns restores what
matters) and when the queue is full (the local view stays right for this
process; the fleet view catches up on the next write).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway.state.guard import RedisGuard, StateUnavailable

log = logging.getLogger("gateway.state")

Write = Callable[[], Awaitable[object]]
DEFAULT_CAPACITY = 10_000
DRAIN_TIMEOUT_S = 2.0


class BackgroundWriter:
    def __init__(self, guard: RedisGuard, capacity: int = DEFAULT_CAPACITY) -> None:
        self._guard = guard
        self._queue: asyncio.Queue[Write] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def submit(self, write: Write) -> None:
        if not self._guard.usable:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning(
                    "redis write queue full; dropping writes", extra={"dropped": self.dropped}
                )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-writer")

    async def stop(self) -> None:
        """Finish what is queued (bounded), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await self._queue.join()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                await self._guard.run(write, background=True)
            except StateUnavailable:
                self.dropped += 1
            except Exception:
                log.exception("redis write failed")
            finally:
                self._queue.task_done()
