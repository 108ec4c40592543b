"""Where the gateway's CPU goes per request: py-spy on the gateway under wrk load.

    .venv/bin/python bench/profile.py                    # non-streaming, c=64, 20 s
    .venv/bin/python bench/profile.py --stream --seconds 30
    .venv/bin/python bench/profile.py --variant redis    # a features.py variant

Starts the mock upstream and the gateway (pinned as in ``run.py``), samples
the gateway with py-spy (``--nonblocking``: the gateway is never paused) while
wrk loads it, and prints the heaviest functions, by their own samples and
including what they call, as a share of the gateway's CPU and in microseconds
per request. The collapsed stacks are kept for flame graphs (``--keep``).

By default the gateway runs ``run.py``'s config with the master key. With
``--variant``, it runs that ``features.py`` variant's config instead, called
with a virtual key, every request's body different (so a cache misses), and for
the Redis variants ``REDIS_URL`` with a prefix of its own, deleted at the end.
Sampling goes on for a few seconds after the load stops, so work the gateway
defers past a request (and still has to do) is in the profile too.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import configs
import features
import harness
import loadgen
import procs
from harness import HERE, REPO, free_port, mock_requests

PY_SPY = HERE / ".venv-tools/bin/py-spy"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=int, default=0, help="upstream latency, ms")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=997, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    parser.add_argument("--gateway-src", help="run the gateway from this src/ directory")
    parser.add_argument("--py-spy", default=str(PY_SPY))
    parser.add_argument("--keep", help="write the collapsed stacks here")
    parser.add_argument(
        "--variant",
        choices=list(features.VARIANTS),
        help="run this features.py variant (virtual key, varying bodies) instead of run.py's "
        "config with the master key",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--tail", type=float, default=8.0, help="seconds sampled after the load stops"
    )
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    return parser.parse_args()


def frame_name(frame: str) -> str:
    """``handle (gateway/api/inference.py:42)`` -> ``gateway/api/inference.py:handle``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}" if path else name


def package(name: str) -> str:
    """``gateway/api/inference.py:f`` -> ``gateway/api``; ``aiohttp/client.py:f`` -> ``aiohttp``."""
    path = name.split(":", 1)[0]
    parts = path.split("/")
    if parts[0] == "gateway" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else "(native or builtin)"


def summarize(collapsed: str) -> tuple[Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return own, inclusive, total


def main() -> int:
    args = parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})
    redis_prefix: harness.RedisPrefix | None = None
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        work = Path(tmp)
        processes = harness.Processes(work)
        mock_port = free_port()
        try:
            processes.start_mock(args.python, {args.latency: mock_port}, args.load_core)
            env: dict[str, str] = {}
            if args.variant:
                variant = features.VARIANTS[args.variant]
                prefix = None
                if variant.redis:
                    prefix = f"bench-profile-{secrets.token_hex(4)}"
                    redis_prefix = harness.RedisPrefix(args.redis_url, prefix)
                    env["REDIS_URL"] = args.redis_url
                config_doc = features.variant_config(variant, mock_port, args.latency, prefix)
            else:
                config_doc = configs.proxy_config({args.latency: mock_port})
            config = configs.write_config(work / "config.yaml", config_doc)
            gateway, port = processes.start_gateway(
                "gateway", args.python, args.gateway_src, config, args.proxy_core, env=env
            )
            api_key = configs.MASTER_KEY
            if args.variant:
                api_key = harness.generate_key(
                    port,
                    configs.MASTER_KEY,
                    features.key_fields(args.latency, features.VARIANTS[args.variant]),
                )
            vary = bool(args.variant)
            body = work / "body.json"
            body.write_bytes(configs.request_body(args.latency, args.stream, nonce=vary))
            run_id = secrets.token_hex(4)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            loadgen.run_wrk(
                url,
                body,
                concurrency=16,
                seconds=3,
                api_key=api_key,
                core=args.load_core,
                vary=f"{run_id}.warmup" if vary else None,
            )
            procs.wait_quiet(gateway.pid)
            stacks = work / "stacks.txt"
            spy = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    args.load_core,
                    args.py_spy,
                    "record",
                    "--pid",
                    str(gateway.pid),
                    "--rate",
                    str(args.rate),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(stacks),
                    "--duration",
                    str(int(args.seconds + args.tail) + 2),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            threading.Event().wait(1.0)  # py-spy attaches
            forwarded = mock_requests(mock_port)
            cpu = procs.cpu_seconds(gateway.pid)
            result = loadgen.run_wrk(
                url,
                body,
                concurrency=args.concurrency,
                seconds=args.seconds,
                api_key=api_key,
                core=args.load_core,
                vary=f"{run_id}.run" if vary else None,
            )
            cpu_during = procs.cpu_seconds(gateway.pid) - cpu
            procs.wait_quiet(gateway.pid)
            cpu = procs.cpu_seconds(gateway.pid) - cpu
            forwarded = mock_requests(mock_port) - forwarded
            _, spy_err = spy.communicate(timeout=args.seconds + args.tail + 60)
            if not stacks.exists():
                print(f"py-spy wrote nothing: {spy_err.decode(errors='replace')}", file=sys.stderr)
                return 1
            collapsed = stacks.read_text(encoding="utf-8", errors="replace")
            if args.keep:
                Path(args.keep).write_text(collapsed, encoding="utf-8")
        finally:
            processes.stop()
            if redis_prefix is not None:
                redis_prefix.delete()
                redis_prefix.close()
    own, inclusive, total = summarize(collapsed)
    per_req_us = cpu * 1e6 / forwarded if forwarded else 0.0
    kind = "20-chunk streams" if args.stream else "non-streaming requests"
    what = f"variant {args.variant}" if args.variant else "run.py's config, master key"
    print(
        f"{what}; {kind}, c={args.concurrency}, upstream {args.latency} ms: "
        f"{result.rps:,.0f} req/s, {per_req_us:.0f} µs of gateway CPU per request "
        f"({forwarded} forwarded, {total} samples; {cpu - cpu_during:.2f} s of the "
        f"{cpu:.2f} s CPU came after the load stopped)\n"
    )
    packages: Counter[str] = Counter()
    for name, count in own.items():
        packages[package(name)] += count
    for title, counter in (
        ("own time, by package", packages),
        ("own time", own),
        ("including callees", inclusive),
    ):
        print(f"top {args.top} by {title}:  share  µs/req  function")
        for name, count in counter.most_common(args.top):
            share = count / total
            print(f"  {share:6.1%} {share * per_req_us:7.1f}  {name}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
