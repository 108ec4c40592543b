"""The embedded ledger: the same rows and roll-ups in a local SQLite file.

Used when no ``DATABASE_URL`` is set, so the gateway runs with nothing else
installed. The stdlib ``sqlite3`` module runs in one dedicated thread per
connection (writes and reads each have their own), never on the event loop.
WAL mode lets reports read while the writer writes; several worker processes
share the file, serialised by ``BEGIN IMMEDIATE`` and a busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from gateway.ledger.background import convert_in_slices, lower_thread_priority
from gateway.ledger.migrations import VERSION_TABLE, MigrationError, load_migrations, pending
from gateway.ledger.record import COLUMNS, SpendRecord
from gateway.ledger.rollups import ROLLUPS, all_upserts
from gateway.ledger.store import (
    Cursor,
    LogPage,
    LogQuery,
    ReadTimedOut,
    ReportQuery,
    ReportRow,
    StoreUnavailable,
)
from gateway.ledger.times import epoch_us

T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0
DAY_S = 86400
_DAY = "date(started_at / 1000000, 'unixepoch')"
_PLACEHOLDERS = ", ".join("?" for _ in COLUMNS)
_STAGING = [
    f"CREATE TEMP TABLE IF NOT EXISTS spend_stage ({', '.join(COLUMNS)})",
    f"CREATE TEMP TABLE IF NOT EXISTS spend_new ({', '.join(COLUMNS)},"
    " PRIMARY KEY (started_at, request_id))",
]
_INSERT_NEW = (
    "INSERT OR IGNORE INTO temp.spend_new SELECT * FROM temp.spend_stage AS s"
    " WHERE NOT EXISTS (SELECT 1 FROM main.spend_log AS l"
    " WHERE l.started_at = s.started_at AND l.request_id = s.request_id)"
    " ORDER BY started_at, request_id"
)
_ROLLUPS = all_upserts(source="temp.spend_new", day_expr=_DAY, dialect="sqlite")


class _Connection:
    """One SQLite connection confined to its own thread."""

    def __init__(self, path: Path, *, read_only: bool, timeout_s: float) -> None:
        self._path = path
        self._read_only = read_only
        self._timeout = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._db: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, work)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise ReadTimedOut(f"the query ran longer than {self._timeout:g}s") from exc
            raise StoreUnavailable(f"SQLite unavailable: {exc}") from exc
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreUnavailable(f"SQLite unavailable: {exc}") from exc

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self._db = self._open()
        if self._read_only:
            # Reports stop at the timeout, as Postgres's statement_timeout would.
            self._db.set_progress_handler(_deadline(self._timeout), 10_000)
        return work(self._db)

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    async def close(self) -> None:
        def _close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)


def _deadline(timeout_s: float) -> Callable[[], int]:
    limit = time.monotonic() + timeout_s
    return lambda: 1 if time.monotonic() > limit else 0


class SqliteStore:
    def __init__(self, path: Path, *, migrations_root: Path) -> None:
        self._conn = _Connection(path, read_only=False, timeout_s=BUSY_TIMEOUT_S)
        self._root = migrations_root
        self.path = path

    async def prepare(self) -> None:
        try:
            migrations = load_migrations(self._root, "sqlite")
        except MigrationError as exc:
            raise StoreUnavailable(f"the ledger schema cannot be applied: {exc}") from exc

        def migrate(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, checksum TEXT NOT NULL,"
                    " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                )
                applied = dict(db.execute(f"SELECT version, checksum FROM {VERSION_TABLE}"))
                for migration in pending(migrations, applied, "sqlite"):
                    for statement in _statements(migration.sql):
                        db.execute(statement)
                    db.execute(
                        f"INSERT INTO {VERSION_TABLE} (version, name, checksum) VALUES (?, ?, ?)",
                        (migration.version, migration.name, migration.checksum),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            for statement in _STAGING:
                db.execute(statement)

        try:
            await self._conn.run(migrate)
        except MigrationError as exc:
            raise StoreUnavailable(f"the ledger schema cannot be applied: {exc}") from exc

    async def write(self, records: Sequence[SpendRecord]) -> int:
        rows = await convert_in_slices(records, _row)

        def write(db: sqlite3.Connection) -> int:
            # Writes meter responses already sent: they run below the event loop's
            # priority. (Start-up's migrations, which admin calls wait for, do not.)
            lower_thread_priority()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM temp.spend_stage")
                db.execute("DELETE FROM temp.spend_new")
                db.executemany(f"INSERT INTO temp.spend_stage VALUES ({_PLACEHOLDERS})", rows)
                inserted = db.execute(_INSERT_NEW).rowcount
                if inserted:
                    db.execute("INSERT INTO main.spend_log SELECT * FROM temp.spend_new")
                    for statement in _ROLLUPS:
                        db.execute(statement)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return inserted

        return await self._conn.run(write)

    async def maintain(self, now: float, retention_s: float | None) -> int:
        if retention_s is None:
            return 0
        # Whole UTC days only, like the Postgres partitions.
        cutoff_day = int((now - retention_s) // DAY_S) * DAY_S
        cutoff = epoch_us(cutoff_day)

        def prune(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM spend_log WHERE started_at < ?", (cutoff,)).rowcount

        return await self._conn.run(prune)

    async def close(self) -> None:
        await self._conn.close()


class SqliteReader:
    def __init__(self, path: Path, *, statement_timeout_s: float) -> None:
        self._conn = _Connection(path, read_only=True, timeout_s=statement_timeout_s)

    async def logs(self, query: LogQuery) -> LogPage:
        where: list[str] = []
        args: list[Any] = []
        if query.start is not None:
            where.append("started_at >= ?")
            args.append(epoch_us(query.start))
        if query.end is not None:
            where.append("started_at < ?")
            args.append(epoch_us(query.end))
        for column, value in (
            ("key_hash", query.key_hash),
            ("team_id", query.team_id),
            ("model_group", query.model_group),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.after is not None:
            where.append("(started_at, request_id) < (?, ?)")
            args += [query.after.started_us, query.after.request_id]
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM spend_log"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY started_at DESC, request_id DESC LIMIT ?"
        )
        args.append(query.limit + 1)
        rows = await self._conn.run(lambda db: db.execute(sql, args).fetchall())
        page = rows[: query.limit]
        cursor = Cursor(page[-1][1], page[-1][0]) if len(rows) > query.limit else None
        return LogPage([_record(row) for row in page], cursor)

    async def report(self, query: ReportQuery) -> list[ReportRow]:
        rollup = ROLLUPS[query.group_by]
        alias = "max(key_alias)" if rollup.column == "key_hash" else "NULL"
        sql = (
            f"SELECT {rollup.column}, {alias}, sum(requests), sum(failed_requests),"
            " sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), sum(cost_usd),"
            " sum(unpriced_requests), sum(cache_write_tokens)"
            f" FROM {rollup.table} WHERE day >= ? AND day <= ?"
            f" GROUP BY {rollup.column} ORDER BY {rollup.report_order} LIMIT ?"
        )
        args = (query.start.isoformat(), query.end.isoformat(), query.limit)
        rows = await self._conn.run(lambda db: db.execute(sql, args).fetchall())
        return [
            ReportRow(
                group=row[0] or None,
                key_alias=row[1],
                requests=int(row[2]),
                failed_requests=int(row[3]),
                prompt_tokens=int(row[4]),
                completion_tokens=int(row[5]),
                cached_tokens=int(row[6]),
                cost_usd=float(row[7]),
                unpriced_requests=int(row[8]),
                cache_write_tokens=int(row[9]),
            )
            for row in rows
        ]

    async def close(self) -> None:
        await self._conn.close()


def _statements(script: str) -> list[str]:
    """A migration file's statements (they hold no semicolons inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


_STARTED = COLUMNS.index("started_at")
_ENDED = COLUMNS.index("ended_at")
_FALLBACKS = COLUMNS.index("fallbacks")
_CACHE_HIT = COLUMNS.index("cache_hit")
_STREAM = COLUMNS.index("stream")


def _row(record: SpendRecord) -> tuple[Any, ...]:
    values: list[Any] = [getattr(record, name) for name in COLUMNS]
    values[_STARTED] = epoch_us(record.started_at)
    values[_ENDED] = epoch_us(record.ended_at)
    values[_FALLBACKS] = orjson.dumps(list(record.fallbacks)).decode()
    return tuple(values)


def _record(row: Sequence[Any]) -> SpendRecord:
    values = list(row)
    values[_STARTED] = values[_STARTED] / 1_000_000
    values[_ENDED] = values[_ENDED] / 1_000_000
    values[_FALLBACKS] = tuple(orjson.loads(values[_FALLBACKS]))
    # SQLite stores booleans as 0/1.
    values[_CACHE_HIT] = bool(values[_CACHE_HIT])
    values[_STREAM] = bool(values[_STREAM])
    return SpendRecord(*values)
