"""The ledger in Postgres: batches go in with COPY, roll-ups with one upsert each.

A batch, in one transaction:

1. ``COPY`` the records into a session-local staging table;
2. insert them into ``spend_log`` with ``ON CONFLICT DO NOTHING`` (sorted by key,
   so concurrent writers lock in one order) and keep the rows actually inserted;
3. roll those rows up into each daily table with one set-based upsert.

A replayed batch (after a lost commit acknowledgement, a spill file, a Redis
stream entry read twice) finds its rows present, inserts none, and so adds
nothing to the roll-ups: totals stay exact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from gateway.ledger import partitions
from gateway.ledger.background import convert_in_slices
from gateway.ledger.migrations import VERSION_TABLE, MigrationError, load_migrations, pending
from gateway.ledger.pg_pool import CONNECT_TIMEOUT_S, FAILURES, create_pool, translate
from gateway.ledger.record import COLUMNS, SpendRecord
from gateway.ledger.rollups import all_upserts
from gateway.ledger.store import StoreUnavailable
from gateway.ledger.times import to_datetime

log = logging.getLogger(__name__)

# Two workers starting at once must not both migrate: one waits for the other.
MIGRATION_LOCK = 0x6761746577_01  # "gatew" + 1
PARTITION_LOCK = 0x6761746577_02
DAY_S = 86400.0

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS spend_stage (LIKE spend_log) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS spend_new (LIKE spend_log) ON COMMIT DELETE ROWS;"
)
_INSERT_NEW = (
    "WITH inserted AS ("
    " INSERT INTO spend_log SELECT * FROM spend_stage ORDER BY started_at, request_id"
    " ON CONFLICT DO NOTHING RETURNING *"
    ") INSERT INTO spend_new SELECT * FROM inserted"
)
_ROLLUPS = ";".join(
    all_upserts(
        source="spend_new",
        day_expr="(started_at AT TIME ZONE 'UTC')::date",
        dialect="postgres",
    )
)
_TEXT_COLUMNS = frozenset(
    i
    for i, name in enumerate(COLUMNS)
    if str(SpendRecord.__dataclass_fields__[name].type).startswith("str")
)


async def apply_migrations(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, root: Path
) -> list[str]:
    """Apply what is missing, under an advisory lock, in one transaction; names applied."""
    migrations = load_migrations(root, "postgres")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version, checksum FROM {VERSION_TABLE}")
        todo = pending(migrations, {r["version"]: r["checksum"] for r in rows}, "postgres")
        for migration in todo:
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    return [m.name for m in todo]


async def migrate_database(url: str, root: Path) -> list[str]:
    """``gateway migrate``: apply what is missing on one connection; names applied."""
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except FAILURES as exc:
        raise translate(exc, "connecting") from exc
    try:
        return await apply_migrations(conn, root)
    except FAILURES as exc:
        raise translate(exc, "migrating") from exc
    finally:
        await conn.close()


class PostgresStore:
    def __init__(self, url: str, *, max_connections: int, migrations_root: Path) -> None:
        self._url = url
        self._max = max_connections
        self._root = migrations_root
        self._pool: asyncpg.Pool | None = None
        self._days: set[date] = set()

    async def prepare(self) -> None:
        try:
            if self._pool is None:
                self._pool = await create_pool(
                    self._url, max_size=self._max, application_name="gateway-ledger-writer"
                )
            async with self._pool.acquire() as conn:
                applied = await apply_migrations(conn, self._root)
        except MigrationError as exc:
            raise StoreUnavailable(f"the ledger schema cannot be applied: {exc}") from exc
        except FAILURES as exc:
            raise translate(exc, "preparing the schema") from exc
        if applied:
            log.info("ledger migrations applied", extra={"migrations": applied})

    async def write(self, records: Sequence[SpendRecord]) -> int:
        pool = self._require_pool()
        rows = await convert_in_slices(records, _row)
        try:
            await self._ensure_days({partitions.utc_day(r.started_at) for r in records})
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(_STAGING)
                await conn.copy_records_to_table("spend_stage", records=rows, columns=COLUMNS)
                status = await conn.execute(_INSERT_NEW)
                inserted = int(status.rsplit(" ", 1)[-1])
                if inserted:
                    await conn.execute(_ROLLUPS)
        except FAILURES as exc:
            error = translate(exc, "writing spend rows")
            if "no partition" in str(exc):
                self._days.clear()
            raise error from exc
        return inserted

    async def maintain(self, now: float, retention_s: float | None) -> int:
        """Create today's and tomorrow's partitions ahead of need; drop expired ones."""
        pool = self._require_pool()
        try:
            await self._ensure_days({partitions.utc_day(now), partitions.utc_day(now + DAY_S)})
            if retention_s is None:
                return 0
            async with pool.acquire() as conn:
                names = [
                    r["name"]
                    for r in await conn.fetch(
                        "SELECT c.relname AS name FROM pg_inherits i"
                        " JOIN pg_class c ON c.oid = i.inhrelid"
                        " WHERE i.inhparent = 'spend_log'::regclass"
                    )
                ]
                dropped = 0
                for name in partitions.expired(names, now, retention_s):
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
                        await conn.execute(f"DROP TABLE IF EXISTS {name}")
                    dropped += 1
                    self._days = {d for d in self._days if partitions.partition_name(d) != name}
                    log.info("dropped expired spend partition", extra={"partition": name})
                return dropped
        except FAILURES as exc:
            raise translate(exc, "maintaining partitions") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _ensure_days(self, days: set[date]) -> None:
        missing = days - self._days
        if not missing:
            return
        async with self._require_pool().acquire() as conn, conn.transaction():
            # Two writers creating the same day's partition at once would collide.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
            for day in sorted(missing):
                await conn.execute(partitions.create_sql(day))
        self._days |= missing

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the ledger store is not prepared")
        return self._pool


def _row(record: SpendRecord) -> tuple[Any, ...]:
    values: list[Any] = [getattr(record, name) for name in COLUMNS]
    values[1] = to_datetime(record.started_at)
    values[2] = to_datetime(record.ended_at)
    values[_COST] = None if record.cost_usd is None else Decimal(repr(record.cost_usd))
    values[_FALLBACKS] = [_clean(f) for f in record.fallbacks]
    for index in _TEXT_COLUMNS:
        value = values[index]
        if isinstance(value, str) and "\x00" in value:
            values[index] = _clean(value)
    return tuple(values)


def _clean(text: str) -> str:
    """Postgres text cannot hold NUL characters; a caller-supplied string might."""
    return text.replace("\x00", "")


_COST = COLUMNS.index("cost_usd")
_FALLBACKS = COLUMNS.index("fallbacks")
