"""Connections for the control plane's tables, apart from the spend writer's and reports'.

Each ``ControlDB`` has its own small pool and a statement timeout, so a slow
admin query never holds a connection the data plane needs, and no query runs
unbounded. Statements are written once with ``?`` placeholders; the Postgres
side numbers them (``$1``...). ``Dialect`` says how each database takes an
instant and whether it locks rows.

Failures leave as the gateway's own errors: ``StorageUnavailable`` (503) when
the database is down, busy past the timeout, or not migrated yet; ``Conflict``
when a write breaks a uniqueness rule (the caller names the field).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg

from gateway.errors import StorageUnavailable
from gateway.ledger.pg_pool import FAILURES, create_pool
from gateway.ledger.settings import LedgerSettings
from gateway.ledger.times import EPOCH, epoch_us, to_datetime

T = TypeVar("T")
Row = Sequence[Any]
_PLACEHOLDER = re.compile(r"\?")
_COUNT = re.compile(r"(\d+)$")


class Conflict(Exception):
    """A write would break a uniqueness rule (a taken alias or id)."""


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # Appended to a SELECT that reads a row about to be changed.
    for_update: str

    def instant(self, epoch_s: float) -> Any:
        return to_datetime(epoch_s) if self.name == "postgres" else epoch_us(epoch_s)

    def epoch(self, value: Any) -> float:
        if isinstance(value, datetime):
            return (value - EPOCH).total_seconds()
        return float(value) / 1_000_000


POSTGRES = Dialect("postgres", " FOR UPDATE")
SQLITE = Dialect("sqlite", "")


class Tx(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""


class ControlDB(Protocol):
    dialect: Dialect

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]: ...

    def read(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        """Statements outside a transaction (one round trip each): for reads."""

    async def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for each of ``rows``, in one transaction and one round trip."""

    async def close(self) -> None: ...


# --- Postgres -------------------------------------------------------------------------


@lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """``?`` placeholders as Postgres's ``$1, $2, ...`` (no ``?`` appears inside literals)."""
    counter = iter(range(1, sql.count("?") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _PostgresTx:
    def __init__(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(record) for record in await self._conn.fetch(numbered(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._conn.execute(numbered(sql), *args)
        found = _COUNT.search(status)
        return int(found.group(1)) if found else 0


class PostgresControlDB:
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        statement_timeout_s: float,
        application_name: str,
    ) -> None:
        self._url = url
        self._max = max_connections
        self._timeout = statement_timeout_s
        self._name = application_name
        self._pool: asyncpg.Pool | None = None
        self._creating = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._translated():
            pool = await self._ensure_pool()
            # Waiting for a connection counts against the same bound as a statement.
            async with pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                yield _PostgresTx(conn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self._translated():
            pool = await self._ensure_pool()
            async with pool.acquire(timeout=self._timeout) as conn:
                yield _PostgresTx(conn)

    async def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._translated():
            pool = await self._ensure_pool()
            async with pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                await conn.executemany(numbered(sql), rows)

    @contextlib.asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            yield
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(exc.constraint_name or "unique") from exc
        except asyncpg.QueryCanceledError as exc:
            raise StorageUnavailable(
                f"The database query ran longer than {self._timeout:g}s and was stopped."
            ) from exc
        except asyncpg.UndefinedTableError as exc:
            raise StorageUnavailable(
                "The control-plane tables are not in place yet (run `gateway migrate`)."
            ) from exc
        except FAILURES as exc:
            raise StorageUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _ensure_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._creating:
                if self._pool is None:
                    self._pool = await create_pool(
                        self._url,
                        max_size=self._max,
                        application_name=self._name,
                        statement_timeout_s=self._timeout,
                    )
        return self._pool


# --- SQLite -----------------------------------------------------------------------------


class _SqliteTx:
    def __init__(self, db: SqliteControlDB) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._db.run(lambda conn: conn.execute(sql, args).fetchall())

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._db.run(lambda conn: conn.execute(sql, args).rowcount)


class SqliteControlDB:
    """One connection in its own thread; one transaction at a time in this process.

    ``BEGIN IMMEDIATE`` takes the file's write lock up front, so transactions of
    several processes on one file are serialised (waiting up to the timeout).
    """

    dialect = SQLITE

    def __init__(self, path: Path, *, statement_timeout_s: float) -> None:
        self._path = path
        self._timeout = statement_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="control-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self.run(lambda conn: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield _SqliteTx(self)
                await self.run(lambda conn: conn.execute("COMMIT"))
            except BaseException:
                with contextlib.suppress(StorageUnavailable):
                    await self.run(_rollback)
                raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        # The lock keeps a read from landing inside another task's open transaction.
        async with self._lock:
            yield _SqliteTx(self)

    async def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

        async with self._lock:
            await self.run(write)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, work)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise Conflict(str(exc)) from exc
            raise StorageUnavailable(f"The database refused the change: {exc}") from exc
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise StorageUnavailable(
                    f"The database query ran longer than {self._timeout:g}s and was stopped."
                ) from exc
            if "no such table" in str(exc):
                raise StorageUnavailable(
                    "The control-plane tables are not in place yet (the ledger creates them "
                    "at start-up)."
                ) from exc
            raise StorageUnavailable(f"The database is unavailable: {exc}") from exc
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StorageUnavailable(f"The database is unavailable: {exc}") from exc

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # Durable when the process dies (a killed worker); as the ledger's own file.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        limit = time.monotonic() + self._timeout
        self._conn.set_progress_handler(lambda: 1 if time.monotonic() > limit else 0, 10_000)
        return work(self._conn)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def open_control_db(
    settings: LedgerSettings, *, purpose: str, connections: int, statement_timeout_s: float
) -> ControlDB:
    """Connections of their own to the ledger's database (Postgres, else its SQLite file)."""
    if settings.database_url:
        return PostgresControlDB(
            settings.database_url,
            max_connections=connections,
            statement_timeout_s=statement_timeout_s,
            application_name=f"gateway-{purpose}",
        )
    return SqliteControlDB(settings.sqlite_path, statement_timeout_s=statement_timeout_s)
