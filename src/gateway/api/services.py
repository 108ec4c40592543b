"""What the data plane needs, built by the composition root and swapped whole on reload."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.api.auth import MasterKeyAuth
from gateway.api.responses_turn import ResponsesState
from gateway.cache.response_cache import ResponseCache
from gateway.config.wildcards import WildcardIds
from gateway.ledger.prices import PriceBook
from gateway.ledger.service import SpendLedger
from gateway.observability.alerting.request_alerts import RequestAlerts
from gateway.observability.labels import MetricLabels
from gateway.observability.metrics import Metrics
from gateway.observability.recent import RecentActivity
from gateway.observability.tracing import Tracing
from gateway.observability.webhooks import EventSinks
from gateway.router.router import Router
from gateway.state.shared import SharedState


@dataclass(frozen=True, slots=True)
class DataPlane:
    router: Router
    auth: MasterKeyAuth
    max_request_bytes: int
    request_timeout: float
    # /v1/models answers, serialized once per config.
    models_list: bytes
    models_by_id: dict[str, bytes]
    metrics: Metrics
    # The spend ledger outlives a config; the prices are resolved per config.
    ledger: SpendLedger
    prices: PriceBook
    # litellm_settings.require_auth_for_metrics_endpoint (off by default: scrapers
    # such as Fly's cannot send a key).
    metrics_need_auth: bool = False
    # The response cache (None: litellm_settings.cache is off).
    cache: ResponseCache | None = None
    # What the fleet shares (None: a data plane built without it, as in some tests).
    shared: SharedState | None = None
    # Where the health process writes background deployment checks (None: checks off).
    health_checks_file: Path | None = None
    # Per-request events to webhook sinks (None: no callbacks configured).
    events: EventSinks | None = None
    # OpenTelemetry traces (None: tracing is off).
    tracing: Tracing | None = None
    # Alerts on slow, hanging and fallback-rescued requests (None: alerting is off).
    alerts: RequestAlerts | None = None
    # The Responses API's stored state and what it learnt of upstreams (outlives reloads).
    responses: ResponsesState = field(default_factory=lambda: ResponsesState(store=None))
    # Metric labels from what the config names (a caller's made-up names never mint series).
    metric_labels: MetricLabels = field(default_factory=lambda: MetricLabels((), WildcardIds(())))
    # /v1/models in Anthropic's shape, one body per id (for Anthropic clients).
    anthropic_models: dict[str, bytes] = field(default_factory=dict)
    # What each deployment did lately, for the console's board (None: not kept).
    activity: RecentActivity | None = None
