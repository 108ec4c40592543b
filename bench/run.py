"""The gateway, the LiteLLM proxy, Portkey's gateway and the pass-through floor, side by
side, in one invocation.

    .venv/bin/python bench/run.py              # the full matrix (about 50 minutes)
    .venv/bin/python bench/run.py --quick      # c=1 and 64, one latency, 2 repeats

Starts the mock upstream and every proxy once, and checks that each forwards a
plain and a streamed request to the mock and answers a valid chat completion
(a proxy that fails a mode sits that mode out, and the report says why); then
for every cell of the matrix (streaming or not x upstream latency x
concurrency) and every repeat, runs the mock alone and the proxies one after
the other (the order rotates each repeat), each with the same wrk load. Then it
probes time to first byte of streams, reads memory, and writes
``bench/results/<time>.json``, ``.md`` (the markdown is also printed) and the
charts (``-cpu-<mode>.png``, ``-p99-<mode>.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import configs
import harness
import loadgen
import procs
import report
from harness import CHAT_PATH, HERE, REPO, SETTLE_S, START_TIMEOUT_S

DEFAULT_TARGETS = ",".join(report.CONTENDERS)
# target -> mode -> why the target sat that mode out (it failed the check by hand).
Skipped = dict[str, dict[str, str]]
Memory = dict[str, dict[str, float]]
PORTKEY_PACKAGE = HERE / ".portkey/node_modules/@portkey-ai/gateway"


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
        "--targets",
        default=DEFAULT_TARGETS,
        help=f"which proxies to run, of {DEFAULT_TARGETS} (the mock always runs)",
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
    parser.add_argument(
        "--portkey", default=str(PORTKEY_PACKAGE), help="the @portkey-ai/gateway package"
    )
    parser.add_argument("--node", default="node")
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument("--out", default=str(HERE / "results"))
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        # Smaller defaults; options given explicitly still win.
        parser.set_defaults(concurrency=[1, 64], latency=[0], repeats=2, seconds=5.0)
    args = parser.parse_args(argv)
    args.modes = harness.names(args.modes)
    args.targets = harness.names(args.targets)
    unknown = set(args.targets) - set(report.CONTENDERS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return args


def _package_version(package_json: Path) -> str:
    try:
        return str(json.loads(package_json.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def versions(args: argparse.Namespace) -> dict[str, str]:
    """The version of each contender that ran (and of what the floor and Portkey run on)."""
    found = {report.GATEWAY: harness.gateway_version(args.gateway_src, args.gateway_label)}
    if report.LITELLM in args.targets:
        litellm_python = str(Path(args.litellm).parent / "python")
        found[report.LITELLM] = harness.command_output(
            [litellm_python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
        )
    if report.FLOOR in args.targets:
        found[report.FLOOR] = harness.command_output(
            [
                args.python,
                "-c",
                "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' "
                "for p in ('uvicorn', 'aiohttp', 'uvloop', 'httptools')))",
            ]
        )
    if report.PORTKEY in args.targets:
        package = Path(args.portkey)
        found[report.PORTKEY] = _package_version(package / "package.json")
        found["node"] = harness.command_output([args.node, "--version"]).removeprefix("v")
        found["hono_node_server"] = _package_version(_hono_node_server(package) / "package.json")
    return found


def _hono_node_server(package: Path) -> Path:
    """The @hono/node-server Portkey loads: its own nested copy, else the hoisted one."""
    nested = package / "node_modules/@hono/node-server"
    return nested if nested.exists() else package.parents[1] / "@hono/node-server"


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
        self.started: dict[str, procs.Pinned] = {}

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
        starters = {
            report.GATEWAY: self.start_gateway,
            report.LITELLM: self.start_litellm,
            report.FLOOR: self.start_floor,
            report.PORTKEY: self.start_portkey,
        }
        for target in args.targets:
            process, port = starters[target](config)
            self.ports[target], self.pids[target] = port, process.pid
            self.started[target] = process

    def start_gateway(self, config: Path) -> tuple[procs.Pinned, int]:
        args = self.args
        return self.processes.start_gateway(
            "gateway", args.python, args.gateway_src, config, args.proxy_core
        )

    def start_litellm(self, config: Path) -> tuple[procs.Pinned, int]:
        args = self.args
        port = harness.free_port()
        env = {
            # No network at start-up: use the cost map shipped in the package.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
        }
        command = [args.litellm, "--config", str(config), "--port", str(port)]
        command += ["--host", "127.0.0.1", "--num_workers", "1"]
        litellm = self.processes.spawn("litellm", command, args.proxy_core, env=env)
        litellm.wait_http(f"http://127.0.0.1:{port}/health/liveliness", START_TIMEOUT_S)
        return litellm, port

    def start_floor(self, config: Path) -> tuple[procs.Pinned, int]:
        args = self.args
        port = harness.free_port()
        command = [args.python, str(HERE / "floor.py"), "--config", str(config)]
        floor = self.processes.spawn("floor", [*command, "--port", str(port)], args.proxy_core)
        floor.wait_http(f"http://127.0.0.1:{port}/health", START_TIMEOUT_S)
        return floor, port

    def start_portkey(self, _config: Path) -> tuple[procs.Pinned, int]:
        """Portkey's gateway on Node; it takes its routing from each request's headers."""
        args = self.args
        server = Path(args.portkey) / "build/start-server.js"
        if not server.exists():
            raise RuntimeError(f"{server} is missing: run bench/setup.sh (or leave out portkey)")
        port = harness.free_port()
        # start-server.js reads only ``--port=N``; ``--headless`` leaves out the log console.
        command = [args.node, str(server), f"--port={port}", "--headless"]
        portkey = self.processes.spawn("portkey", command, args.proxy_core)
        portkey.wait_http(f"http://127.0.0.1:{port}/", START_TIMEOUT_S)
        return portkey, port

    def stop(self) -> None:
        self.processes.stop()

    # --- what each target is sent ------------------------------------------------

    def url(self, target: str, latency: int) -> str:
        return f"http://127.0.0.1:{self.port(target, latency)}{CHAT_PATH}"

    def port(self, target: str, latency: int) -> int:
        return self.mock_ports[latency] if target == report.MOCK else self.ports[target]

    def api_key(self, target: str) -> str | None:
        # Portkey checks no key of its own but gets the same header, so every proxy reads
        # the same request bytes.
        return None if target == report.MOCK else configs.MASTER_KEY

    def headers(self, target: str, latency: int) -> dict[str, str]:
        """Request headers besides the content type and the key: Portkey's routing config."""
        if target != report.PORTKEY:
            return {}
        config = configs.portkey_config(self.mock_ports[latency])
        return {"x-portkey-config": json.dumps(config, separators=(",", ":"))}

    def body_file(self, latency: int, stream: bool) -> Path:
        path = self.workdir / f"body-{latency}-{int(stream)}.json"
        if not path.exists():
            path.write_bytes(configs.request_body(latency, stream))
        return path

    # --- measuring ---------------------------------------------------------------

    def check(self, target: str, stream: bool) -> str | None:
        """One request by hand: None when the target forwarded it to the mock and answered
        a valid chat completion (or stream of chunks), else what went wrong."""
        latency = self.args.latency[0]
        before = harness.mock_requests(self.mock_ports[latency])
        status, body = self.post(target, latency, stream)
        forwarded = harness.mock_requests(self.mock_ports[latency]) - before
        problem = answer_problem(status, body, stream)
        if problem is None and forwarded != 1:
            problem = f"the mock received {forwarded} requests for one sent"
        return problem

    def post(self, target: str, latency: int, stream: bool) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", **self.headers(target, latency)}
        key = self.api_key(target)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            self.url(target, latency),
            data=configs.request_body(latency, stream),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def measure(
        self, target: str, stream: bool, latency: int, concurrency: int, seconds: float
    ) -> dict[str, Any]:
        row = harness.measure(
            self.pids[target],
            self.url(target, latency),
            self.body_file(latency, stream),
            self.mock_ports[latency],
            api_key=self.api_key(target),
            concurrency=concurrency,
            seconds=seconds,
            core=self.args.load_core,
            headers=self.headers(target, latency),
        )
        return {
            "target": target,
            "stream": stream,
            "latency_ms": latency,
            "concurrency": concurrency,
            **{k: row[k] for k in RUN_FIELDS},
        }

    def probe(self, target: str, latency: int) -> dict[str, Any]:
        procs.wait_quiet(self.pids[target])
        result = loadgen.probe_ttfb(
            "127.0.0.1",
            self.port(target, latency),
            CHAT_PATH,
            configs.request_body(latency, stream=True),
            self.api_key(target),
            self.args.ttfb_seconds,
            headers=self.headers(target, latency),
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


def answer_problem(status: int, body: bytes, stream: bool) -> str | None:
    """None for a 200 with a chat completion (or, streamed, chunks and ``[DONE]``)."""
    shown = body[:200].decode(errors="replace")
    if status != 200:
        return f"HTTP {status}: {shown}"
    try:
        if not stream:
            answer = json.loads(body)
            if answer.get("object") != "chat.completion" or not answer["choices"][0]["message"]:
                return f"not a chat completion: {shown}"
            return None
        events = [ln[6:] for ln in body.decode().splitlines() if ln.startswith("data: ")]
        if not events or events[-1] != "[DONE]":
            return f"a stream without data: [DONE]: {shown}"
        chunks = [json.loads(event) for event in events[:-1]]
        if not chunks or any(c.get("object") != "chat.completion.chunk" for c in chunks):
            return f"not a stream of chat completion chunks: {shown}"
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        return f"unreadable answer ({type(exc).__name__}): {shown}"
    return None


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


def check_all(bench: Bench, args: argparse.Namespace, say: Callable[[str], None]) -> Skipped:
    """Each proxy's request by hand in each mode; the modes a proxy failed, with why."""
    skipped: Skipped = {}
    for target in args.targets:
        for mode in args.modes:
            problem = bench.check(target, mode == "stream")
            if problem is None:
                say(f"{target}: {mode} request forwarded to the mock, valid answer")
                continue
            log = bench.started[target].tail(200)
            reason = explain(target, mode, problem, log, versions(args))
            skipped.setdefault(target, {})[mode] = reason
            say(f"{target}: {mode} check failed, {mode} left out for it: {reason}")
    return skipped


def explain(target: str, mode: str, problem: str, log: str, found: dict[str, str]) -> str:
    """A failed check in words, with the known cause where the target's log shows it."""
    if target == report.PORTKEY and mode == "stream" and "TypeError: immutable" in log:
        return (
            f"Portkey {found.get(report.PORTKEY)} with @hono/node-server "
            f"{found.get('hono_node_server')} on Node {found.get('node')} answered a streamed "
            f"request with {problem.strip()}, and its log says `TypeError: immutable`: the "
            "@hono/node-server version the note above is about (run `bench/setup.sh`)."
        )
    return problem


def runnable(targets: list[str], stream: bool, skipped: Skipped) -> list[str]:
    mode = "stream" if stream else "plain"
    return [t for t in targets if mode not in skipped.get(t, {})]


def _say_run(say: Callable[[str], None], row: dict[str, Any]) -> None:
    cpu = row["cpu_ms_per_req"]
    say(
        f"{'stream' if row['stream'] else 'plain '} {row['latency_ms']:>3} ms "
        f"c={row['concurrency']:<3} #{row['repeat']} {row['target']:<8} "
        f"{row['rps']:>9,.0f} req/s  p50 {row['p50_ms']:8.2f} ms  p99 {row['p99_ms']:8.2f} ms  "
        f"cpu {cpu if cpu is not None else float('nan'):7.3f} ms/req  errors {row['errors']}"
    )


def idle_memory(bench: Bench, args: argparse.Namespace, say: Callable[[str], None]) -> Memory:
    memory: Memory = {}
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
    return memory


def measure_matrix(
    bench: Bench, args: argparse.Namespace, skipped: Skipped, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    streams = [mode == "stream" for mode in args.modes]
    for stream in streams:
        for target in runnable(args.targets, stream, skipped):
            bench.measure(target, stream, args.latency[0], 16, args.warmup)
    runs: list[dict[str, Any]] = []
    for stream in streams:
        targets = runnable(args.targets, stream, skipped)
        for latency in args.latency:
            for concurrency in args.concurrency:
                for repeat in range(args.repeats):
                    for target in targets_in_order(targets, repeat):
                        row = bench.measure(target, stream, latency, concurrency, args.seconds)
                        row["repeat"] = repeat
                        runs.append(row)
                        _say_run(say, row)
    return runs


def probe_all(
    bench: Bench, args: argparse.Namespace, skipped: Skipped, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    ttfb: list[dict[str, Any]] = []
    if args.ttfb_seconds <= 0 or "stream" not in args.modes:
        return ttfb
    targets = runnable(args.targets, True, skipped)
    for latency in args.latency:
        for repeat in range(args.repeats):
            for target in targets_in_order(targets, repeat):
                probe = bench.probe(target, latency)
                ttfb.append(probe)
                say(
                    f"ttfb {latency:>3} ms #{repeat} {target:<8} p50 "
                    f"{probe['ttfb_p50_ms']:.2f} ms  p99 {probe['ttfb_p99_ms']:.2f} ms "
                    f"(n={probe['n']}, errors {probe['errors']})"
                )
    return ttfb


def _measure_all(
    bench: Bench, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    time.sleep(SETTLE_S)
    memory = idle_memory(bench, args, say)
    skipped = check_all(bench, args, say)
    runs = measure_matrix(bench, args, skipped, say)
    ttfb = probe_all(bench, args, skipped, say)
    for target in args.targets:
        memory[target]["after_mib"] = procs.rss_mib(bench.pids[target])
        memory[target]["after_main_mib"] = procs.rss_mib(bench.pids[target], children=False)
    found = versions(args)
    return {
        "machine": harness.machine(),
        # The two keys every earlier report has; ``versions`` holds them all.
        "litellm_version": found.get(report.LITELLM, "not run"),
        "gateway_version": found[report.GATEWAY],
        "versions": found,
        "command": shlex.join(["python", "bench/run.py", *sys.argv[1:]]),
        "conditions": {
            "targets": args.targets,
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
        "skipped": skipped,
        "memory": memory,
        "runs": runs,
        "ttfb": ttfb,
    }


def write_charts(result: dict[str, Any], stem: Path, say: Callable[[str], None]) -> None:
    try:
        paths = report.run_charts(result, stem)
    except ImportError:
        say("no charts: matplotlib is missing (pip install -e '.[bench]')")
        return
    say("charts: " + ", ".join(str(path) for path in paths))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The orchestrator (and the TTFB probe it runs) stays off the proxies' core.
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})

    result = run(args, harness.say)
    stem = harness.write_report(args.out, "", result, report.markdown)
    write_charts(result, stem, harness.say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
