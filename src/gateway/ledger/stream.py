"""The Redis transaction buffer: records reach Redis within milliseconds, Postgres later.

Each process ships its records to a Redis stream in small batches (one stream
entry holds many records), from a background task, never on the request path.
One process at a time holds the writer lease and drains the stream into the
store: it reads entries through a consumer group, writes them, and only after
the commit acknowledges and deletes them. A process killed with rows in its
hands leaves them pending in the group; the next lease holder reads the
pending entries first, so nothing is lost, and the store skips any it already
had, so nothing counts twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.ledger.codec import CorruptRecord, decode_many, encode_many
from gateway.ledger.health import LedgerState
from gateway.ledger.record import SpendRecord
from gateway.ledger.retry import pause_after, with_retries
from gateway.ledger.store import StoreUnavailable
from gateway.ledger.writer import StoreWriter
from gateway.supervisor import Supervisor

log = logging.getLogger(__name__)

ENTRY_RECORDS = 500  # records per stream entry
READ_ENTRIES = 20  # entries per read
POLL_S = 0.2  # how often the lease holder looks for new entries
LEASE_S = 10.0  # how long a dead holder keeps others waiting


class StreamBuffer(Protocol):
    """A durable queue of opaque entries with one group of readers.

    Every method raises the builtin ``ConnectionError`` when the buffer cannot be
    reached; nothing else escapes.
    """

    async def add(self, entries: Sequence[bytes]) -> None:
        """Append entries, in order."""

    async def lease(self, owner: str, ttl_s: float) -> bool:
        """Take or extend the writer lease; False when another owner holds it."""

    async def release(self, owner: str) -> None: ...

    async def read(self, count: int, *, pending: bool) -> list[tuple[str, bytes]]:
        """Entries not yet acknowledged: those read before and never acknowledged
        (``pending``), or new ones. Returns (entry id, entry) pairs."""

    async def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge and delete entries (after their records are committed)."""

    async def close(self) -> None: ...


class StreamShipper:
    """The outbox's ``deliver`` in Redis mode: records become stream entries."""

    def __init__(self, stream: StreamBuffer) -> None:
        self._stream = stream

    async def __call__(self, records: list[SpendRecord]) -> None:
        entries = [
            encode_many(records[i : i + ENTRY_RECORDS])
            for i in range(0, len(records), ENTRY_RECORDS)
        ]

        async def add() -> None:
            try:
                await self._stream.add(entries)
            except ConnectionError as exc:
                raise StoreUnavailable(f"Redis unavailable: {exc}") from exc

        await with_retries(add)


@dataclass(slots=True)
class _Held:
    ids: list[str]
    records: list[SpendRecord]
    since: float  # monotonic time the oldest held entry was read


class StreamDrainer:
    """The lease holder's loop: read, write when a batch is full or old enough, ack."""

    def __init__(
        self,
        stream: StreamBuffer,
        writer: StoreWriter,
        *,
        batch_size: int,
        interval_s: float,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._stream = stream
        self._writer = writer
        self._batch = batch_size
        self._interval = interval_s
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._held = _Held([], [], 0.0)
        self._leader = False
        self._recovering = False
        self._failures = 0
        self._closing = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def state(self) -> LedgerState:
        if self._task is None or self._task.done():
            return LedgerState.DOWN
        return LedgerState.DEGRADED if self._failures else LedgerState.OK

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self._run(), name="ledger-stream-drainer")

    async def close(self, timeout_s: float) -> None:
        """Write what is held if the store takes it quickly; the rest stays in Redis."""
        self._closing = True
        self._stop.set()
        await self._tasks.finish(self._task, timeout_s)
        if self._leader:
            with contextlib.suppress(ConnectionError):
                await self._stream.release(self._owner)

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._step()
                self._failures = 0
                self.last_error = None
            except (ConnectionError, StoreUnavailable) as exc:
                self._failures += 1
                self.last_error = str(exc)
                log.warning(
                    "ledger stream drain failed; entries stay in Redis",
                    extra={"reason": str(exc), "failures": self._failures},
                )
                await self._sleep(pause_after(self._failures))
            except Exception:
                self._failures += 1
                log.exception("ledger stream drain failed unexpectedly")
                await self._sleep(pause_after(self._failures))
        if self._leader and self._held.records:
            with contextlib.suppress(ConnectionError, StoreUnavailable):
                await self._flush()

    async def _step(self) -> None:
        if not await self._stream.lease(self._owner, LEASE_S):
            if self._leader:
                log.info("ledger stream lease lost", extra={"owner": self._owner})
            self._leader = False
            self._held = _Held([], [], 0.0)
            await self._sleep(LEASE_S / 6)
            return
        if not self._leader:
            # A new lease holder first takes over what the last one read but never
            # acknowledged (it may have died with those rows in its hands).
            self._leader = True
            self._recovering = True
            self._held = _Held([], [], 0.0)
            log.info("ledger stream lease taken", extra={"owner": self._owner})
        got = await self._fill()
        held = self._held
        overdue = held.records and (
            self._recovering or time.monotonic() - held.since >= self._interval
        )
        if len(held.records) >= self._batch or overdue:
            await self._flush()
        elif not got:
            await self._sleep(POLL_S)

    async def _fill(self) -> int:
        got = 0
        while len(self._held.records) < self._batch:
            entries = await self._stream.read(READ_ENTRIES, pending=self._recovering)
            if not entries:
                if self._recovering and not self._held.records:
                    self._recovering = False
                    continue
                break
            if not self._held.records:
                self._held.since = time.monotonic()
            for entry_id, raw in entries:
                self._held.ids.append(entry_id)
                try:
                    self._held.records.extend(decode_many(raw))
                except CorruptRecord as exc:
                    log.error(
                        "skipped an unreadable ledger stream entry",
                        extra={"entry": entry_id, "reason": str(exc)},
                    )
            got += len(entries)
            if self._recovering:
                break  # pending entries are re-read from the start until acknowledged
        return got

    async def _flush(self) -> None:
        held = self._held
        if held.records:
            await with_retries(lambda: self._writer.write(held.records))
        await self._stream.ack(held.ids)
        self._held = _Held([], [], 0.0)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the drainer is asked to stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()
