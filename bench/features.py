"""What each optional feature costs the gateway, measured against the gateway without it.

    .venv/bin/python bench/features.py        # every variant, plain and stream, c=16 and 64
    .venv/bin/python bench/features.py --variants base,cache-miss --seconds 5 --repeats 3
    .venv/bin/python bench/features.py --render bench/results/features-<time>.json

Starts the mock upstream and one gateway per variant (each its own process and
directory, one worker, all pinned to the proxy core), gives each a virtual key
from its own ``POST /key/generate``, then for every cell (streaming or not x
concurrency) and every repeat runs each variant one after another with the same
wrk load, the order rotating each repeat. Every request's body differs (a nonce
in the user message), for every variant, so the response cache misses every time
and the only difference between ``base`` and ``cache-miss`` is the cache.

The cost of a variant is computed per repeat against ``base`` measured in the
same round, then the median over repeats is reported, with the range: on a
shared machine, neighbouring runs move together, so paired ratios are steadier
than ratios of medians. The target is a cost under 10% of throughput each.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import configs
import harness
import procs
import report
from harness import CHAT_PATH, HERE, REPO, SETTLE_S

RESPONSES_PATH = "/v1/responses"
MESSAGES_PATH = "/v1/messages"

TARGET_COST = 0.10
BASE = "base"
# Every deployment of every variant: prices (so each request is charged to the key's
# budget) and a context window (so the pre-call check, where on, has one to compare).
MODEL_INFO: dict[str, Any] = {
    "input_cost_per_token": 0.000001,
    "output_cost_per_token": 0.000002,
    "max_input_tokens": 8192,
}
# The virtual key every variant is called with: a model list, a budget, rpm and tpm limits,
# so the key gate checks and counts each request as it would in production (limits far
# above what the bench sends: nothing is ever refused). A parallel limit is a variant of
# its own: with Redis it costs a round trip to take a slot and one to give it back.
KEY_FIELDS: dict[str, Any] = {
    "key_alias": "bench-features",
    "max_budget": 1_000_000.0,
    "budget_duration": "30d",
    "rpm_limit": 100_000_000,
    "tpm_limit": 100_000_000_000,
    "metadata": {"purpose": "bench/features.py"},
}
# Far above the load, and above what leaked leases could reach in a run: a lease left on
# Redis is counted once the gateway is idle (it should be 0), never refused traffic.
PARALLEL_LIMIT = {"max_parallel_requests": 10_000_000}
# A prompt past 1.1 x max_input_tokens by the pre-call check's estimate (bytes / 4):
# refused before any upstream call where the check runs, forwarded where it does not.
OVERSIZED_PROMPT_CHARS = 4 * 8192 * 2


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    router_settings: dict[str, Any] = field(default_factory=dict)
    litellm_settings: dict[str, Any] = field(default_factory=dict)
    redis: bool = False
    key: dict[str, Any] = field(default_factory=dict)  # fields added to KEY_FIELDS
    # What the load sends: "chat" (POST /v1/chat/completions), "chat+session" (the same
    # with ``user`` set to one of 64 sessions in turn), "responses" (POST /v1/responses
    # with store: false), "responses+store" (store: true) or "messages" (POST
    # /v1/messages, Anthropic's Messages API).
    request: str = "chat"
    model_info: dict[str, Any] = field(default_factory=dict)  # added to MODEL_INFO
    provider: str = "openai"  # the deployments' provider (see configs.proxy_config)
    # OpenTelemetry traces exported to the mock's /v1/traces, at this sampling ratio.
    tracing_ratio: float | None = None
    general_settings: dict[str, Any] = field(default_factory=dict)
    # Alerts posted to the mock's /alerts (WEBHOOK_URL).
    alerting: bool = False
    # Run from another build's src/ (``--baseline-src``): the same config, older code.
    src: str | None = None

    @property
    def path(self) -> str:
        if self.request == "messages":
            return MESSAGES_PATH
        return CHAT_PATH if self.request.startswith("chat") else RESPONSES_PATH


VARIANTS = {
    v.name: v
    for v in (
        Variant(
            BASE,
            "features on: virtual-key auth (model list, budget, rpm and tpm limits), routing "
            "across 2 deployments, Prometheus metrics, the spend ledger (in-memory buffer, "
            "embedded store); no Redis, no cache, no pre-call check",
        ),
        Variant(
            "base-twin",
            "base again, in a process of its own: what the run measures between two identical "
            "gateways is its noise floor (a cost inside this range is not measurable)",
        ),
        Variant(
            "precall",
            "base + router_settings.enable_pre_call_checks: true (every deployment has "
            "model_info.max_input_tokens)",
            router_settings={"enable_pre_call_checks": True},
        ),
        Variant(
            "cache-miss",
            "base + litellm_settings.cache: true, cache_params.type: local; every lookup "
            "misses (and the answer is stored)",
            litellm_settings={"cache": True, "cache_params": {"type": "local"}},
        ),
        Variant(
            "redis",
            "base + REDIS_URL (shared cooldowns, deployment and key counters, budgets, "
            "events) under its own router_settings.redis_key_prefix",
            redis=True,
        ),
        Variant(
            "redis+parallel",
            "redis, and the key also has max_parallel_requests: a fleet-wide slot taken and "
            "given back on Redis for every request",
            redis=True,
            key=PARALLEL_LIMIT,
        ),
        Variant(
            "responses",
            "base, called on POST /v1/responses (store: false) instead of chat: translated "
            "to chat completions for the upstream (model_info.supported_endpoints names only "
            "/v1/chat/completions) and the answer, or stream, back into Responses",
            request="responses",
            model_info={"supported_endpoints": ["/v1/chat/completions"]},
        ),
        Variant(
            "responses+store",
            "responses with store: true (the default): each answer kept in the embedded "
            "store before it is returned",
            request="responses+store",
            model_info={"supported_endpoints": ["/v1/chat/completions"]},
        ),
        Variant(
            "responses-native",
            "base, called on POST /v1/responses (store: false) and passed through to the "
            "upstream's own /v1/responses (an openai/ deployment), usage read for the ledger",
            request="responses",
        ),
        Variant(
            "messages-native",
            "base, called on POST /v1/messages and passed through to anthropic/ deployments "
            "(the mock's Messages API): the body as it is, the answer relayed as it came, "
            "usage read from message_start and message_delta",
            request="messages",
            provider="anthropic",
        ),
        Variant(
            "messages-translated",
            "base, called on POST /v1/messages: translated to chat completions for the "
            "openai/ deployments and the answer, or stream, back into the Messages format",
            request="messages",
        ),
        Variant(
            "latency-routing",
            "base + router_settings.routing_strategy: latency-based-routing (a moving "
            "average per deployment, power of two choices over latency x in flight)",
            router_settings={"routing_strategy": "latency-based-routing"},
        ),
        Variant(
            "least-busy",
            "base + routing_strategy: least-busy (fewest requests in flight)",
            router_settings={"routing_strategy": "least-busy"},
        ),
        Variant(
            "usage-routing",
            "base + routing_strategy: usage-based-routing-v2 (most rpm/tpm headroom this minute)",
            router_settings={"routing_strategy": "usage-based-routing-v2"},
        ),
        Variant(
            "cost-routing",
            "base + routing_strategy: cost-based-routing (cheapest by price per token)",
            router_settings={"routing_strategy": "cost-based-routing"},
        ),
        Variant(
            "redis+least-busy",
            "redis + routing_strategy: least-busy: the fleet's load exchanged on Redis four "
            "times a second, off the request path",
            router_settings={"routing_strategy": "least-busy"},
            redis=True,
        ),
        Variant(
            "affinity",
            "base + router_settings.session_affinity: true; each request names one of 64 "
            "sessions (body user), so nearly every request finds its session pinned",
            router_settings={"session_affinity": True},
            request="chat+session",
        ),
        Variant(
            "redis+affinity",
            "redis + session_affinity: the pins are the fleet's (one Redis read per session "
            "new to the process, a compare-and-set script per new pin, none per request)",
            router_settings={"session_affinity": True},
            request="chat+session",
            redis=True,
        ),
        Variant(
            "hedging",
            "base + router_settings.hedge_after_ms: 1000: every request raced against the "
            "delay (none is slow enough to be hedged)",
            router_settings={"hedge_after_ms": 1000},
        ),
        Variant(
            "tracing-0",
            "base + OpenTelemetry traces at parentbased_traceidratio 0: trace ids and a "
            "traceparent to the upstream for every request, nothing sampled or exported",
            tracing_ratio=0.0,
        ),
        Variant(
            "tracing-10",
            "base + OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT, OTLP/HTTP to the mock's "
            "/v1/traces), parentbased_traceidratio 0.1: every request gets trace ids and a "
            "traceparent to its upstream, one in ten its spans built and exported",
            tracing_ratio=0.1,
        ),
        Variant(
            "tracing-100",
            "tracing-10 at ratio 1.0: a server span and a client span built and exported "
            "for every request",
            tracing_ratio=1.0,
        ),
        Variant(
            "alerting",
            "base + general_settings.alerting: [webhook] with every alert type (WEBHOOK_URL "
            "to the mock's /alerts): each request in the hanging-request registry, counted for "
            "fallback shares and slowness, its key's budget level checked after the charge "
            "(nothing crosses a threshold, so nothing is sent)",
            general_settings={"alerting": ["webhook"], "alerting_threshold": 300},
            alerting=True,
        ),
        Variant(
            "redis+cache",
            "redis + litellm_settings.cache: true, cache_params.type: redis; every lookup "
            "misses (and the answer is stored on Redis)",
            litellm_settings={"cache": True, "cache_params": {"type": "redis"}},
            redis=True,
        ),
    )
}


def variant_config(
    variant: Variant, mock_port: int, latency: int, redis_prefix: str | None
) -> dict[str, Any]:
    """The config ``variant`` runs: the features-on config plus its own settings."""
    model_info = {**MODEL_INFO, **variant.model_info}
    config = configs.proxy_config(
        {latency: mock_port}, model_info=model_info, provider=variant.provider
    )
    router_settings = dict(variant.router_settings)
    if variant.redis:
        assert redis_prefix is not None
        router_settings["redis_key_prefix"] = redis_prefix
    if router_settings:
        config["router_settings"] = router_settings
    if variant.litellm_settings:
        config["litellm_settings"] = dict(variant.litellm_settings)
    if variant.general_settings:
        config["general_settings"] = {**config["general_settings"], **variant.general_settings}
    return config


def variant_env(variant: Variant, mock_port: int) -> dict[str, str]:
    """The environment ``variant`` adds (tracing: export to the mock's /v1/traces; alerts:
    the mock's /alerts)."""
    if variant.alerting:
        return {"WEBHOOK_URL": f"http://127.0.0.1:{mock_port}/alerts"}
    if variant.tracing_ratio is None:
        return {}
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{mock_port}",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(variant.tracing_ratio),
    }


