"""The spend ledger as the rest of the gateway sees it: submit, status, reads, close.

Built by the composition root. Without Redis, records go from the outbox
straight to the store in batches. With the Redis transaction buffer, the
outbox ships them to a Redis stream within milliseconds and the lease holder
among the gateway's processes drains the stream into the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from gateway.ledger.health import LedgerCounters, LedgerState, LedgerStatus
from gateway.ledger.migrations import migrations_root
from gateway.ledger.outbox import Outbox
from gateway.ledger.pg_reader import PostgresReader
from gateway.ledger.postgres import PostgresStore
from gateway.ledger.record import SpendRecord
from gateway.ledger.retry import with_retries
from gateway.ledger.settings import LedgerSettings
from gateway.ledger.spill import Spill
from gateway.ledger.sqlite import SqliteReader, SqliteStore
from gateway.ledger.store import SpendReader, SpendStore, StoreUnavailable
from gateway.ledger.stream import ENTRY_RECORDS, StreamBuffer, StreamDrainer, StreamShipper
from gateway.ledger.writer import StoreWriter
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger(__name__)

MAINTENANCE_S = 3600.0
PREPARE_AT_START_S = 10.0
SHIP_LINGER_S = 0.002
SHIP_SCAN_S = 1.0
_ORDER = {LedgerState.OK: 0, LedgerState.DEGRADED: 1, LedgerState.DOWN: 2}


class SpendLedger:
    def __init__(
        self,
        settings: LedgerSettings,
        store: SpendStore,
        reader: SpendReader,
        *,
        backend: str,
        stream: StreamBuffer | None = None,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self.settings = settings
        self.reader = reader
        self.backend = backend
        self.counters = LedgerCounters()
        self._store = store
        self._stream = stream
        self._spill = Spill(settings.spill_dir)
        self._writer = StoreWriter(store, self._spill, self.counters)
        self._drainer: StreamDrainer | None = None
        if stream is None:
            self._outbox = Outbox(
                self._write,
                self._spill,
                self.counters,
                batch_size=settings.batch_size,
                interval_s=settings.batch_write_s,
                buffer_size=settings.buffer_size,
                name="writer",
                tasks=self._tasks,
            )
        else:
            self._outbox = Outbox(
                StreamShipper(stream),
                self._spill,
                self.counters,
                batch_size=ENTRY_RECORDS,
                interval_s=SHIP_SCAN_S,
                buffer_size=settings.buffer_size,
                name="redis-shipper",
                linger_s=SHIP_LINGER_S,
                tasks=self._tasks,
            )
            self._drainer = StreamDrainer(
                stream,
                self._writer,
                batch_size=settings.batch_size,
                interval_s=settings.batch_write_s,
                tasks=self._tasks,
            )
        self._maintenance: asyncio.Task[None] | None = None

    def submit(self, record: SpendRecord) -> None:
        """Hand a record over; never waits, never raises on the request path."""
        self.counters.submitted += 1
        if record.cost_usd is None:
            self.counters.unpriced += 1
        self._outbox.submit(record)

    def status(self) -> LedgerStatus:
        states = [self._outbox.state()]
        errors = [self._outbox.last_error]
        if self._drainer is not None:
            states.append(self._drainer.state())
            errors.append(self._drainer.last_error)
        return LedgerStatus(
            state=max(states, key=_ORDER.__getitem__),
            backend=self.backend,
            redis_buffer=self._stream is not None,
            buffered=self._outbox.buffered,
            spill_segments=self._spill.segment_count(),
            last_error=next((e for e in errors if e), None),
        )

    async def start(self) -> None:
        """Apply migrations (briefly; a database that is down only delays them), then run."""
        try:
            async with asyncio.timeout(PREPARE_AT_START_S):
                await self._writer.prepare()
        except (StoreUnavailable, TimeoutError) as exc:
            log.warning(
                "the spend ledger's database is not reachable at start-up; records are "
                "kept and written when it is",
                extra={"reason": str(exc) or type(exc).__name__},
            )
        self._outbox.start()
        if self._drainer is not None:
            self._drainer.start()
        self._maintenance = self._tasks.spawn(self._maintain(), name="ledger-maintenance")

    async def close(self, timeout_s: float = 20.0) -> None:
        """Drain: deliver what is queued (spilling what cannot be), then release everything."""
        if self._maintenance is not None:
            await cancel(self._maintenance)
        await self._outbox.close(timeout_s)
        if self._drainer is not None:
            await self._drainer.close(timeout_s)
        for closing in (self._store.close, self.reader.close):
            try:
                await closing()
            except Exception:
                log.exception("closing the spend ledger failed")
        if self._stream is not None:
            with contextlib.suppress(Exception):
                await self._stream.close()

    async def _write(self, records: list[SpendRecord]) -> None:
        await with_retries(lambda: self._writer.write(records))

    async def _maintain(self) -> None:
        while True:
            try:
                dropped = await self._writer.maintain(time.time(), self.settings.retention_s)
                if dropped:
                    log.info("spend rows past retention dropped", extra={"dropped": dropped})
            except StoreUnavailable as exc:
                log.warning("ledger maintenance skipped", extra={"reason": str(exc)})
            except Exception:
                log.exception("ledger maintenance failed")
            await asyncio.sleep(MAINTENANCE_S)


def build_ledger(
    settings: LedgerSettings,
    stream: StreamBuffer | None = None,
    *,
    tasks: Supervisor | None = None,
) -> SpendLedger:
    """The ledger for these settings: Postgres when a URL is set, else embedded SQLite."""
    root = migrations_root()
    store: SpendStore
    reader: SpendReader
    if settings.database_url:
        store = PostgresStore(
            settings.database_url,
            max_connections=settings.writer_connections,
            migrations_root=root,
        )
        reader = PostgresReader(
            settings.database_url,
            max_connections=settings.report_connections,
            statement_timeout_s=settings.report_timeout_s,
        )
        backend = "postgres"
    else:
        store = SqliteStore(settings.sqlite_path, migrations_root=root)
        reader = SqliteReader(settings.sqlite_path, statement_timeout_s=settings.report_timeout_s)
        backend = "sqlite"
    return SpendLedger(settings, store, reader, backend=backend, stream=stream, tasks=tasks)
