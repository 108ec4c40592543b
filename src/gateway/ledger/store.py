"""What the ledger needs from a database: write batches idempotently, read them back.

Two implementations: ``postgres.PostgresStore`` and ``sqlite.SqliteStore``
(the embedded default). Both raise only the two errors below, so the writer
decides what a failure means in one place (``outbox``): an unavailable store is
retried later and its records kept; rejected records are set aside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from gateway.ledger.record import SpendRecord


class StoreUnavailable(Exception):
    """The store cannot take writes now (down, restarting, timed out): try again later."""


class RecordsRejected(Exception):
    """The store refuses these records as they are (bad data): retrying will not help."""


class SpendStore(Protocol):
    async def prepare(self) -> None:
        """Connect and bring the schema up to date; raises ``StoreUnavailable``."""

    async def write(self, records: Sequence[SpendRecord]) -> int:
        """Insert the records not already present, and roll them up, in one transaction.

        Returns how many were new. A record already written (a replay) is skipped
        and not counted again in the roll-ups.
        """

    async def maintain(self, now: float, retention_s: float | None) -> int:
        """Prepare upcoming days and drop raw rows older than the retention.

        Returns how much was dropped, for the log: day partitions (Postgres) or rows.
        Roll-ups are kept: reports over old days still work.
        """

    async def close(self) -> None: ...


class GroupBy(StrEnum):
    KEY = "key"
    TEAM = "team"
    MODEL = "model"
    PROVIDER = "provider"
    DAY = "day"  # the UTC day itself: every request once per day, oldest day first


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of ``/spend/logs`` ended: the last row's sort key."""

    started_us: int  # epoch microseconds
    request_id: str


@dataclass(frozen=True, slots=True)
class LogQuery:
    start: float | None  # epoch seconds, inclusive
    end: float | None  # epoch seconds, exclusive
    key_hash: str | None
    team_id: str | None
    model_group: str | None
    limit: int
    after: Cursor | None


@dataclass(frozen=True, slots=True)
class LogPage:
    rows: list[SpendRecord]
    next: Cursor | None


@dataclass(frozen=True, slots=True)
class ReportQuery:
    group_by: GroupBy
    start: date  # inclusive, UTC days
    end: date  # inclusive
    limit: int


@dataclass(frozen=True, slots=True)
class ReportRow:
    group: str | None  # None: requests without that attribute (no key, no team, ...)
    key_alias: str | None  # only when grouping by key
    requests: int
    failed_requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    cost_usd: float
    unpriced_requests: int


class SpendReader(Protocol):
    """Control-plane reads, on their own connections so a report never delays writes."""

    async def logs(self, query: LogQuery) -> LogPage: ...

    async def report(self, query: ReportQuery) -> list[ReportRow]: ...

    async def close(self) -> None: ...


class ReadTimedOut(Exception):
    """A read ran past the statement timeout."""