def request_bytes(request: str, latency: int, stream: bool, *, nonce: bool) -> bytes:
    """The body the load sends for a variant's ``request``."""
    if request in {"chat", "chat+session"}:
        return configs.request_body(latency, stream, nonce=nonce, session=request != "chat")
    if request == "messages":
        return configs.messages_body(latency, stream, nonce=nonce)
    store = request == "responses+store"
    return configs.responses_body(latency, stream, nonce=nonce, store=store)


def key_fields(latency: int, variant: Variant | None = None) -> dict[str, Any]:
    """What ``POST /key/generate`` is given for ``variant`` (base's key by default)."""
    extra = variant.key if variant else {}
    return {**KEY_FIELDS, "models": [configs.group_name(latency)], **extra}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--variants",
        type=harness.names,
        default=list(VARIANTS),
        help=f"which, of {', '.join(VARIANTS)} (base always runs)",
    )
    parser.add_argument("--concurrency", type=harness.ints, default=[16, 64])
    parser.add_argument("--latency", type=int, default=0, help="upstream latency, ms")
    parser.add_argument("--modes", type=harness.names, default=["plain", "stream"])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per variant")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    parser.add_argument("--gateway-src", help="run the gateway from this src/ directory")
    parser.add_argument("--gateway-label", help="how the report names the gateway's version")
    parser.add_argument(
        "--baseline-src",
        help="also run base from this src/ (another commit's, from git archive) as the "
        "variant base@LABEL: the same config and load, side by side in one run",
    )
    parser.add_argument("--baseline-label", default="baseline", help="the baseline's name")
    parser.add_argument("--proxy-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--render", help="print the markdown of an earlier run's JSON and exit")
    args = parser.parse_args(argv)
    if args.baseline_src:
        name = f"{BASE}@{args.baseline_label}"
        VARIANTS[name] = Variant(
            name,
            f"base, run from {args.baseline_label}'s src/ ({args.baseline_src}): the cost "
            "this build adds (or saves) against it",
            src=args.baseline_src,
        )
        args.variants = [*args.variants, name]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    args.variants = [BASE, *[v for v in args.variants if v != BASE]]
    return args


