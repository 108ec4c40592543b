"""Writes to Redis that the hot path hands off: queued, run in order, never waited for.

``submit`` is synchronous and never blocks. A write is dropped, not queued,
while the breaker is open (reconciliation after Redis returns restores what
matters) and when the queue is full (the local view stays right for this
process; the fleet view catches up on the next write).

``add`` is for counters that only ever grow by an amount (tokens used, spend):
the amounts added to one counter within ``MERGE_S`` go to Redis as one write.
Every request would otherwise cost a Redis round trip of its own; merged, a
busy process sends a few dozen writes a second whatever its request rate, and
the fleet's totals lag this process's by at most ``MERGE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.state.guard import RedisGuard, StateUnavailable
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.state")

Write = Callable[[], Awaitable[object]]
AmountWrite = Callable[[float], Awaitable[Any]]
Done = Callable[[Any], None]
DEFAULT_CAPACITY = 10_000
DRAIN_TIMEOUT_S = 2.0
MERGE_S = 0.05


@dataclass(slots=True)
class _Sum:
    amount: float
    write: AmountWrite
    done: list[Done] = field(default_factory=list)

    async def flush(self) -> None:
        result = await self.write(self.amount)
        for done in self.done:
            done(result)


class BackgroundWriter:
    def __init__(
        self,
        guard: RedisGuard,
        capacity: int = DEFAULT_CAPACITY,
        *,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._guard = guard
        self._queue: asyncio.Queue[Write] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None
        self._sums: dict[str, _Sum] = {}
        self._merge_timer: asyncio.TimerHandle | None = None
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

    def add(
        self, counter: str, amount: float, write: AmountWrite, done: Done | None = None
    ) -> None:
        """Add ``amount`` to ``counter``: ``write(total)`` runs once for what was added to it
        within ``MERGE_S``, then each ``done`` gets what the write returned."""
        if not self._guard.usable:
            self.dropped += 1
            return
        pending = self._sums.get(counter)
        if pending is None:
            pending = self._sums[counter] = _Sum(amount, write)
        else:
            pending.amount += amount
        if done is not None:
            pending.done.append(done)
        if self._merge_timer is None:
            self._merge_timer = asyncio.get_running_loop().call_later(MERGE_S, self._flush_sums)

    def _flush_sums(self) -> None:
        self._merge_timer = None
        sums, self._sums = self._sums, {}
        for pending in sums.values():
            self.submit(pending.flush)

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self._run(), name="redis-writer")

    async def stop(self) -> None:
        """Finish what is queued (bounded), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._merge_timer is not None:
            self._merge_timer.cancel()
        self._flush_sums()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await self._queue.join()
        await cancel(task)

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
