"""``gateway loadtest``: its options, the run, the table, the JSON file and the exit code.

Exit codes: 0 when the run finished within ``--max-error-rate`` (or none was
set), 1 when the error rate passed it, 2 for bad options or unusable fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from gateway.loadtest.bodies import BodyError, build_body, generated, load_fixtures
from gateway.loadtest.client import Plan, Progress, run
from gateway.loadtest.progress import show as show_progress
from gateway.loadtest.records import RequestRecord
from gateway.loadtest.stats import error_rate, summarize_by_model
from gateway.loadtest.table import render

DEFAULT_BASE_URL = "http://127.0.0.1:4000"
DEFAULT_REQUESTS = 100


def add_parser(commands: Any) -> None:
    """Add the ``loadtest`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "loadtest",
        help="load a running gateway and report latency, errors and fallbacks per model",
        description="Send chat completions to a running gateway from many concurrent "
        "connections; report per model: requests, req/s, P50/P95/P99/max latency, errors "
        "by status, 429s, fallbacks fired and cache hits (from the gateway's headers).",
    )
    parser.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, metavar="URL", help="the gateway's URL"
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key to send (default: GATEWAY_API_KEY, else GATEWAY_MASTER_KEY)",
    )
    parser.add_argument(
        "--model",
        metavar="MODEL",
        action="append",
        dest="models",
        help="model to call; repeat to mix several, round-robin "
        "(default: each fixture's own model)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--requests", type=int, help=f"requests to send (default {DEFAULT_REQUESTS})"
    )
    amount.add_argument("--duration", type=float, help="seconds to keep sending")
    parser.add_argument(
        "--fixtures",
        metavar="DIR",
        type=Path,
        help="directory of *.json chat completions bodies to send, round-robin",
    )
    parser.add_argument(
        "--prompt-tokens",
        type=int,
        default=200,
        help="size of the generated prompt when no --fixtures (about this many tokens)",
    )
    parser.add_argument(
        "--max-tokens", type=int, default=64, help="max_tokens of the generated bodies"
    )
    parser.add_argument("--stream", action="store_true", help="stream every answer")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one request may take")
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="write every request's record here"
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        help="exit 1 when the share of failed requests is above this (0..1)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show the live progress line even when stderr is not a terminal",
    )


def run_loadtest(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    models: list[str | None] = list(args.models) if args.models else [None]
    try:
        templates = (
            load_fixtures(args.fixtures)
            if args.fixtures
            else [generated(args.prompt_tokens, args.max_tokens)]
        )
        # Every body that will be sent must be buildable: fail before the first request.
        for template in templates:
            for model in models:
                build_body(template, model, args.stream, "")
    except BodyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    requests = args.requests if args.requests is not None or args.duration else DEFAULT_REQUESTS
    api_key = (
        args.api_key or os.environ.get("GATEWAY_API_KEY") or os.environ.get("GATEWAY_MASTER_KEY")
    )
    plan = Plan(
        base_url=args.base_url,
        api_key=api_key,
        models=models,
        templates=templates,
        concurrency=args.concurrency,
        requests=requests,
        duration=args.duration,
        stream=args.stream,
        timeout=args.timeout,
    )
    progress = Progress()
    show = args.progress or sys.stderr.isatty()
    wall_started = time.time()
    records, seconds = asyncio.run(_run_with_progress(plan, progress, show))
    return _report(args, plan, records, seconds, wall_started)


async def _run_with_progress(
    plan: Plan, progress: Progress, show: bool
) -> tuple[list[RequestRecord], float]:
    drawing = None
    if show:
        progress.started_at = time.monotonic()
        drawing = asyncio.create_task(
            show_progress(progress, plan.requests, plan.duration, sys.stderr)
        )
    try:
        return await run(plan, progress)
    finally:
        if drawing is not None:
            drawing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drawing


def _report(
    args: argparse.Namespace,
    plan: Plan,
    records: list[RequestRecord],
    seconds: float,
    wall_started: float,
) -> int:
    summaries = summarize_by_model(records, seconds)
    print(render(summaries, stream=plan.stream, seconds=seconds))
    rate = error_rate(records)
    if args.json:
        document = {
            "run": {
                "base_url": plan.base_url,
                "models": [m for m in plan.models if m is not None],
                "concurrency": plan.concurrency,
                "requests": plan.requests,
                "duration": plan.duration,
                "stream": plan.stream,
                "started_at": wall_started,
                "seconds": seconds,
                "error_rate": rate,
                "units": "times in seconds; started is relative to the run's start",
            },
            "summary": [asdict(s) for s in summaries],
            "records": [r.to_json() for r in records],
        }
        args.json.write_bytes(orjson.dumps(document))
        print(f"wrote {len(records)} records to {args.json}", file=sys.stderr)
    if args.max_error_rate is not None and rate > args.max_error_rate:
        print(
            f"error: {rate:.1%} of requests failed, above --max-error-rate "
            f"{args.max_error_rate:.1%}",
            file=sys.stderr,
        )
        return 1
    return 0


def _check(args: argparse.Namespace) -> str | None:
    if args.concurrency < 1:
        return "--concurrency must be at least 1"
    if args.requests is not None and args.requests < 1:
        return "--requests must be at least 1"
    if args.duration is not None and args.duration <= 0:
        return "--duration must be positive"
    if args.prompt_tokens < 1 or args.max_tokens < 1:
        return "--prompt-tokens and --max-tokens must be at least 1"
    if args.timeout <= 0:
        return "--timeout must be positive"
    if args.max_error_rate is not None and not 0 <= args.max_error_rate <= 1:
        return "--max-error-rate must be within 0..1 (0.05 is 5%)"
    if not args.base_url.startswith(("http://", "https://")):
        return f"--base-url must start with http:// or https://, not {args.base_url!r}"
    if not args.models and not args.fixtures:
        return "name a --model (or give --fixtures whose bodies name theirs)"
    return None
