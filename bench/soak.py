"""Soak: hours of steady traffic through one gateway worker, and its memory curve.

Runs the bench's mock upstream and one gateway (features on: master-key auth,
routing across two deployments, metrics, the embedded ledger), pinned as in
``run.py``, then drives it with wrk in one-minute segments for ``--minutes``,
sampling the serving process's RSS after each. It reports the curve and the
growth from the first sample after warm-up to the last.

    .venv/bin/python bench/soak.py --minutes 30 --concurrency 32
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import configs
import loadgen
import procs
from harness import HERE, free_port, gateway_command, mock_requests

SEGMENT_S = 60.0
WARMUP_S = 30.0
START_TIMEOUT_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    args = parser.parse_args()

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started: list[procs.Pinned] = []
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as tmp:
        workdir = Path(tmp)
        try:
            samples = soak(args, workdir, started)
        finally:
            for process in reversed(started):
                process.stop()
    summary = summarize(samples)
    (results / f"soak-{stamp}.json").write_text(json.dumps({"samples": samples, **summary}))
    table = render(samples, summary, args)
    (results / f"soak-{stamp}.md").write_text(table)
    print(table)
    return 0


def soak(
    args: argparse.Namespace, workdir: Path, started: list[procs.Pinned]
) -> list[dict[str, Any]]:
    mock_port = free_port()
    mock = procs.Pinned(
        "mock",
        [args.python, str(HERE / "mock_upstream.py"), f"--listen={mock_port}:0"],
        cores=args.load_core,
        log=workdir / "mock.log",
        cwd=workdir,
    )
    started.append(mock)
    mock.wait_http(f"http://127.0.0.1:{mock_port}/health", START_TIMEOUT_S)
    config = configs.write_config(workdir / "config.yaml", configs.proxy_config({0: mock_port}))
    port = free_port()
    gateway = procs.Pinned(
        "gateway",
        gateway_command(args.python, None, config, port),
        cores=args.proxy_core,
        log=workdir / "gateway.log",
        cwd=workdir,
    )
    started.append(gateway)
    gateway.wait_http(f"http://127.0.0.1:{port}/v1/models", START_TIMEOUT_S)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = workdir / "body.json"
    body.write_bytes(configs.request_body(0, stream=False))

    def drive(seconds: float) -> loadgen.WrkResult:
        return loadgen.run_wrk(
            url,
            body,
            concurrency=args.concurrency,
            seconds=seconds,
            api_key=configs.MASTER_KEY,
            core=args.load_core,
        )

    idle_rss = procs.rss_mib(gateway.pid, children=False)
    drive(WARMUP_S)
    samples: list[dict[str, Any]] = [
        {
            "minute": 0,
            "requests": 0,
            "errors": 0,
            "rss_mib": procs.rss_mib(gateway.pid, children=False),
        }
    ]
    forwarded_start = mock_requests(mock_port)
    total_errors = 0
    for minute in range(1, int(args.minutes) + 1):
        result = drive(SEGMENT_S)
        total_errors += result.errors
        samples.append(
            {
                "minute": minute,
                "requests": mock_requests(mock_port) - forwarded_start,
                "errors": total_errors,
                "rps": round(result.requests / result.seconds),
                "p99_ms": result.p99_ms,
                "rss_mib": procs.rss_mib(gateway.pid, children=False),
            }
        )
        print(json.dumps(samples[-1]), flush=True)
    samples[0]["idle_rss_mib"] = idle_rss
    return samples


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    growth = (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"] * 100.0
    return {
        "requests": last["requests"],
        "errors": last["errors"],
        "rss_after_warmup_mib": first["rss_mib"],
        "rss_last_mib": last["rss_mib"],
        "rss_max_mib": max(s["rss_mib"] for s in samples),
        "growth_percent": round(growth, 2),
    }


def render(samples: list[dict[str, Any]], summary: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"Soak: {args.minutes:g} min, wrk c={args.concurrency}, one gateway worker pinned to one "
        f"core, 0 ms mock upstream; idle RSS {samples[0].get('idle_rss_mib', 0):.1f} MiB.",
        "",
        f"{summary['requests']:,} requests, {summary['errors']} errors; RSS after warm-up "
        f"{summary['rss_after_warmup_mib']:.1f} MiB, at the end {summary['rss_last_mib']:.1f} MiB "
        f"(max {summary['rss_max_mib']:.1f}): growth {summary['growth_percent']:+.2f}%.",
        "",
        "| minute | requests so far | req/s | p99 ms | RSS MiB |",
        "|---:|---:|---:|---:|---:|",
    ]
    step = max(1, len(samples) // 12)
    for sample in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        lines.append(
            f"| {sample['minute']} | {sample['requests']:,} | {sample.get('rps', '-')} | "
            f"{sample.get('p99_ms', '-')} | {sample['rss_mib']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