class Features:
    """The mock and one gateway per variant, and how to load each."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.processes = harness.Processes(workdir)
        self.mock_port = harness.free_port()
        self.run_id = secrets.token_hex(4)
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.prefixes: dict[str, harness.RedisPrefix] = {}
        self.watched: dict[str, int] = {}
        self.logs: dict[str, Path] = {}
        self._runs = 0

    def start(self, say: Callable[[str], None]) -> None:
        args = self.args
        mock = self.processes.start_mock(
            args.python, {args.latency: self.mock_port}, args.load_core, chunks=args.chunks
        )
        self.watched["mock"] = mock.pid
        for name in args.variants:
            variant = VARIANTS[name]
            env: dict[str, str] = {}
            prefix = None
            if variant.redis:
                prefix = f"bench-features-{self.run_id}-{name.replace('+', '-')}"
                self.prefixes[name] = harness.RedisPrefix(args.redis_url, prefix)
                env["REDIS_URL"] = args.redis_url
                redis_pid = self.prefixes[name].server_pid()
                if redis_pid:
                    # Its CPU is the whole server's: other users of this Redis included.
                    self.watched["redis-server"] = redis_pid
            env.update(variant_env(variant, self.mock_port))
            config = configs.write_config(
                self.workdir / f"{name}.json",
                variant_config(variant, self.mock_port, args.latency, prefix),
            )
            gateway, port = self.processes.start_gateway(
                name, args.python, variant.src or args.gateway_src, config, args.proxy_core, env=env
            )
            self.ports[name], self.pids[name] = port, gateway.pid
            self.logs[name] = gateway.log
            self.keys[name] = harness.generate_key(
                port, configs.MASTER_KEY, key_fields(args.latency, variant)
            )
            say(f"{name}: gateway pid {gateway.pid} on port {port}, virtual key generated")

    def stop(self) -> dict[str, int]:
        """Stop everything; delete each Redis variant's keys. Returns keys deleted per prefix."""
        self.processes.stop()
        deleted = {}
        for prefix in self.prefixes.values():
            deleted[prefix.prefix] = prefix.delete()
            prefix.close()
        return deleted

    def body_file(self, stream: bool, request: str) -> Path:
        path = self.workdir / f"body-{request}-{int(stream)}.json"
        if not path.exists():
            path.write_bytes(request_bytes(request, self.args.latency, stream, nonce=True))
        return path

    def measure(self, name: str, stream: bool, concurrency: int, seconds: float) -> dict[str, Any]:
        self._runs += 1
        log_offset = self.logs[name].stat().st_size
        started = time.time()
        variant = VARIANTS[name]
        row = harness.measure(
            self.pids[name],
            f"http://127.0.0.1:{self.ports[name]}{variant.path}",
            self.body_file(stream, variant.request),
            self.mock_port,
            api_key=self.keys[name],
            concurrency=concurrency,
            seconds=seconds,
            core=self.args.load_core,
            vary=f"{self.run_id}.{self._runs}",
            watch=self.watched,
        )
        if VARIANTS[name].redis:
            row["redis_breaker"] = harness.redis_breaker(
                self.logs[name], log_offset, started, started + row["wall_s"]
            )
        return {"variant": name, "stream": stream, "concurrency": concurrency, **row}

    # --- checks: each variant does what it says ------------------------------------------

    def _status(self, name: str, content: str, stream: bool = False) -> tuple[int, str]:
        body: dict[str, Any] = {
            "model": configs.group_name(self.args.latency),
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 20,
        }
        if stream:
            body["stream"] = True
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports[name]}{CHAT_PATH}",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.keys[name]}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                return response.status, response.headers.get("x-gateway-cache", "")
        except urllib.error.HTTPError as error:
            error.read()
            return error.code, error.headers.get("x-gateway-cache", "")

    def checks_before(self) -> dict[str, dict[str, Any]]:
        """One request with the virtual key, and one with a prompt past the context window."""
        found: dict[str, dict[str, Any]] = {}
        for name in self.args.variants:
            status, cache = self._status(name, f"check {self.run_id}")
            oversized, _ = self._status(name, "x" * OVERSIZED_PROMPT_CHARS)
            found[name] = {
                "virtual_key_status": status,
                "cache_header": cache or None,
                "oversized_prompt_status": oversized,
            }
        return found

    def checks_after(self, found: dict[str, dict[str, Any]]) -> None:
        """Cache hits and misses counted by each gateway; keys each Redis variant wrote."""
        for name in self.args.variants:
            port = self.ports[name]
            found[name]["cache_hits"] = harness.metric_total(
                port, "gateway_cache_requests_total", {"result": "hit"}
            )
            found[name]["cache_misses"] = harness.metric_total(
                port, "gateway_cache_requests_total", {"result": "miss"}
            )
            found[name]["requests_2xx"] = harness.metric_total(
                port, "gateway_requests_total", {"status_class": "2xx"}
            )
            if name in self.prefixes:
                prefix = self.prefixes[name]
                found[name]["redis_keys"] = prefix.count()
                if VARIANTS[name].key.get("max_parallel_requests"):
                    found[name]["parallel_leases_idle"] = prefix.zcard_matching("slots:")


