"""The bounded queue between the data plane and wherever records go next.

``submit`` is synchronous and never waits: it appends to an in-memory deque.
A background task drains the deque in batches, when a batch is full or the
flush interval has passed, through ``deliver`` (the database, or the Redis
stream). While ``deliver`` fails, records stay in memory up to ``buffer_size``;
beyond that they are appended to the spill directory, and replayed from there
once ``deliver`` works again. Closing drains the queue; what cannot be
delivered by then is spilled, so a graceful shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from gateway.ledger.health import LedgerCounters, LedgerState
from gateway.ledger.record import SpendRecord
from gateway.ledger.retry import pause_after
from gateway.ledger.spill import Spill, SpillFailed
from gateway.ledger.store import StoreUnavailable
from gateway.supervisor import Supervisor

log = logging.getLogger(__name__)

Deliver = Callable[[list[SpendRecord]], Awaitable[None]]
# When even the spill directory fails, memory is the last resort, up to this many times
# the buffer; past it records are counted as lost and the ledger reports itself down.
HARD_CAP_FACTOR = 10
SPILL_SCAN_S = 30.0


class Outbox:
    def __init__(
        self,
        deliver: Deliver,
        spill: Spill,
        counters: LedgerCounters,
        *,
        batch_size: int,
        interval_s: float,
        buffer_size: int,
        name: str,
        linger_s: float | None = None,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._deliver = deliver
        self._spill = spill
        self._counters = counters
        self._batch = batch_size
        self._interval = interval_s
        self._capacity = buffer_size
        self._name = name
        # With a linger, the first record wakes the loop, which waits this long to gather
        # company and then ships (the Redis stream: milliseconds, not the batch interval).
        self._linger = linger_s
        self._spill_pending = spill.has_segments()  # records on disk waiting for replay
        self._spill_check_at = 0.0  # monotonic time to look for other processes' segments
        self._queue: deque[SpendRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = False
        self._failures = 0
        self.last_error: str | None = None
        self._spill_error: str | None = None

    # --- the request side ------------------------------------------------------------

    def submit(self, record: SpendRecord) -> None:
        if self._stopped or len(self._queue) >= self._capacity:
            self._overflow([record])
            return
        self._queue.append(record)
        if len(self._queue) >= self._batch or (self._linger is not None and len(self._queue) == 1):
            self._wake.set()

    def _overflow(self, records: list[SpendRecord]) -> None:
        try:
            self._counters.spilled += self._spill.append(records)
            self._spill_error = None
            self._spill_pending = True
        except SpillFailed as exc:
            self._spill_error = str(exc)
            if len(self._queue) + len(records) <= self._capacity * HARD_CAP_FACTOR:
                self._queue.extend(records)
            else:
                self._counters.lost += len(records)
                log.error(
                    "spend records lost: memory buffer full and spill failed",
                    extra={"records": len(records), "reason": str(exc)},
                )

    # --- state ---------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._queue)

    def state(self) -> LedgerState:
        if self._task is None or self._task.done() or self._spill_error is not None:
            return LedgerState.DOWN
        if self._failures or self._spill_pending:
            return LedgerState.DEGRADED
        return LedgerState.OK

    # --- the background side --------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self._run(), name=f"ledger-{self._name}")

    async def close(self, timeout_s: float) -> None:
        """Deliver what is queued (or spill it), then stop. Never raises."""
        self._closing = True
        self._wake.set()
        await self._tasks.finish(self._task, timeout_s)
        self._stopped = True
        if self._queue:
            remaining = list(self._queue)
            self._queue.clear()
            self._overflow(remaining)
        with contextlib.suppress(SpillFailed):
            self._spill.sync()
        self._spill.close()

    async def _run(self) -> None:
        while True:
            closing = self._closing
            try:
                await self._flush()
            except Exception:
                # A bug must not stop the writer: keep the records, log, go on.
                log.exception("ledger %s flush failed unexpectedly", self._name)
                self._failures += 1
            if closing:
                return
            await self._wait()

    async def _wait(self) -> None:
        """Until the next flush is due: a full batch or the interval, or after a failure
        the backoff pause (a full batch does not cut a pause short)."""
        pause = pause_after(self._failures) if self._failures else self._interval
        deadline = time.monotonic() + pause
        while not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                break
            self._wake.clear()
            if self._failures:
                continue
            if self._linger is not None and self._queue:
                await asyncio.sleep(self._linger)
                break
            if len(self._queue) >= self._batch:
                break

    async def _flush(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
            try:
                await self._deliver(batch)
            except StoreUnavailable as exc:
                self._requeue(batch)
                self._failed(exc)
                return
            except BaseException:
                self._requeue(batch)
                raise
        if self._failures:
            log.info("ledger %s recovered", self._name, extra={"after_failures": self._failures})
        self._failures = 0
        self.last_error = None
        if self._spill_pending or time.monotonic() >= self._spill_check_at:
            # Look on disk now and then (dead processes leave segments too), not on
            # every millisecond flush; at once when this process has spilled.
            if self._spill.has_segments():
                try:
                    self._counters.replayed += await self._spill.replay(self._deliver, self._batch)
                except StoreUnavailable as exc:
                    self._failed(exc)
                    return
            self._spill_pending = False
            self._spill_check_at = time.monotonic() + SPILL_SCAN_S
        try:
            await asyncio.to_thread(self._spill.sync)
        except SpillFailed as exc:
            self._spill_error = str(exc)

    def _requeue(self, batch: list[SpendRecord]) -> None:
        """Put a batch back in front; spill the newest records beyond the bound."""
        self._queue.extendleft(reversed(batch))
        excess = len(self._queue) - self._capacity
        if excess > 0:
            newest = [self._queue.pop() for _ in range(excess)]
            newest.reverse()
            self._overflow(newest)

    def _failed(self, exc: StoreUnavailable) -> None:
        self._failures += 1
        self._counters.failed_flushes += 1
        self.last_error = str(exc)
        log.warning(
            "ledger %s cannot deliver; records kept",
            self._name,
            extra={
                "reason": str(exc),
                "failures": self._failures,
                "buffered": len(self._queue),
            },
        )
