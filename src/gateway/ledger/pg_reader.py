"""Control-plane reads from Postgres, on their own small pool with a statement timeout.

``/spend/logs`` pages through ``spend_log`` newest first with a keyset cursor
(each page is an index range scan, however deep); ``/spend/report`` reads only
the daily roll-ups, never the raw rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from gateway.ledger.pg_pool import FAILURES, create_pool
from gateway.ledger.record import COLUMNS, SpendRecord
from gateway.ledger.rollups import ROLLUPS
from gateway.ledger.store import (
    Cursor,
    LogPage,
    LogQuery,
    ReadTimedOut,
    ReportQuery,
    ReportRow,
    StoreUnavailable,
)
from gateway.ledger.times import datetime_us, to_datetime, us_to_datetime


class PostgresReader:
    def __init__(self, url: str, *, max_connections: int, statement_timeout_s: float) -> None:
        self._url = url
        self._max = max_connections
        self._timeout = statement_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def logs(self, query: LogQuery) -> LogPage:
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.start is not None:
            where.append(f"started_at >= {arg(to_datetime(query.start))}")
        if query.end is not None:
            where.append(f"started_at < {arg(to_datetime(query.end))}")
        if query.key_hash is not None:
            where.append(f"key_hash = {arg(query.key_hash)}")
        if query.team_id is not None:
            where.append(f"team_id = {arg(query.team_id)}")
        if query.model_group is not None:
            where.append(f"model_group = {arg(query.model_group)}")
        if query.after is not None:
            where.append(
                f"(started_at, request_id) < ({arg(us_to_datetime(query.after.started_us))}, "
                f"{arg(query.after.request_id)})"
            )
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM spend_log"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY started_at DESC, request_id DESC LIMIT {arg(query.limit + 1)}"
        )
        rows = await self._fetch(sql, args)
        page = rows[: query.limit]
        cursor = None
        if len(rows) > query.limit:
            cursor = Cursor(datetime_us(page[-1]["started_at"]), page[-1]["request_id"])
        return LogPage([_record(row) for row in page], cursor)

    async def report(self, query: ReportQuery) -> list[ReportRow]:
        rollup = ROLLUPS[query.group_by]
        alias = "max(key_alias)" if rollup.column == "key_hash" else "NULL"
        sql = (
            f"SELECT {rollup.column} AS grp, {alias} AS key_alias,"
            " sum(requests) AS requests, sum(failed_requests) AS failed_requests,"
            " sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,"
            " sum(cached_tokens) AS cached_tokens,"
            " sum(cache_write_tokens) AS cache_write_tokens, sum(cost_usd) AS cost_usd,"
            " sum(unpriced_requests) AS unpriced_requests"
            f" FROM {rollup.table} WHERE day >= $1 AND day <= $2"
            f" GROUP BY {rollup.column} ORDER BY {rollup.report_order} LIMIT $3"
        )
        rows = await self._fetch(sql, [query.start, query.end, query.limit])
        return [
            ReportRow(
                group=_group_value(row["grp"]),
                key_alias=row["key_alias"],
                requests=int(row["requests"]),
                failed_requests=int(row["failed_requests"]),
                prompt_tokens=int(row["prompt_tokens"]),
                completion_tokens=int(row["completion_tokens"]),
                cached_tokens=int(row["cached_tokens"]),
                cache_write_tokens=int(row["cache_write_tokens"]),
                cost_usd=float(row["cost_usd"]),
                unpriced_requests=int(row["unpriced_requests"]),
            )
            for row in rows
        ]

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _fetch(self, sql: str, args: list[Any]) -> list[asyncpg.Record]:
        try:
            if self._pool is None:
                self._pool = await create_pool(
                    self._url,
                    max_size=self._max,
                    application_name="gateway-spend-reports",
                    statement_timeout_s=self._timeout,
                )
            async with self._pool.acquire() as conn:
                return await conn.fetch(sql, *args)
        except asyncpg.QueryCanceledError as exc:
            raise ReadTimedOut(
                f"the query ran longer than {self._timeout:g}s (ledger_report_timeout)"
            ) from exc
        except asyncpg.UndefinedTableError as exc:
            raise StoreUnavailable("the ledger schema is not in place yet") from exc
        except FAILURES as exc:
            raise StoreUnavailable(f"Postgres unavailable: {type(exc).__name__}") from exc


def _group_value(value: Any) -> str | None:
    """The dimension's value ('' stored for none); a day as ISO 8601."""
    if isinstance(value, date):
        return value.isoformat()
    return value or None


def _record(row: asyncpg.Record) -> SpendRecord:
    values = dict(row.items())
    cost = values["cost_usd"]
    values["started_at"] = values["started_at"].timestamp()
    values["ended_at"] = values["ended_at"].timestamp()
    values["cost_usd"] = None if cost is None else float(cost)
    values["fallbacks"] = tuple(values["fallbacks"])
    return SpendRecord(**values)
