"""The spend ledger's test helpers: a Postgres database per session, queries, waits, restarts.

``ledger_database`` (session) creates a database of its own on the local
Postgres, applies the migrations with the real ``gateway migrate`` command, and
drops the database at the end. ``ledger_db`` (per test) empties the spend
tables first, so each test counts only its own rows. Import both fixtures into
a test module that needs them.

``postgres_stopped`` stops the local cluster and always starts it again, even
when the test fails, and waits until it accepts connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.ledger.record import SpendRecord
from support.gateway_process import run_gateway

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_CLUSTER = "main"
PG_CTL_TIMEOUT_S = 60.0
WAIT_S = 60.0
POLL_S = 0.1
SPEND_TABLES = (
    "spend_log",
    "spend_daily_key",
    "spend_daily_team",
    "spend_daily_model",
    "spend_daily_provider",
)
ROLLUP_DIMENSIONS = {
    "spend_daily_key": "key_hash",
    "spend_daily_team": "team_id",
    "spend_daily_model": "model_group",
    "spend_daily_provider": "provider",
}


def database_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(scope="session")
def ledger_database() -> Iterator[str]:
    """A fresh database for this session, migrated by ``gateway migrate``; dropped at the end."""
    name = f"gateway_ledger_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = database_url(name)
    try:
        done = run_gateway(["migrate"], env={"DATABASE_URL": url})
        assert done.returncode == 0, done.stderr
        assert "applied 0001_spend_ledger.sql" in done.stdout, done.stdout
        yield url
    finally:
        ensure_postgres_running()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def ledger_db(ledger_database: str) -> AsyncIterator[str]:
    """The session's ledger database with every spend table emptied for this test."""
    await execute(ledger_database, f"TRUNCATE {', '.join(SPEND_TABLES)}")
    yield ledger_database


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def execute(url: str, sql: str, *args: Any) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await conn.execute(sql, *args)
    finally:
        await conn.close()


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def row_count(url: str) -> int:
    return int(await fetchval(url, "SELECT count(*) FROM spend_log"))


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT_S
) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if await check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def wait_for_rows(url: str, count: int, timeout: float = WAIT_S) -> None:
    async def enough() -> bool:
        return await row_count(url) >= count

    await wait_until(enough, f"{count} spend rows", timeout)


async def rollups_match_rows(url: str) -> None:
    """Every roll-up table equals the sums of the raw rows, dimension by dimension."""
    for table, column in ROLLUP_DIMENSIONS.items():
        expected = await fetch(
            url,
            f"SELECT (started_at AT TIME ZONE 'UTC')::date AS day, coalesce({column}, '') AS dim,"
            " count(*) AS requests,"
            " count(*) FILTER (WHERE status >= 400) AS failed_requests,"
            " sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,"
            " sum(cached_tokens) AS cached_tokens,"
            " sum(cache_write_tokens) AS cache_write_tokens,"
            " coalesce(sum(cost_usd), 0) AS cost_usd,"
            " count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_requests"
            f" FROM spend_log GROUP BY 1, 2 ORDER BY 1, 2",
        )
        actual = await fetch(
            url,
            f"SELECT day, {column} AS dim, requests, failed_requests, prompt_tokens,"
            " completion_tokens, cached_tokens, cache_write_tokens, cost_usd, unpriced_requests"
            f" FROM {table} ORDER BY 1, 2",
        )
        assert [dict(r) for r in actual] == [dict(r) for r in expected], table


def cost(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


# --- the Postgres cluster ------------------------------------------------------------------


def _cluster_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"), key=float)
    return versions[-1]


def _pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", _cluster_version(), PG_CLUSTER]
    command += [action] + (["-m", "fast"] if action == "stop" else [])
    return subprocess.run(
        command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_S, check=False
    )


def postgres_running() -> bool:
    return _pg_ctl("status").returncode == 0


def ensure_postgres_running() -> None:
    """Start the cluster if it is down, and wait until it takes connections."""
    if not postgres_running():
        started = _pg_ctl("start")
        assert started.returncode == 0, started.stderr
    # pg_isready, not a client of ours: this runs inside async tests' finally blocks too.
    deadline = time.monotonic() + PG_CTL_TIMEOUT_S
    while True:
        ready = subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], timeout=10, check=False
        )
        if ready.returncode == 0:
            return
        assert time.monotonic() < deadline, "Postgres did not come back"
        time.sleep(POLL_S)


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    """Postgres is down inside the block; it is running again afterwards, whatever happened."""
    stopped = _pg_ctl("stop")
    try:
        assert stopped.returncode == 0, stopped.stderr
        yield
    finally:
        ensure_postgres_running()


def spill_segments(directory: Path) -> list[Path]:
    spill = directory / "spill"
    return sorted(spill.glob("spill-*.jsonl")) if spill.is_dir() else []


def spend_record(request_id: str, started_at: float, **fields: Any) -> SpendRecord:
    """A plain successful record, for tests that write to a store directly."""
    values: dict[str, Any] = {
        "request_id": request_id,
        "started_at": started_at,
        "ended_at": started_at + 0.25,
        "call_type": "chat",
        "key_hash": None,
        "key_alias": None,
        "team_id": None,
        "user_id": None,
        "end_user": None,
        "model_group": "chat",
        "deployment_id": "chat-deployment",
        "provider": "openai",
        "model": "gpt-upstream-chat",
        "api_base_host": "127.0.0.1",
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "cached_tokens": 0,
        "cost_usd": 2.5e-05,
        "latency_ms": 250.0,
        "ttft_ms": None,
        "status": 200,
        "error_type": None,
        "cache_hit": False,
        "attempts": 1,
        "fallbacks": (),
        "stream": False,
    }
    values.update(fields)
    return SpendRecord(**values)


async def partitions(url: str) -> list[str]:
    rows = await fetch(
        url,
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'spend_log'::regclass ORDER BY 1",
    )
    return [r["name"] for r in rows]
