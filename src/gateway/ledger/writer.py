"""Write batches into the store: prepare it on first use, count, and isolate bad records.

A batch the store rejects (bad data) is split in halves until the bad records
are found; those are set aside in the spill directory's ``rejected-*.jsonl``
and the rest are written. One bad record never blocks the ones around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gateway.ledger.health import LedgerCounters
from gateway.ledger.record import SpendRecord
from gateway.ledger.spill import Spill
from gateway.ledger.store import RecordsRejected, SpendStore

log = logging.getLogger(__name__)


class StoreWriter:
    def __init__(self, store: SpendStore, spill: Spill, counters: LedgerCounters) -> None:
        self._store = store
        self._spill = spill
        self._counters = counters
        self._prepared = False
        # The flush loop and the maintenance task may both be first to prepare.
        self._preparing = asyncio.Lock()

    @property
    def prepared(self) -> bool:
        return self._prepared

    async def prepare(self) -> None:
        if self._prepared:
            return
        async with self._preparing:
            if not self._prepared:
                await self._store.prepare()
                self._prepared = True

    async def write(self, records: Sequence[SpendRecord]) -> None:
        """Write all of ``records``, or raise ``StoreUnavailable`` having written none for sure."""
        await self.prepare()
        try:
            inserted = await self._store.write(records)
        except RecordsRejected as exc:
            await self._isolate(records, str(exc))
            return
        self._counters.written += inserted
        self._counters.duplicates += len(records) - inserted

    async def maintain(self, now: float, retention_s: float | None) -> int:
        await self.prepare()
        return await self._store.maintain(now, retention_s)

    async def _isolate(self, records: Sequence[SpendRecord], reason: str) -> None:
        if len(records) == 1:
            self._spill.reject(records, reason)
            self._counters.rejected += 1
            return
        middle = len(records) // 2
        for half in (records[:middle], records[middle:]):
            await self.write(half)
