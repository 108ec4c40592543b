"""How the gateway scales with workers: ``--workers N`` pinned to N cores, N = 1..nproc.

    .venv/bin/python bench/scaling.py          # features on, plain and stream, c=16 and 64
    .venv/bin/python bench/scaling.py --variant redis --concurrency 64
    .venv/bin/python bench/scaling.py --render bench/results/scaling-<time>.json

Starts the mock upstream and one gateway per worker count, all at once: ``--workers
1`` as shipped (uvicorn in one process) on core 0, the same single worker under
gunicorn (``--max-requests`` set beyond reach, which is what makes ``serve`` use
gunicorn) on core 0, and ``--workers N`` (gunicorn) on cores 0..N-1 for each N up
to the machine's cores. Each is called with a virtual key; the config is
``features.py``'s ``base`` variant (or ``--variant``). The setups run one after
another in each repeat, the order rotating, with the same wrk load.

What it can and cannot show: wrk and the mock need CPU too. They are pinned to
the last core, which the largest N shares with the gateway's workers, so at
N = nproc the gateway never has N whole cores, and on a small machine the curve
of req/s flattens for that reason alone. The report therefore gives, for every
run, the CPU per request (constant CPU per request across N is what near-linear
scaling rests on: each worker then serves as much per core it gets), the req/s
per core the gateway actually used, how busy every core was, and how much of it
wrk and the mock took, so the reader can see what limited each N.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import configs
import features
import harness
import procs
import report
from harness import CHAT_PATH, HERE, REPO, SETTLE_S

# Far beyond any run: only there so that one worker runs under gunicorn, as N workers do.
NEVER_RECYCLE = 1_000_000_000
SINGLE = "1"
SINGLE_GUNICORN = "1 (gunicorn)"
# A busiest worker above this share of the workers' CPU: the others were all but idle.
LOPSIDED = 0.9


@dataclass(frozen=True)
class Setup:
    label: str
    workers: int
    cores: str
    extra: tuple[str, ...]

    @property
    def gunicorn(self) -> bool:
        return self.workers > 1 or "--max-requests" in self.extra


def setups(nproc: int, load_core: int, with_gunicorn_single: bool) -> list[Setup]:
    """One worker as shipped, one under gunicorn, then N = 2..nproc on cores 0..N-1."""
    # The first N cores, counting from the one farthest from the load core: with the load
    # on the last core, N = 1 never shares its core with the load.
    order = sorted(range(nproc), key=lambda c: c == load_core)
    found = [Setup(SINGLE, 1, str(order[0]), ("--workers", "1"))]
    if with_gunicorn_single:
        found.append(
            Setup(
                SINGLE_GUNICORN,
                1,
                str(order[0]),
                ("--workers", "1", "--max-requests", str(NEVER_RECYCLE)),
            )
        )
    for workers in range(2, nproc + 1):
        cores = ",".join(str(c) for c in sorted(order[:workers]))
        found.append(Setup(str(workers), workers, cores, ("--workers", str(workers))))
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    nproc = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--variant",
        default=features.BASE,
        choices=list(features.VARIANTS),
        help="the config every setup runs (features.py's variants)",
    )
    parser.add_argument("--concurrency", type=harness.ints, default=[16, 64])
    parser.add_argument("--modes", type=harness.names, default=["plain", "stream"])
    parser.add_argument("--max-workers", type=int, default=nproc)
    parser.add_argument(
        "--no-gunicorn-single",
        action="store_true",
        help="skip the one worker under gunicorn",
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    parser.add_argument("--gateway-src", help="run the gateway from this src/ directory")
    parser.add_argument("--gateway-label", help="how the report names the gateway's version")
    parser.add_argument(
        "--load-core", type=int, default=nproc - 1, help="wrk, the mock and this script"
    )
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--render", help="print the markdown of an earlier run's JSON and exit")
    return parser.parse_args(argv)


class Scaling:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.processes = harness.Processes(workdir)
        self.mock_port = harness.free_port()
        self.watched: dict[str, int] = {}
        self.setups = setups(args.max_workers, args.load_core, not args.no_gunicorn_single)
        self.variant = features.VARIANTS[args.variant]
        self.run_id = os.urandom(4).hex()
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.prefixes: dict[str, harness.RedisPrefix] = {}
        self._runs = 0

    def start(self, say: Callable[[str], None]) -> None:
        args = self.args
        mock = self.processes.start_mock(
            args.python, {0: self.mock_port}, str(args.load_core), chunks=args.chunks
        )
        self.watched["mock"] = mock.pid
        for index, setup in enumerate(self.setups):
            env: dict[str, str] = {}
            prefix = None
            if self.variant.redis:
                prefix = f"bench-scaling-{self.run_id}-{index}"
                self.prefixes[setup.label] = harness.RedisPrefix(args.redis_url, prefix)
                env["REDIS_URL"] = args.redis_url
            config = configs.write_config(
                self.workdir / f"config-{index}.json",
                features.variant_config(self.variant, self.mock_port, 0, prefix),
            )
            gateway, port = self.processes.start_gateway(
                f"gateway-{index}",
                args.python,
                args.gateway_src,
                config,
                setup.cores,
                extra=setup.extra,
                env=env,
            )
            self.ports[setup.label], self.pids[setup.label] = port, gateway.pid
            self.keys[setup.label] = harness.generate_key(
                port, configs.MASTER_KEY, features.key_fields(0, self.variant)
            )
            say(f"{setup.label} worker(s) on cores {setup.cores}: pid {gateway.pid}, port {port}")

    def stop(self) -> dict[str, int]:
        self.processes.stop()
        deleted = {}
        for prefix in self.prefixes.values():
            deleted[prefix.prefix] = prefix.delete()
            prefix.close()
        return deleted

    def body_file(self, stream: bool) -> Path:
        path = self.workdir / f"body-{int(stream)}.json"
        if not path.exists():
            path.write_bytes(configs.request_body(0, stream, nonce=self.vary_bodies))
        return path

    @property
    def vary_bodies(self) -> bool:
        # A cache must miss on every request; without one, a fixed body spares wrk the
        # work of building each request, on a core it shares.
        return bool(self.variant.litellm_settings.get("cache"))

    def measure(
        self, setup: Setup, stream: bool, concurrency: int, seconds: float
    ) -> dict[str, Any]:
        self._runs += 1
        pid = self.pids[setup.label]
        row = harness.measure(
            pid,
            f"http://127.0.0.1:{self.ports[setup.label]}{CHAT_PATH}",
            self.body_file(stream),
            self.mock_port,
            api_key=self.keys[setup.label],
            concurrency=concurrency,
            seconds=seconds,
            core=str(self.args.load_core),
            vary=f"{self.run_id}.{self._runs}" if self.vary_bodies else None,
            watch=self.watched,
        )
        return {
            "setup": setup.label,
            "workers": setup.workers,
            "cores": setup.cores,
            "stream": stream,
            "concurrency": concurrency,
            "roles": self.roles(pid, row["process_cpu_s"]),
            **row,
        }

    @staticmethod
    def roles(root: int, process_cpu: dict[str, float]) -> dict[str, Any]:
        """Split the gateway's CPU over the run: serving workers, and the rest (the
        gunicorn master, the health process)."""
        cpu = {int(p): c for p, c in process_cpu.items()}
        health = {p for p in cpu if "gateway.health" in procs.cmdline(p)}
        # Under gunicorn the root is the master and its other children serve; alone, the
        # root serves.
        workers = [c for p, c in cpu.items() if p not in health and p != root]
        if not workers:
            workers = [cpu.get(root, 0.0)]
        other = sum(cpu.values()) - sum(workers)
        total = sum(workers)
        return {
            "worker_cpu_s": sorted((round(w, 4) for w in workers), reverse=True),
            "busiest_worker_share": round(max(workers) / total, 4) if total else None,
            "other_cpu_s": round(other, 4),
        }


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        bench = Scaling(args, Path(tmp))
        try:
            bench.start(say)
            result = _measure_all(bench, args, say)
        finally:
            deleted = bench.stop()
        if deleted:
            result["redis_keys_deleted"] = deleted
            say(f"deleted the Redis keys of this run: {deleted}")
        return result


def _measure_all(
    bench: Scaling, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    time.sleep(SETTLE_S)
    streams = [mode == "stream" for mode in args.modes]
    for setup in bench.setups:
        for stream in streams:
            bench.measure(setup, stream, 16, args.warmup)
    runs: list[dict[str, Any]] = []
    for stream in streams:
        for concurrency in args.concurrency:
            for repeat in range(args.repeats):
                shift = repeat % len(bench.setups)
                for setup in bench.setups[shift:] + bench.setups[:shift]:
                    row = bench.measure(setup, stream, concurrency, args.seconds)
                    row["repeat"] = repeat
                    runs.append(row)
                    cpu = row["cpu_ms_per_req"]
                    busy = sum(row["core_busy"].values())
                    load = (row["wrk_cpu_s"] + row["watched_cpu_s"]["mock"]) / row["wall_s"]
                    say(
                        f"{'stream' if stream else 'plain '} c={concurrency:<3} #{repeat} "
                        f"workers {setup.label:<12} {row['rps']:>8,.0f} req/s  cpu "
                        f"{cpu if cpu is not None else float('nan'):6.3f} ms/req  "
                        f"gateway {sum(row['process_cpu_s'].values()) / row['wall_s']:.2f} cores  "
                        f"wrk+mock {load:.2f}"
                        f"  machine busy {busy:.2f}  errors {row['errors']}"
                    )
    return {
        "machine": harness.machine(),
        "gateway_version": harness.gateway_version(args.gateway_src, args.gateway_label),
        "command": shlex.join(["python", "bench/scaling.py", *sys.argv[1:]]),
        "conditions": {
            "variant": args.variant,
            "variant_what": bench.variant.what,
            "setups": [
                {"label": s.label, "workers": s.workers, "cores": s.cores, "args": list(s.extra)}
                for s in bench.setups
            ],
            "concurrencies": args.concurrency,
            "modes": args.modes,
            "seconds": args.seconds,
            "repeats": args.repeats,
            "chunks": args.chunks,
            "load_core": args.load_core,
            "load_generator": harness.wrk_version(),
            "varying_bodies": bench.vary_bodies,
        },
        "key_fields": features.key_fields(0, bench.variant),
        "runs": runs,
    }


# --- the report ---------------------------------------------------------------------------


def _paired(runs: list[dict[str, Any]], metric: str) -> dict[tuple[str, bool, int], list[float]]:
    """(setup, stream, c) -> per-repeat ``metric`` over the single worker's in that repeat."""
    rounds: dict[tuple[bool, int, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in runs:
        rounds[(row["stream"], row["concurrency"], row["repeat"])][row["setup"]] = row
    found: dict[tuple[str, bool, int], list[float]] = defaultdict(list)
    for (stream, concurrency, _), rows in rounds.items():
        single = rows.get(SINGLE)
        if not single or not single.get(metric):
            continue
        for label, row in rows.items():
            if row.get(metric):
                found[(label, stream, concurrency)].append(row[metric] / single[metric])
    return found


def _cores_used(row: dict[str, Any]) -> float:
    """The gateway's CPU while the load ran, in cores (what it did after is not here)."""
    return sum(row["process_cpu_s"].values()) / row["wall_s"]


def _ratio(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def _median_of(rows: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(value(r) for r in rows)


def scaling_table(result: dict[str, Any], stream: bool) -> str:
    runs = [r for r in result["runs"] if r["stream"] == stream]
    by_cell: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in runs:
        by_cell[(row["setup"], row["concurrency"])].append(row)
    speedup = _paired(runs, "rps")
    cpu_ratio = _paired(runs, "cpu_ms_per_req")
    unit = "stream" if stream else "req"
    lines = [
        f"| workers | cores | c | req/s | vs 1 worker | CPU ms/{unit} | vs 1 worker "
        "| req/s per gateway core | p50 / p99 ms | gateway CPU, cores | busiest worker "
        "| wrk + mock CPU, cores | machine busy, cores | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrency in result["conditions"]["concurrencies"]:
        for setup in result["conditions"]["setups"]:
            rows = by_cell.get((setup["label"], concurrency))
            if not rows:
                continue
            key = (setup["label"], stream, concurrency)
            is_single = setup["label"] == SINGLE
            rps = _median_of(rows, lambda r: r["rps"])
            cpu = _median_of(rows, lambda r: r["cpu_ms_per_req"] or 0.0)
            used = _median_of(rows, _cores_used)
            per_core = _median_of(rows, lambda r: r["rps"] / _cores_used(r))
            load = _median_of(
                rows, lambda r: (r["wrk_cpu_s"] + r["watched_cpu_s"].get("mock", 0.0)) / r["wall_s"]
            )
            busy = _median_of(rows, lambda r: sum(r["core_busy"].values()))
            shares = [r["roles"]["busiest_worker_share"] for r in rows if setup["workers"] > 1]
            busiest = "-"
            if shares:
                # A median hides runs where one worker took every connection: count them.
                alone = sum(1 for share in shares if share > LOPSIDED)
                busiest = f"{statistics.median(shares):.0%}"
                if alone:
                    busiest += f" ({alone} of {len(shares)} runs > {LOPSIDED:.0%})"
            lines.append(
                f"| {setup['label']} | {setup['cores']} | {concurrency} | {report.num(rps)} "
                f"| {'(reference)' if is_single else _ratio(speedup[key])} "
                f"| {report.num(cpu, 3)} "
                f"| {'(reference)' if is_single else _ratio(cpu_ratio[key])} "
                f"| {report.num(per_core)} "
                f"| {report.num(_median_of(rows, lambda r: r['p50_ms']))} / "
                f"{report.num(_median_of(rows, lambda r: r['p99_ms']))} "
                f"| {used:.2f} | {busiest} | {load:.2f} "
                f"| {busy:.2f} of {len(rows[0]['core_busy'])} "
                f"| {sum(r['errors'] for r in rows)} |"
            )
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    conditions = result["conditions"]
    nproc = machine["nproc"]
    load_core = conditions["load_core"]
    out = [
        "### Scaling with workers (bench/scaling.py)",
        "",
        f"Machine: {machine['cpu_model']}, {nproc} cores, {machine['kernel']}, "
        f"Python {machine['python']}. Gateway {result['gateway_version']}.",
        "",
        f"Conditions: `gateway serve --workers N` pinned to N cores, N = 1..{nproc}; "
        f"`{SINGLE_GUNICORN}` is one worker under gunicorn, as N > 1 run (what changes from "
        "`1` to it is gunicorn and prometheus-client's multiprocess metrics files, not the "
        f"number of workers). Config: `features.py`'s `{conditions['variant']}` variant "
        f"({conditions['variant_what']}); every request carries a virtual key. The mock "
        f"upstream (0 ms) and wrk (one thread) are pinned to core {load_core}. "
        f"{conditions['seconds']:g} s per run, {conditions['repeats']} repeats, the setups "
        "interleaved in rotating order; medians, and for ratios to one worker the median of "
        "the per-repeat ratios with their range.",
        "",
        f"**Read this first.** This machine has {nproc} cores and the load generator needs "
        f"CPU too: at N = {nproc} the gateway's workers share core {load_core} with wrk and "
        "the mock (the `wrk + mock CPU` column is what they took), and with whatever else "
        "runs on the machine (`machine busy` counts every process). So req/s at the largest "
        "N is bounded by the CPU left to the gateway, not by the gateway, and cannot show "
        "linear scaling here. What the measurements can show is whether each worker stays as "
        "efficient as one alone: CPU per request (`vs 1 worker` near 1.00x) and req/s per "
        "core the gateway actually used. Constant CPU per request across N, with no shared "
        "lock or single process in the request path, is what near-linear scaling on a "
        "machine with spare cores rests on; this run does not measure such a machine.",
        "",
    ]
    for stream in (False, True):
        if not any(r["stream"] == stream for r in result["runs"]):
            continue
        title = (
            f"Streaming chat completions ({conditions['chunks']} chunks):"
            if stream
            else "Non-streaming chat completions:"
        )
        out += [title, "", scaling_table(result, stream), ""]
    out += [
        "Columns: `gateway CPU, cores` is the gateway's process-tree CPU time over the run's "
        "wall time (workers, the gunicorn master and the health process); `req/s per gateway "
        "core` divides req/s by it; `busiest worker` is the busiest worker's share of the "
        "workers' CPU (50% is an even split over 2); `machine busy` sums every core's busy "
        "share from /proc/stat, whoever used it.",
        "",
        "Workers under gunicorn share one listening socket, and wrk opens all its connections "
        "at the start and keeps them: the worker that wakes first may accept every one of "
        "them and keep them for the whole run (the runs counted in `busiest worker`). Such a "
        "run measures one worker, whatever N is; it shows in the ranges of `vs 1 worker`. "
        "Traffic that opens connections as it goes spreads over the workers; a few "
        "long-lived keep-alive connections may not.",
        "",
        f"Reproduce: `{result['command']}`",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(markdown(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return 0
    os.sched_setaffinity(0, {args.load_core})

    result = run(args, harness.say)
    harness.write_report(args.out, "scaling-", result, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
