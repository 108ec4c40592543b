"""Is the data plane isolated from the control plane? Latency with and without a slow report.

    .venv/bin/python bench/admin_isolation.py            # about 4 minutes
    .venv/bin/python bench/admin_isolation.py --quick    # about 1 minute

1. Creates a Postgres database of its own (dropped at the end unless ``--keep``),
   migrates it, and fills the per-key daily roll-up with ``--keys`` x ``--days``
   rows, so that ``GET /spend/report?group_by=key`` over the whole range is a
   heavy report (it aggregates every row: about a second, on every core
   Postgres can use).
2. Starts the fast mock upstream (``--latency-ms`` per answer) and ``gateway
   serve`` on that database, pinned as ``run.py`` pins: the gateway on core 0,
   the mock, wrk and this script on core 1. A second gateway with ``--role
   control`` on the same database (on ``--control-core``) serves the reports in
   the ``*-split`` mode.
3. Runs wrk (``--concurrency`` connections, ``--seconds``) on
   ``/v1/chat/completions`` in these modes, interleaved, ``--repeats`` times,
   while ``--reporters`` clients run the report back to back:

   - ``quiet``: no admin traffic;
   - ``slow``: the report is slow by waiting, not by working: the bench holds
     a lock on the roll-up table, so every report waits on the database until
     its statement timeout (``ledger_report_timeout``, 5 s) stops it. This is
     the slow dashboard query as such: it isolates what the gateway does with
     it (pools, event loop) from the database host's CPU;
   - ``heavy``: the report works (the aggregation), against the gateway process
     serving the model traffic;
   - ``heavy-split``: the same, against the ``--role control`` process.
4. Prints, per mode, the medians over repeats of req/s and latency percentiles,
   and the reports' own outcome; writes everything to
   ``bench/results/admin-isolation-<time>.json``.

Postgres is not pinned (it is not ours to pin): on a small host it shares the
cores with the gateway, so a report that makes Postgres work takes CPU from
the gateway whoever sent the query. Put Postgres on its own host in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import configs
import httpx
import loadgen
import procs

from gateway.ledger.migrations import migrations_root
from gateway.ledger.postgres import migrate_database

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
START_TIMEOUT_S = 120.0
MODES = ("quiet", "slow", "heavy", "heavy-split")
SLOW_REPORT_TIMEOUT_S = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reporters", type=int, default=2)
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument(
        "--control-core",
        default="0",
        help="core of the --role control process (default: the gateway's, so that the load "
        "generator's core stays undisturbed on a 2-core host)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--quick", action="store_true", help="5 s runs, 1 repeat, 1M rows")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeats, args.days = 5.0, 1, 500
    return args


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_database(url: str, keys: int, days: int) -> dict[str, Any]:
    await migrate_database(url, migrations_root())
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await conn.execute(
            "INSERT INTO spend_daily_key SELECT d::date, 'key-' || k, 'alias-' || k,"
            " 100, 1, 10000, 5000, 0, 0.05 + k * 0.00001, 0"
            " FROM generate_series(current_date - ($2::int - 1), current_date, interval '1 day')"
            " AS d, generate_series(1, $1::int) AS k",
            keys,
            days,
        )
        await conn.execute("ANALYZE spend_daily_key")
        rows = await conn.fetchval("SELECT count(*) FROM spend_daily_key")
        return {"rows": int(rows), "fill_s": round(time.perf_counter() - started, 1)}
    finally:
        await conn.close()


class HeldLock:
    """An exclusive lock on the per-key roll-up, held from another connection while inside."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._release = threading.Event()
        self._held = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()))

    def __enter__(self) -> HeldLock:
        self._thread.start()
        if not self._held.wait(30):
            raise RuntimeError("could not take the lock")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._thread.join(30)

    async def _hold(self) -> None:
        conn = await asyncpg.connect(self._url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE spend_daily_key IN ACCESS EXCLUSIVE MODE")
                self._held.set()
                await asyncio.get_running_loop().run_in_executor(None, self._release.wait)
        finally:
            await conn.close()


class Reporters:
    """``count`` threads running the report back to back until stopped."""

    def __init__(self, base_url: str, count: int, days: int) -> None:
        self._base_url = base_url
        self._count = count
        start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (days - 1) * 86400))
        self._params = {"group_by": "key", "start": start, "limit": "10000"}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.latencies_ms: list[float] = []
        self.statuses: dict[int, int] = {}

    def __enter__(self) -> Reporters:
        self._threads = [threading.Thread(target=self._run) for _ in range(self._count)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {configs.MASTER_KEY}"}
        with httpx.Client(base_url=self._base_url, headers=headers, timeout=120) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                response = client.get("/spend/report", params=self._params)
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                status = response.status_code
                self.statuses[status] = self.statuses.get(status, 0) + 1


def start_gateway(
    workdir: Path, name: str, config: Path, url: str, core: str, role: str
) -> tuple[procs.Pinned, int]:
    port, health = free_port(), free_port()
    process = procs.Pinned(
        name,
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--health-port",
            str(health),
            "--role",
            role,
        ],
        cores=core,
        log=workdir / f"{name}.log",
        env={"DATABASE_URL": url, "GATEWAY_MASTER_KEY": configs.MASTER_KEY},
        cwd=workdir,
    )
    process.wait_http(f"http://127.0.0.1:{port}/v1/models", START_TIMEOUT_S)
    return process, port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


