"""Every Prometheus collector the gateway exports, in one place.

Names follow Prometheus conventions (``gateway_`` prefix, ``_total`` counters,
``_seconds`` durations). Labels are bounded: model groups, deployment ids and
providers come from the config, error types from the gateway's closed error
vocabulary; never raw keys, users or IP addresses.

Per-request updates happen once, after the response has been sent, from the
finished request's ``SpendRecord``. Under gunicorn, prometheus-client's
multiprocess mode aggregates every worker's values (the CLI points
``PROMETHEUS_MULTIPROC_DIR`` at the serve's run directory before anything
imports prometheus-client).
"""

from __future__ import annotations

import os
from typing import Generic, Literal, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.ledger.record import SpendRecord
from gateway.observability.status import MULTIPROC_ENV

# What /metrics answers as its Content-Type (the text exposition format).
EXPOSITION_CONTENT_TYPE: str = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


GaugeMode = Literal["livesum", "livemax", "livemin"]


def status_class(status: int) -> str:
    return f"{status // 100}xx"


M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    """A labelled metric's children, looked up by their label values in one dict get.

    ``metric.labels(...)`` validates and locks on every call; the request path
    calls it several times per request. Children are kept for as long as the
    metric is (the gateway never removes one), so caching them changes nothing
    but the cost.
    """

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class Metrics:
    """The collectors, registered in a private registry (never the global default)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self._registry = registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]
        ) -> Histogram:
            return Histogram(name, doc, labels, registry=registry, buckets=buckets)

        def gauge(name: str, doc: str, labels: tuple[str, ...], mode: GaugeMode) -> Gauge:
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode=mode)

        self.requests = counter(
            "gateway_requests_total",
            "Requests answered, by model group, deployment, provider, status class and error type.",
            ("model_group", "deployment", "provider", "status_class", "error_type"),
        )
        self.request_duration = histogram(
            "gateway_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ("model_group", "provider"),
            LATENCY_BUCKETS,
        )
        self.upstream_duration = histogram(
            "gateway_upstream_duration_seconds",
            "Time spent waiting on upstream providers, per provider and served model.",
            ("provider", "model"),
            LATENCY_BUCKETS,
        )
        self.overhead = histogram(
            "gateway_overhead_seconds",
            "The gateway's own time per request: total minus upstream, from arrival.",
            (),
            OVERHEAD_BUCKETS,
        )
        self.ttft = histogram(
            "gateway_time_to_first_token_seconds",
            "Streams: time from arrival to the first chunk sent to the caller.",
            ("model_group", "provider"),
            LATENCY_BUCKETS,
        )
        self.tokens = counter(
            "gateway_tokens_total",
            "Tokens metered, by direction (input, output; cached, cache_write: parts of input).",
            ("model_group", "provider", "direction"),
        )
        self.spend = counter(
            "gateway_spend_usd_total",
            "Spend in US dollars, by model group and team (requests with a known price).",
            ("model_group", "team"),
        )
        self.unpriced = counter(
            "gateway_unpriced_requests_total",
            "Requests whose model has no known price (their cost is recorded as unknown).",
            ("model_group",),
        )
        self.cache = counter(
            "gateway_cache_requests_total",
            "Response cache lookups by result (hit, miss).",
            ("result",),
        )
        self.retries = counter(
            "gateway_retries_total",
            "Retries after a failed upstream attempt, by the error that caused them.",
            ("model_group", "deployment", "error_type"),
        )
        self.upstream_failures = counter(
            "gateway_upstream_failures_total",
            "Failed upstream attempts, by deployment and error type.",
            ("model_group", "deployment", "provider", "error_type"),
        )
        self.fallbacks = counter(
            "gateway_fallbacks_total",
            "Fallback hops, by source and target group and whether the target served.",
            ("from_group", "to_group", "outcome"),
        )
        self.session_affinity = counter(
            "gateway_session_affinity_total",
            "Requests with a session under session_affinity: served by the session's "
            "deployment (kept), a new session (pinned), moved off a deployment that could "
            "not serve (moved), or served elsewhere for a limit with the pin kept (held).",
            ("model_group", "outcome"),
        )
        self.hedges = counter(
            "gateway_hedges_total",
            "Hedges sent (requests still unanswered after hedge_after_ms), by the "
            "deployment that was slow and how the race ended: won (the hedge answered "
            "first), lost (the first attempt did), failed (neither answered).",
            ("model_group", "deployment", "outcome"),
        )
        self.cooldowns = counter(
            "gateway_cooldowns_total",
            "Times a deployment was cooled down.",
            ("model_group", "deployment"),
        )
        self.deployment_state = gauge(
            "gateway_deployment_state",
            "Deployment health as this worker sees it: 0 healthy, 1 cooling down.",
            ("model_group", "deployment"),
            "livemax",
        )
        self.rejections = counter(
            "gateway_rejections_total",
            "Requests refused by the gateway's own limits (rate limits, budgets).",
            ("reason",),
        )
        self.in_flight = gauge(
            "gateway_in_flight_requests",
            "Requests being served now.",
            (),
            "livesum",
        )
        self.ledger_queue = gauge(
            "gateway_ledger_queue_depth",
            "Spend records waiting to be written.",
            (),
            "livesum",
        )
        self.ledger_flush_errors = counter(
            "gateway_ledger_flush_errors_total", "Failed ledger flushes (retried; rows kept)."
        )
        self.alerts = counter(
            "gateway_alerts_total",
            "Alerts by type, channel (slack, webhook; all for the ones not sent) and result "
            "(sent, failed, deduplicated, dropped).",
            ("type", "channel", "result"),
        )
        self.trace_exports = counter(
            "gateway_trace_export_batches_total",
            "Batches of trace spans sent to the collector, by result (exported, failed).",
            ("result",),
        )
        self.dependency_up = gauge(
            "gateway_dependency_up",
            "Whether a dependency is usable: 1 up, 0.5 degraded, 0 down.",
            ("dependency",),
            "livemin",
        )
        # The children the request path uses, resolved once per label set.
        self._requests = Children(self.requests)
        self._request_duration = Children(self.request_duration)
        self._upstream_duration = Children(self.upstream_duration)
        self._ttft = Children(self.ttft)
        self._tokens = Children(self.tokens)
        self._spend = Children(self.spend)
        self._cache_hit = self.cache.labels("hit")
        self._cache_miss = self.cache.labels("miss")

    def request_finished(
        self,
        record: SpendRecord,
        overhead_s: float,
        upstream_s: float,
        *,
        group: str,
        requested_group: str,
        deployment: str | None = None,
    ) -> None:
        """``group``, ``requested_group`` and ``deployment``: the labels for the record's
        groups and deployment, from what the config names (``observability.labels``)."""
        provider = record.provider or "none"
        # A wildcard's model is the caller's to name: only one an upstream served is a label.
        wildcard = deployment is not None and deployment != record.deployment_id
        model = record.model or "unknown"
        if wildcard and record.status >= 400:
            model = "unknown"
        deployment = deployment or record.deployment_id or "none"
        self._requests(
            group, deployment, provider, status_class(record.status), record.error_type or "none"
        ).inc()
        self._request_duration(group, provider).observe(record.latency_ms / 1000.0)
        self.overhead.observe(overhead_s)
        if upstream_s > 0.0 and record.provider:
            self._upstream_duration(provider, model).observe(upstream_s)
        if record.ttft_ms is not None:
            self._ttft(group, provider).observe(record.ttft_ms / 1000.0)
        if record.prompt_tokens:
            self._tokens(group, provider, "input").inc(record.prompt_tokens)
        if record.completion_tokens:
            self._tokens(group, provider, "output").inc(record.completion_tokens)
        if record.cached_tokens:
            self._tokens(group, provider, "cached").inc(record.cached_tokens)
        if record.cache_write_tokens:
            self._tokens(group, provider, "cache_write").inc(record.cache_write_tokens)
        if record.cost_usd:
            self._spend(group, record.team_id or "none").inc(record.cost_usd)
        elif record.cost_usd is None and record.status < 400 and not record.cache_hit:
            self.unpriced.labels(group).inc()
        self._fallback_hops(record, requested_group)
        if record.error_type in ("rate_limited", "budget_exceeded"):
            self.rejections.labels(record.error_type).inc()

    def trace_export(self, ok: bool) -> None:
        """A batch of spans was exported (``ok``) or failed (called on the export thread)."""
        self.trace_exports.labels("exported" if ok else "failed").inc()

    def cache_lookup(self, hit: bool) -> None:
        (self._cache_hit if hit else self._cache_miss).inc()

    def _fallback_hops(self, record: SpendRecord, requested_group: str) -> None:
        if not record.fallbacks:
            return
        chain = (requested_group, *record.fallbacks)
        last = len(chain) - 2
        for index in range(len(chain) - 1):
            served = index == last and record.status < 400
            self.fallbacks.labels(
                chain[index], chain[index + 1], "served" if served else "failed"
            ).inc()

    def exposition(self) -> bytes:
        """The text exposition: this process's registry, or every worker's in multiprocess mode."""
        if self._registry is not None:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