def rotated(names: list[str], repeat: int) -> list[str]:
    shift = repeat % len(names)
    return names[shift:] + names[:shift]


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        bench = Features(args, Path(tmp))
        deleted: dict[str, int] = {}
        try:
            bench.start(say)
            result = _measure_all(bench, args, say)
        finally:
            deleted = bench.stop()
        result["redis_keys_deleted"] = deleted
        say(f"deleted the Redis keys of this run: {deleted}")
        return result


def _measure_all(
    bench: Features, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    time.sleep(SETTLE_S)
    memory: dict[str, dict[str, float]] = {}
    for name in args.variants:
        procs.wait_quiet(bench.pids[name])
        memory[name] = {"idle_main_mib": procs.rss_mib(bench.pids[name], children=False)}
    checks = bench.checks_before()
    for name, found in checks.items():
        say(f"check {name}: {found}")
    streams = [mode == "stream" for mode in args.modes]
    for name in args.variants:
        for stream in streams:
            bench.measure(name, stream, 16, args.warmup)
    runs: list[dict[str, Any]] = []
    for stream in streams:
        for concurrency in args.concurrency:
            for repeat in range(args.repeats):
                for position, name in enumerate(rotated(args.variants, repeat)):
                    row = bench.measure(name, stream, concurrency, args.seconds)
                    row["repeat"], row["position"] = repeat, position
                    runs.append(row)
                    cpu = row["cpu_ms_per_req"]
                    say(
                        f"{'stream' if stream else 'plain '} c={concurrency:<3} #{repeat} "
                        f"{name:<14} {row['rps']:>8,.0f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                        f"p99 {row['p99_ms']:7.2f} ms  cpu "
                        f"{cpu if cpu is not None else float('nan'):6.3f} ms/req  "
                        f"errors {row['errors']}"
                    )
    bench.checks_after(checks)
    for name in args.variants:
        memory[name]["after_main_mib"] = procs.rss_mib(bench.pids[name], children=False)
    return {
        "machine": harness.machine(),
        "gateway_version": harness.gateway_version(args.gateway_src, args.gateway_label),
        "command": shlex.join(["python", "bench/features.py", *sys.argv[1:]]),
        "conditions": {
            "variants": args.variants,
            "concurrencies": args.concurrency,
            "latency_ms": args.latency,
            "modes": args.modes,
            "seconds": args.seconds,
            "repeats": args.repeats,
            "chunks": args.chunks,
            "proxy_core": args.proxy_core,
            "load_core": args.load_core,
            "load_generator": harness.wrk_version(),
            "redis_url": args.redis_url,
        },
        "variants": {
            name: {
                "what": VARIANTS[name].what,
                "config": variant_config(
                    VARIANTS[name],
                    0,
                    args.latency,
                    bench.prefixes[name].prefix if name in bench.prefixes else None,
                ),
                "key_fields": key_fields(args.latency, VARIANTS[name]),
            }
            for name in args.variants
        },
        "key_fields": key_fields(args.latency),
        "checks": checks,
        "memory": memory,
        "runs": runs,
    }


# --- the report ---------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def costs(
    runs: list[dict[str, Any]],
) -> dict[tuple[str, bool, int], dict[str, list[float]]]:
    """(variant, stream, concurrency) -> per-repeat costs against base in the same repeat:
    ``throughput`` = 1 - rps / base rps, ``cpu`` = CPU per request / base's - 1."""
    by_round: dict[tuple[bool, int, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in runs:
        by_round[(row["stream"], row["concurrency"], row["repeat"])][row["variant"]] = row
    found: dict[tuple[str, bool, int], dict[str, list[float]]] = defaultdict(
        lambda: {"throughput": [], "cpu": []}
    )
    for (stream, concurrency, _repeat), rows in by_round.items():
        base = rows.get(BASE)
        if base is None:
            continue
        for name, row in rows.items():
            cell = found[(name, stream, concurrency)]
            if base["rps"] and row["rps"]:
                cell["throughput"].append(1.0 - row["rps"] / base["rps"])
            if base["cpu_ms_per_req"] and row["cpu_ms_per_req"]:
                cell["cpu"].append(row["cpu_ms_per_req"] / base["cpu_ms_per_req"] - 1.0)
    return found


def _pct(values: list[float]) -> str:
    """Median cost with its range over repeats: ``4.1% (-1.2…7.0)``."""
    if not values:
        return "-"
    middle = statistics.median(values) * 100
    return f"{middle:+.1f}% ({min(values) * 100:+.1f}…{max(values) * 100:+.1f})"


def _verdict(values: list[float]) -> str:
    middle = _median(values)
    if middle is None:
        return "-"
    return "met" if middle < TARGET_COST else "**missed**"


def _breaker(rows: list[dict[str, Any]]) -> str:
    """The Redis breaker's open time over these runs, as a share of their wall time."""
    found = [r["redis_breaker"] for r in rows if "redis_breaker" in r]
    if not found:
        return "-"
    wall = sum(r["wall_s"] for r in rows if "redis_breaker" in r)
    return f"{sum(b['open_s'] for b in found) / wall:.0%}" if wall else "-"


def variant_table(result: dict[str, Any], stream: bool) -> str:
    runs = [r for r in result["runs"] if r["stream"] == stream]
    cells = report.medians(
        {**r, "target": r["variant"], "latency_ms": result["conditions"]["latency_ms"]}
        for r in runs
    )
    paired = costs(runs)
    unit = "stream" if stream else "req"
    lines = [
        f"| variant | c | req/s | CPU ms/{unit} | p50 ms | p99 ms "
        f"| throughput cost vs base | CPU/{unit} cost vs base | < 10% (throughput / CPU) "
        "| Redis breaker open | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    latency = result["conditions"]["latency_ms"]
    for concurrency in result["conditions"]["concurrencies"]:
        for name in result["conditions"]["variants"]:
            cell = cells.get((name, stream, latency, concurrency))
            if cell is None:
                continue
            pair = paired.get((name, stream, concurrency), {"throughput": [], "cpu": []})
            rows = [r for r in runs if (r["variant"], r["concurrency"]) == (name, concurrency)]
            errors = sum(r["errors"] for r in rows)
            if name == BASE:
                throughput = cpu = "(reference)"
                verdict = ""
            else:
                throughput, cpu = _pct(pair["throughput"]), _pct(pair["cpu"])
                verdict = f"{_verdict(pair['throughput'])} / {_verdict(pair['cpu'])}"
                if errors:
                    verdict = "not comparable (errors)"
            lines.append(
                f"| {name} | {concurrency} | {report.num(cell['rps'])} "
                f"| {report.num(cell.get('cpu_ms_per_req'), 3)} "
                f"| {report.num(cell['p50_ms'])} | {report.num(cell['p99_ms'])} "
                f"| {throughput} | {cpu} | {verdict} | {_breaker(rows)} | {errors} |"
            )
    return "\n".join(lines)


def _share_range(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.0%} to {max(values):.0%}"


def machine_note(result: dict[str, Any]) -> str:
    """How busy each core was during the runs, and what the load generation took."""
    conditions = result["conditions"]
    proxy_core, load_core = f"cpu{conditions['proxy_core']}", f"cpu{conditions['load_core']}"
    runs = result["runs"]
    proxy_busy = [r["core_busy"].get(proxy_core, 0.0) for r in runs if r.get("core_busy")]
    load_busy = [r["core_busy"].get(load_core, 0.0) for r in runs if r.get("core_busy")]
    # Over the load's own window (the CPU a gateway spends after wrk stops is in CPU per
    # request, not here).
    gateway_use = [sum(r["process_cpu_s"].values()) / r["wall_s"] for r in runs if r.get("wall_s")]
    load_use = [
        (r["wrk_cpu_s"] + r["watched_cpu_s"].get("mock", 0.0)) / r["wall_s"]
        for r in runs
        if r.get("wall_s")
    ]
    return (
        f"During the runs the proxy core ({proxy_core}) was busy {_share_range(proxy_busy)} "
        f"of the time, the gateway under test itself using {_share_range(gateway_use)} of a "
        f"core; the load core ({load_core}) was busy {_share_range(load_busy)}, wrk and the "
        f"mock using {_share_range(load_use)} of a core. Busy time on a core beyond what the "
        "bench's own processes used is other work on the machine."
    )


def checks_table(result: dict[str, Any]) -> str:
    lines = [
        "| variant | virtual key request | prompt past the context window | cache hits / misses "
        "counted | Redis keys written (deleted after) | parallel leases held once idle "
        "| idle RSS MiB | RSS after MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in result["conditions"]["variants"]:
        check = result["checks"].get(name, {})
        memory = result["memory"].get(name, {})
        redis_keys = check.get("redis_keys")
        lines.append(
            f"| {name} | {check.get('virtual_key_status', '-')} "
            f"| {check.get('oversized_prompt_status', '-')} "
            f"| {check.get('cache_hits', 0):,.0f} / {check.get('cache_misses', 0):,.0f} "
            f"| {'-' if redis_keys is None else redis_keys} "
            f"| {check.get('parallel_leases_idle', '-')} "
            f"| {memory.get('idle_main_mib', 0):.0f} | {memory.get('after_main_mib', 0):.0f} |"
        )
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    conditions = result["conditions"]
    out = [
        "### What each feature costs (bench/features.py)",
        "",
        f"Machine: {machine['cpu_model']}, {machine['nproc']} cores, {machine['kernel']}, "
        f"Python {machine['python']}. Gateway {result['gateway_version']}.",
        "",
        f"Conditions: one gateway process per variant, one worker each, all pinned to core "
        f"{conditions['proxy_core']}; the mock upstream ({conditions['latency_ms']} ms) and "
        f"wrk (one thread) share core {conditions['load_core']}. Every request is "
        "authenticated with a virtual key made at start by `POST /key/generate`, and every "
        "request's body differs (a nonce in the user message), for every variant. "
        f"{conditions['seconds']:g} s per run, {conditions['repeats']} repeats; in each "
        "repeat the variants run one after another, the order rotating. Numbers are medians "
        "over repeats. A cost is the variant against `base` in the same repeat (throughput: "
        "1 - req/s / base req/s; CPU: CPU per request / base's - 1), median over repeats "
        "with the range; negative means the variant measured better, i.e. within the noise. "
        "Target: under 10% each.",
        "",
        "Variants:",
        "",
    ]
    out += [f"- `{name}`: {result['variants'][name]['what']}" for name in conditions["variants"]]
    out += [
        "",
        f"Virtual key (base's; a variant may add fields, as said above): "
        f"`{json.dumps(result['key_fields'])}`.",
        "",
        machine_note(result),
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
        out += [title, "", variant_table(result, stream), ""]
    out += [
        "`Redis breaker open`: the share of the runs' time the gateway's Redis circuit "
        "breaker was open (from its log). While open, the gateway makes no Redis calls and "
        "serves from local state, so a variant measured with it open measured Redis only in "
        "part: its cost is understated. The breaker opens when Redis calls miss their "
        "budget (`redis_timeout_ms`, 50 ms), which a saturated event loop causes by itself.",
        "",
    ]
    out += [
        "Checks (each variant does what it says): status of one request with the virtual key; "
        "status of one request whose prompt is past every deployment's `max_input_tokens` "
        "(refused before any upstream call only where the pre-call check runs); cache lookups "
        "the gateway counted over the whole run (hits must be 0); parallel-slot leases still "
        "on Redis once the gateway is idle after all runs (each request gives its lease back, "
        "so this should be 0; a lease left behind holds a slot for 15 minutes).",
        "",
        checks_table(result),
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
    # The orchestrator stays off the gateways' core.
    os.sched_setaffinity(0, {int(c) for c in args.load_core.split(",")})

    result = run(args, harness.say)
    harness.write_report(args.out, "features-", result, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