def main() -> int:
    args = parse_args()
    name = f"gateway_isolation_{uuid.uuid4().hex[:10]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    started: list[procs.Pinned] = []
    results: dict[str, Any] = {"args": vars(args), "runs": []}
    try:
        results["database"] = asyncio.run(prepare_database(url, args.keys, args.days))
        print(f"spend_daily_key: {results['database']}", flush=True)
        workdir = Path(tempfile.mkdtemp(prefix="admin-isolation-"))
        mock_port = free_port()
        mock = procs.Pinned(
            "mock",
            [
                sys.executable,
                str(HERE / "mock_upstream.py"),
                f"--listen={mock_port}:{args.latency_ms}",
            ],
            cores=args.load_core,
            log=workdir / "mock.log",
        )
        started.append(mock)
        mock.wait_http(f"http://127.0.0.1:{mock_port}/health", START_TIMEOUT_S)
        config = configs.proxy_config({args.latency_ms: mock_port})
        config["general_settings"]["ledger_report_timeout"] = SLOW_REPORT_TIMEOUT_S
        config_path = configs.write_config(workdir / "config.yaml", config)
        data, data_port = start_gateway(
            workdir, "gateway", config_path, url, args.proxy_core, "all"
        )
        started.append(data)
        control, control_port = start_gateway(
            workdir, "control", config_path, url, args.control_core, "control"
        )
        started.append(control)
        body = workdir / "body.json"
        body.write_bytes(configs.request_body(args.latency_ms, stream=False))
        chat_url = f"http://127.0.0.1:{data_port}/v1/chat/completions"
        report_url = {"slow": data_port, "heavy": data_port, "heavy-split": control_port}
        for repeat in range(args.repeats):
            shift = repeat % len(MODES)
            order = MODES[shift:] + MODES[:shift]
            for mode in order:
                procs.wait_quiet(data.pid)
                reporters = None
                with contextlib.ExitStack() as stack:
                    if mode == "slow":
                        stack.enter_context(HeldLock(url))
                    if mode != "quiet":
                        reporters = stack.enter_context(
                            Reporters(
                                f"http://127.0.0.1:{report_url[mode]}", args.reporters, args.days
                            )
                        )
                        # Let the first reports get going before measuring.
                        time.sleep(1.0)
                    wrk = loadgen.run_wrk(
                        chat_url,
                        body,
                        concurrency=args.concurrency,
                        seconds=args.seconds,
                        api_key=configs.MASTER_KEY,
                        core=args.load_core,
                    )
                run = {
                    "mode": mode,
                    "repeat": repeat,
                    "rps": round(wrk.rps, 1),
                    "errors": wrk.errors,
                    "p50_ms": wrk.p50_ms,
                    "p90_ms": wrk.p90_ms,
                    "p99_ms": wrk.p99_ms,
                    "max_ms": wrk.max_ms,
                    "reports": len(reporters.latencies_ms) if reporters else 0,
                    "report_median_ms": median(reporters.latencies_ms) if reporters else None,
                    "report_statuses": reporters.statuses if reporters else {},
                }
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
    finally:
        for process in reversed(started):
            process.stop()
        if not args.keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(table(results["runs"]))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"admin-isolation-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nwritten to {out}")
    return 0


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | reports done "
        "| report median ms | report statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        if not mine:
            continue

        def med(key: str, rows: list[dict[str, Any]] = mine) -> float:
            return median([float(r[key]) for r in rows if r[key] is not None])

        lines.append(
            f"| {mode} | {med('rps')} | {med('p50_ms')} | {med('p90_ms')} | {med('p99_ms')} "
            f"| {med('max_ms')} | {sum(r['errors'] for r in mine)} "
            f"| {sum(r['reports'] for r in mine)} "
            f"| {med('report_median_ms') if mode != 'quiet' else '-'} "
            f"| {_statuses(mine)} |"
        )
    return "\n".join(lines)


def _statuses(runs: list[dict[str, Any]]) -> str:
    total: dict[str, int] = {}
    for run in runs:
        for status, count in run["report_statuses"].items():
            total[str(status)] = total.get(str(status), 0) + count
    return ", ".join(f"{s}: {n}" for s, n in sorted(total.items())) or "-"


if __name__ == "__main__":
    sys.exit(main())
