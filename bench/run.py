"""The gateway and the LiteLLM proxy, side by side, in one invocation.

    .venv/bin/python bench/run.py              # the full matrix (about 30 minutes)
    .venv/bin/python bench/run.py --quick      # c=1 and 64, one latency, 2 repeats

Starts the mock upstream, the gateway and the LiteLLM proxy once; then for
every cell of the matrix (streaming or not x upstream latency x concurrency)
and every repeat, runs the mock alone, the gateway and LiteLLM one after the
other (the order rotates each repeat), each with the same wrk load. Then it
probes time to first byte of streams, reads memory, and writes
``bench/results/<time>.json`` and ``.md`` (the markdown is also printed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import configs
import harness
import loadgen
import procs
import report
from harness import CHAT_PATH, HERE, REPO, SETTLE_S, START_TIMEOUT_S


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--concurrency", type=harness.ints, default=[1, 16, 64, 256])
    parser.add_argument(
        "--latency", type=harness.ints, default=[0, 50], help="upstream latencies, ms"
    )
    parser.add_argument(
        "--modes", default="plain,stream", help="plain (non-streaming), stream, or both"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per proxy")
    parser.add_argument("--ttfb-seconds", type=float, default=5.0, help="0 skips the TTFB probe")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument(
        "--chunk-delay-ms",
        type=float,
        default=0.0,
        help="pause between stream chunks at the mock (0: the whole stream in one write)",
    )
    parser.add_argument(
        "--targets", default="gateway,litellm", help="which proxies to run (the mock always runs)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="c=1,64; 0 ms upstream; 2 repeats of 5 s"
    )
    parser.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    parser.add_argument(
        "--gateway-src",
        help="run the gateway from this src/ directory (e.g. an exported commit) "
        "instead of the installed one",
    )
    parser.add_argument("--gateway-label", help="how the report names the gateway's version")
    parser.add_argument("--litellm", default=str(HERE / ".venv-litellm/bin/litellm"))
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument("--out", default=str(HERE / "results"))
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        # Smaller defaults; options given explicitly still win.
        parser.set_defaults(concurrency=[1, 64], latency=[0], repeats=2, seconds=5.0)
    args = parser.parse_args(argv)
    args.modes = harness.names(args.modes)
    args.targets = harness.names(args.targets)
    return args


def versions(args: argparse.Namespace) -> tuple[str, str]:
    litellm_python = str(Path(args.litellm).parent / "python")
    litellm = harness.command_output(
        [litellm_python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    )
    return litellm, harness.gateway_version(args.gateway_src, args.gateway_label)


# What each run keeps of ``harness.measure``'s row (the JSON's shape since the first reports).
RUN_FIELDS = (
    "rps",
    "requests",
    "errors",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "cpu_s",
    "forwarded",
    "cpu_ms_per_req",
)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.processes = harness.Processes(workdir)
        self.mock_ports = {latency: harness.free_port() for latency in args.latency}
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}

    # --- processes ---------------------------------------------------------------

    def start(self) -> None:
        args = self.args
        mock = self.processes.start_mock(
            args.python,
            self.mock_ports,
            args.load_core,
            chunks=args.chunks,
            chunk_delay_ms=args.chunk_delay_ms,
        )
        self.pids[report.MOCK] = mock.pid
        config = configs.write_config(
            self.workdir / "config.yaml", configs.proxy_config(self.mock_ports)
        )
        if report.GATEWAY in args.targets:
            gateway, port = self.processes.start_gateway(
                "gateway", args.python, args.gateway_src, config, args.proxy_core
            )
            self.ports[report.GATEWAY], self.pids[report.GATEWAY] = port, gateway.pid
        if report.LITELLM in args.targets:
            port = harness.free_port()
            env = {
                # No network at start-up: use the cost map shipped in the package.
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_TELEMETRY": "False",
            }
            litellm = self.processes.spawn(
                "litellm",
                [
                    args.litellm,
                    "--config",
                    str(config),
                    "--port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                    "--num_workers",
                    "1",
                ],
                args.proxy_core,
                env=env,
            )
            litellm.wait_http(f"http://127.0.0.1:{port}/health/liveliness", START_TIMEOUT_S)
            self.ports[report.LITELLM], self.pids[report.LITELLM] = port, litellm.pid

    def stop(self) -> None:
        self.processes.stop()

    # --- measuring ---------------------------------------------------------------

    def url(self, target: str, latency: int) -> str:
        port = self.mock_ports[latency] if target == report.MOCK else self.ports[target]
        return f"http://127.0.0.1:{port}{CHAT_PATH}"

    def body_file(self, latency: int, stream: bool) -> Path:
        path = self.workdir / f"body-{latency}-{int(stream)}.json"
        if not path.exists():
            path.write_bytes(configs.request_body(latency, stream))
        return path

    def measure(
        self, target: str, stream: bool, latency: int, concurrency: int, seconds: float
    ) -> dict[str, Any]:
        row = harness.measure(
            self.pids[target],
            self.url(target, latency),
            self.body_file(latency, stream),
            self.mock_ports[latency],
            api_key=None if target == report.MOCK else configs.MASTER_KEY,
            concurrency=concurrency,
            seconds=seconds,
            core=self.args.load_core,
        )
        return {
            "target": target,
            "stream": stream,
            "latency_ms": latency,
            "concurrency": concurrency,
            **{k: row[k] for k in RUN_FIELDS},
        }

    def probe(self, target: str, latency: int) -> dict[str, Any]:
        port = self.mock_ports[latency] if target == report.MOCK else self.ports[target]
        procs.wait_quiet(self.pids[target])
        result = loadgen.probe_ttfb(
            "127.0.0.1",
            port,
            CHAT_PATH,
            configs.request_body(latency, stream=True),
            None if target == report.MOCK else configs.MASTER_KEY,
            self.args.ttfb_seconds,
        )
        return {
            "target": target,
            "latency_ms": latency,
            "n": len(result.ttfb_ms),
            "errors": result.errors,
            "ttfb_p50_ms": report.percentile(result.ttfb_ms, 50),
            "ttfb_p99_ms": report.percentile(result.ttfb_ms, 99),
            "total_p50_ms": report.percentile(result.total_ms, 50),
        }


def targets_in_order(targets: list[str], repeat: int) -> list[str]:
    """The mock and the proxies, rotated each repeat so none always runs first."""
    order = [report.MOCK, *targets]
    shift = repeat % len(order)
    return order[shift:] + order[:shift]


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            bench.start()
            return _measure_all(bench, args, say)
        finally:
            bench.stop()


def _measure_all(
    bench: Bench, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    time.sleep(SETTLE_S)
    memory: dict[str, dict[str, float]] = {}
    for target in args.targets:
        procs.wait_quiet(bench.pids[target])
        pid = bench.pids[target]
        memory[target] = {
            "idle_mib": procs.rss_mib(pid),
            "idle_main_mib": procs.rss_mib(pid, children=False),
        }
        say(
            f"{target}: idle RSS {memory[target]['idle_main_mib']:.0f} MiB "
            f"(process tree {memory[target]['idle_mib']:.0f} MiB)"
        )
    streams = [mode == "stream" for mode in args.modes]
    for target in args.targets:
        for stream in streams:
            bench.measure(target, stream, args.latency[0], 16, args.warmup)
    runs: list[dict[str, Any]] = []
    for stream in streams:
        for latency in args.latency:
            for concurrency in args.concurrency:
                for repeat in range(args.repeats):
                    for target in targets_in_order(args.targets, repeat):
                        row = bench.measure(target, stream, latency, concurrency, args.seconds)
                        row["repeat"] = repeat
                        runs.append(row)
                        cpu = row["cpu_ms_per_req"]
                        say(
                            f"{'stream' if stream else 'plain '} {latency:>3} ms c={concurrency:<3}"
                            f" #{repeat} {target:<8} {row['rps']:>9,.0f} req/s  "
                            f"p50 {row['p50_ms']:8.2f} ms  p99 {row['p99_ms']:8.2f} ms  "
                            f"cpu {cpu if cpu is not None else float('nan'):7.3f} ms/req  "
                            f"errors {row['errors']}"
                        )
    ttfb: list[dict[str, Any]] = []
    if args.ttfb_seconds > 0 and "stream" in args.modes:
        for latency in args.latency:
            for repeat in range(args.repeats):
                for target in targets_in_order(args.targets, repeat):
                    probe = bench.probe(target, latency)
                    ttfb.append(probe)
                    say(
                        f"ttfb {latency:>3} ms #{repeat} {target:<8} p50 "
                        f"{probe['ttfb_p50_ms']:.2f} ms  p99 {probe['ttfb_p99_ms']:.2f} ms "
                        f"(n={probe['n']}, errors {probe['errors']})"
                    )
    for target in args.targets:
        memory[target]["after_mib"] = procs.rss_mib(bench.pids[target])
        memory[target]["after_main_mib"] = procs.rss_mib(bench.pids[target], children=False)
    litellm_version, gateway_version = versions(args)
    return {
        "machine": harness.machine(),
        "litellm_version": litellm_version,
        "gateway_version": gateway_version,
        "command": shlex.join(["python", "bench/run.py", *sys.argv[1:]]),
        "conditions": {
            "concurrencies": args.concurrency,
            "latencies_ms": args.latency,
            "modes": args.modes,
            "seconds": args.seconds,
            "repeats": args.repeats,
            "chunks": args.chunks,
            "chunk_delay_ms": args.chunk_delay_ms,
            "ttfb_seconds": args.ttfb_seconds,
            "proxy_core": args.proxy_core,
            "load_core": args.load_core,
            "load_generator": harness.wrk_version(),
        },
        "memory": memory,
        "runs": runs,
        "ttfb": ttfb,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The orchestrator (and the TTFB probe it runs) stays off the proxies' core.
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})

    result = run(args, harness.say)
    harness.write_report(args.out, "", result, report.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
