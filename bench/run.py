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
import contextlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import configs
import loadgen
import procs
import report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHAT_PATH = "/v1/chat/completions"
START_TIMEOUT_S = 120.0
SETTLE_S = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--concurrency", type=_ints, default=[1, 16, 64, 256])
    parser.add_argument("--latency", type=_ints, default=[0, 50], help="upstream latencies, ms")
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
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    return args


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "kernel": f"Linux {platform.release()}",
        "python": platform.python_version(),
    }


def _output(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return "unknown"


def wrk_version() -> str:
    # ``wrk --version`` prints its banner and exits 1.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0]
    return "wrk"


def versions(args: argparse.Namespace) -> tuple[str, str]:
    litellm_python = str(Path(args.litellm).parent / "python")
    litellm = _output(
        [litellm_python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    )
    if args.gateway_label:
        return litellm, args.gateway_label
    src = Path(args.gateway_src) if args.gateway_src else REPO
    return litellm, _output(["git", "-C", str(src), "describe", "--always", "--dirty"])


def gateway_command(python: str, gateway_src: str | None, config: Path, port: int) -> list[str]:
    """``gateway serve`` on ``port``, with a free health port where the version has one."""
    command = [python, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)]
    command += ["--host", "127.0.0.1"]
    env = {**os.environ, "PYTHONPATH": gateway_src} if gateway_src else None
    usage = subprocess.run(
        [python, "-m", "gateway", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    ).stdout
    if "--health-port" in usage:
        command += ["--health-port", str(free_port())]
    return command


def mock_requests(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return int(json.loads(response.read())["chat"])


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.started: list[procs.Pinned] = []
        self.mock_ports = {latency: free_port() for latency in args.latency}
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}

    # --- processes ---------------------------------------------------------------

    def start(self) -> None:
        args = self.args
        listen = [f"--listen={port}:{lat}" for lat, port in self.mock_ports.items()]
        mock = self._spawn(
            "mock",
            [
                args.python,
                str(HERE / "mock_upstream.py"),
                *listen,
                f"--chunks={args.chunks}",
                f"--chunk-delay-ms={args.chunk_delay_ms}",
            ],
            args.load_core,
        )
        first_port = next(iter(self.mock_ports.values()))
        mock.wait_http(f"http://127.0.0.1:{first_port}/health", START_TIMEOUT_S)
        self.pids[report.MOCK] = mock.pid
        config = configs.write_config(
            self.workdir / "config.yaml", configs.proxy_config(self.mock_ports)
        )
        if report.GATEWAY in args.targets:
            port = free_port()
            env = {"PYTHONPATH": args.gateway_src} if args.gateway_src else {}
            gateway = self._spawn(
                "gateway",
                gateway_command(args.python, args.gateway_src, config, port),
                args.proxy_core,
                env=env,
            )
            gateway.wait_http(f"http://127.0.0.1:{port}/v1/models", START_TIMEOUT_S)
            self.ports[report.GATEWAY], self.pids[report.GATEWAY] = port, gateway.pid
        if report.LITELLM in args.targets:
            port = free_port()
            env = {
                # No network at start-up: use the cost map shipped in the package.
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_TELEMETRY": "False",
            }
            litellm = self._spawn(
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

    def _spawn(
        self, name: str, command: list[str], core: str, env: dict[str, str] | None = None
    ) -> procs.Pinned:
        process = procs.Pinned(
            name, command, cores=core, log=self.workdir / f"{name}.log", env=env, cwd=self.workdir
        )
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.started):
            process.stop()

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
        pid = self.pids[target]
        mock_port = self.mock_ports[latency]
        procs.wait_quiet(pid)
        forwarded_before = mock_requests(mock_port)
        cpu_before = procs.cpu_seconds(pid)
        result = loadgen.run_wrk(
            self.url(target, latency),
            self.body_file(latency, stream),
            concurrency=concurrency,
            seconds=seconds,
            api_key=None if target == report.MOCK else configs.MASTER_KEY,
            core=self.args.load_core,
        )
        # Requests cut off when wrk stopped still finish (or abort) inside the proxy:
        # charge all the CPU to all the requests it forwarded.
        procs.wait_quiet(pid)
        cpu = procs.cpu_seconds(pid) - cpu_before
        forwarded = mock_requests(mock_port) - forwarded_before
        return {
            "target": target,
            "stream": stream,
            "latency_ms": latency,
            "concurrency": concurrency,
            "rps": result.rps,
            "requests": result.requests,
            "errors": result.errors,
            "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms,
            "p99_ms": result.p99_ms,
            "max_ms": result.max_ms,
            "cpu_s": cpu,
            "forwarded": forwarded,
            "cpu_ms_per_req": cpu * 1000.0 / forwarded if forwarded else None,
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
        "machine": machine(),
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
            "load_generator": wrk_version(),
        },
        "memory": memory,
        "runs": runs,
        "ttfb": ttfb,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The orchestrator (and the TTFB probe it runs) stays off the proxies' core.
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run(args, say)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    text = report.markdown(result)
    (out / f"{stamp}.md").write_text(text, encoding="utf-8")
    print(text)
    say(f"wrote {out / stamp}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
