"""The spend ledger under load: the writer's sustained rows/s into Postgres, and read latency
of ``/spend/report`` and ``/spend/logs`` over a million rows.

    .venv/bin/python bench/ledger_writer.py                 # 1M rows, about 2 minutes
    .venv/bin/python bench/ledger_writer.py --rows 200000   # quicker

It creates a database of its own on the local Postgres (dropped at the end
unless ``--keep``), then:

1. Sustained writer: submits records to a real ``SpendLedger`` (bounded queue,
   background flushes of ``--batch-size`` rows with COPY and the four roll-up
   upserts) as fast as the submitting loop can, and measures rows committed
   per second from the first submit to the last commit. The submit cost per
   record (what the request path pays) is measured too.
2. Bulk fill: writes the rest of ``--rows`` through the same store, spread over
   30 days, 1,000 keys, 50 teams, 20 models and 5 providers.
3. Reads: starts ``gateway serve`` on that database and times
   ``GET /spend/report`` (each group_by, 30 days) and ``GET /spend/logs``
   (first page, a filtered page, a page 100 pages deep), as medians and p95 of
   ``--repeats`` calls each.

Results are printed as markdown and written to ``bench/results/ledger-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from gateway.ledger.migrations import migrations_root
from gateway.ledger.pg_reader import PostgresReader
from gateway.ledger.postgres import PostgresStore
from gateway.ledger.record import SpendRecord
from gateway.ledger.service import SpendLedger
from gateway.ledger.settings import LedgerSettings

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
MASTER_KEY = "sk-bench-master-key"
DAY_S = 86400.0
RESULTS = Path(__file__).resolve().parent / "results"


def make_record(index: int, now: float, days: int, rng: random.Random) -> SpendRecord:
    started = now - rng.random() * days * DAY_S
    prompt, completion = rng.randint(5, 4000), rng.randint(1, 1000)
    failed = rng.random() < 0.02
    return SpendRecord(
        request_id=f"bench-{index:09d}-{rng.getrandbits(32):08x}",
        started_at=started,
        ended_at=started + 0.4,
        call_type="chat",
        key_hash=f"{rng.randrange(1000):064x}",
        key_alias=None,
        team_id=f"team-{rng.randrange(50)}",
        user_id=None,
        end_user=f"user-{rng.randrange(10000)}",
        model_group=f"model-{rng.randrange(20)}",
        deployment_id=f"deployment-{rng.randrange(40)}",
        provider=f"provider-{rng.randrange(5)}",
        model="gpt-4o-mini",
        api_base_host="api.example.test",
        prompt_tokens=prompt,
        completion_tokens=0 if failed else completion,
        cached_tokens=0,
        cost_usd=None if rng.random() < 0.01 else prompt * 1.5e-07 + completion * 6e-07,
        latency_ms=400.0,
        ttft_ms=None,
        status=502 if failed else 200,
        error_type="upstream_server_error" if failed else None,
        cache_hit=False,
        attempts=1,
        fallbacks=(),
        stream=False,
    )


def settings(url: str, batch_size: int, data_dir: Path) -> LedgerSettings:
    return LedgerSettings(
        database_url=url,
        redis_buffer=False,
        batch_write_s=0.05,
        batch_size=batch_size,
        buffer_size=10_000_000,
        pool_limit=5,
        report_timeout_s=30.0,
        retention_s=None,
        data_dir=data_dir,
    )


async def sustained(url: str, rows: int, batch_size: int, data_dir: Path) -> dict[str, Any]:
    """Rows/s through the real outbox + writer, submitted as fast as possible."""
    store = PostgresStore(url, max_connections=2, migrations_root=migrations_root())
    reader = PostgresReader(url, max_connections=1, statement_timeout_s=30)
    ledger = SpendLedger(settings(url, batch_size, data_dir), store, reader, backend="postgres")
    await ledger.start()
    rng = random.Random(1)
    now = time.time()
    records = [make_record(i, now, 1, rng) for i in range(rows)]
    started = time.perf_counter()
    submit_s = 0.0
    for offset in range(0, rows, 1000):
        chunk = records[offset : offset + 1000]
        t0 = time.perf_counter()
        for record in chunk:
            ledger.submit(record)
        submit_s += time.perf_counter() - t0
        await asyncio.sleep(0)  # let the writer run, as a serving event loop would
    while ledger.counters.written < rows:  # noqa: ASYNC110 - the ledger exposes counters, no event
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await ledger.close()
    return {
        "rows": rows,
        "batch_size": batch_size,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
        "submit_us_per_record": round(submit_s / rows * 1e6, 3),
        "failed_flushes": ledger.counters.failed_flushes,
    }


async def fill(url: str, rows: int, start_index: int) -> dict[str, Any]:
    store = PostgresStore(url, max_connections=2, migrations_root=migrations_root())
    await store.prepare()
    rng = random.Random(2)
    now = time.time()
    batch = 5000
    started = time.perf_counter()
    written = 0
    for offset in range(0, rows, batch):
        count = min(batch, rows - offset)
        records = [make_record(start_index + offset + i, now, 30, rng) for i in range(count)]
        written += await store.write(records)
    elapsed = time.perf_counter() - started
    await store.close()
    return {
        "rows": written,
        "batch_size": batch,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(written / elapsed) if elapsed else None,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: httpx.Client, path: str, params: dict[str, str], repeats: int) -> dict[str, Any]:
    samples = []
    body: Any = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        body = response.json()
    samples.sort()
    return {
        "path": path,
        "params": params,
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
        "rows_returned": len(body["data"]),
        "_body": body,
    }


def reads(url: str, repeats: int, workdir: Path) -> list[dict[str, Any]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "GATEWAY_MASTER_KEY": MASTER_KEY}
    env.pop("REDIS_URL", None)
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--port",
            str(port),
            "--health-port",
            str(free_port()),
        ],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    results: list[dict[str, Any]] = []
    try:
        headers = {"Authorization": f"Bearer {MASTER_KEY}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
        ) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/v1/models").raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for group in ("key", "team", "model", "provider"):
                results.append(timed(client, "/spend/report", {"group_by": group}, repeats))
            first = timed(client, "/spend/logs", {"limit": "100"}, repeats)
            results.append(first)
            results.append(
                timed(client, "/spend/logs", {"limit": "100", "model": "model-7"}, repeats)
            )
            cursor = first["_body"]["next_cursor"]
            for _ in range(99):
                cursor = client.get(
                    "/spend/logs", params={"limit": "100", "cursor": cursor}
                ).json()["next_cursor"]
            deep = timed(client, "/spend/logs", {"limit": "100", "cursor": cursor}, repeats)
            deep["params"] = {"limit": "100", "cursor": "(page 101)"}
            results.append(deep)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(15)
        if process.poll() is None:
            process.kill()
            process.wait(5)
        log.close()
    for result in results:
        result.pop("_body", None)
    return results


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def table_sizes(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM spend_log")
        size = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'spend_log'::regclass"
        )
        rollups = await conn.fetchval(
            "SELECT (SELECT count(*) FROM spend_daily_key) + (SELECT count(*) FROM"
            " spend_daily_team) + (SELECT count(*) FROM spend_daily_model) + (SELECT count(*)"
            " FROM spend_daily_provider)"
        )
        return {
            "spend_log_rows": rows,
            "spend_log_mb": round(int(size) / 1e6),
            "rollup_rows": rollups,
        }
    finally:
        await conn.close()


def markdown(result: dict[str, Any]) -> str:
    s, f = result["sustained"], result["fill"]
    lines = [
        f"## Spend ledger ({result['when']}, {result['cpus']} CPUs, Postgres on 127.0.0.1)",
        "",
        "| writer | rows | batch | seconds | rows/s |",
        "|---|---:|---:|---:|---:|",
        f"| outbox -> COPY + 4 roll-up upserts (sustained) | {s['rows']:,} | {s['batch_size']} "
        f"| {s['seconds']} | **{s['rows_per_s']:,}** |",
        f"| store.write bulk fill (30 days) | {f['rows']:,} | {f['batch_size']} | "
        f"{f['seconds']} | {f['rows_per_s']:,} |",
        "",
        f"Submit cost on the request path: {s['submit_us_per_record']} µs per record.",
        f"Table: {result['tables']['spend_log_rows']:,} rows, "
        f"{result['tables']['spend_log_mb']} MB with indexes; "
        f"{result['tables']['rollup_rows']:,} roll-up rows.",
        "",
        "| read (HTTP, through the gateway) | median ms | p95 ms | rows |",
        "|---|---:|---:|---:|",
    ]
    for read in result["reads"]:
        params = "&".join(f"{k}={v}" for k, v in read["params"].items())
        lines.append(
            f"| `{read['path']}?{params}` | {read['median_ms']} | {read['p95_ms']} "
            f"| {read['rows_returned']} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    name = f"gateway_bench_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    await admin(f'CREATE DATABASE "{name}"')
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    try:
        sustained_rows = min(args.sustained_rows, args.rows)
        result: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cpus": os.cpu_count(),
            "database": name,
        }
        result["sustained"] = await sustained(url, sustained_rows, args.batch_size, workdir)
        result["fill"] = await fill(url, args.rows - sustained_rows, sustained_rows)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        result["tables"] = await table_sizes(url)
        result["reads"] = await asyncio.to_thread(reads, url, args.repeats, workdir)
        return result
    finally:
        if not args.keep:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sustained-rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ledger-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    print(f"\n(written to {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
