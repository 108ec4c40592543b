"""The composition root: builds every long-lived object and wires them together.

Nothing else constructs clients or pools. The ASGI app built here owns its
state from lifespan start-up to shutdown; there is no module-level state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from gateway.api.admin.context import ControlPlane
from gateway.api.asgi import DataPlaneApp
from gateway.api.auth import MasterKeyAuth
from gateway.api.control.app import (
    ControlAPI,
    build_control_api,
    is_control_path,
    send_not_served,
)
from gateway.api.http import Receive, Scope, Send
from gateway.api.models import anthropic_documents, model_documents
from gateway.api.responses_turn import ResponsesState
from gateway.api.services import DataPlane
from gateway.api.websocket import refuse_websocket
from gateway.cache.build import build_response_cache
from gateway.cache.response_cache import ResponseCache
from gateway.cache.settings import cache_settings
from gateway.config.defaults import EMBEDDED_CONFIG, EMBEDDED_SOURCE
from gateway.config.loader import (
    LoadedConfig,
    build_config,
    read_config_file,
)
from gateway.config.model import DeploymentSpec, GatewayConfig
from gateway.config.settings import CONFIG_PATH_ENV, ROLE_ENV, EnvSettings, Role
from gateway.config.wildcards import WildcardIds, is_pattern
from gateway.config_reload import ConfigReloader
from gateway.control.store import ControlStore, open_control_store
from gateway.control.sync import ControlSync
from gateway.control.vault import Vault, salt_key_from
from gateway.keys.budgets import BudgetBook
from gateway.keys.directory import KeyDirectory
from gateway.keys.gate import KeyGate
from gateway.keys.usage import LocalSlots, RateWindows, Slots
from gateway.ledger.control_db import open_control_db
from gateway.ledger.prices import PriceBook, load_shipped_prices
from gateway.ledger.responses_store import ResponsesStore
from gateway.ledger.service import SpendLedger, build_ledger
from gateway.ledger.settings import LedgerSettings, ledger_settings
from gateway.observability.alerting.dispatch import Alerter, Claim
from gateway.observability.alerting.request_alerts import BUDGET_LEVELS
from gateway.observability.alerting.service import Alerting
from gateway.observability.alerting.settings import alert_settings
from gateway.observability.labels import MetricLabels
from gateway.observability.metrics import Metrics
from gateway.observability.recent import ActivitySummary, RecentActivity
from gateway.observability.router_metrics import MetricsObserver
from gateway.observability.status import RUN_DIR_ENV, RunDir, WorkerHeartbeat
from gateway.observability.tracing import Tracing
from gateway.observability.tracing_settings import TracingConfigError, tracing_settings
from gateway.observability.webhooks import EventSinks, build_sinks
from gateway.providers.registry import build_provider, deployment_warnings
from gateway.providers.transport import UpstreamPool
from gateway.router.affinity import PinStore
from gateway.router.cooldown import CooldownStore, InProcessCooldowns
from gateway.router.groups import ModelGroups
from gateway.router.observer import FanOutObserver, LoggingObserver, RouterObserver
from gateway.router.router import Router
from gateway.router.stats import RoutingStats
from gateway.router.wildcards import WildcardGroups
from gateway.state.counters import FleetSlots, FleetSpend
from gateway.state.events import Invalidate
from gateway.state.pins import LocalPins
from gateway.state.settings import redis_settings
from gateway.state.shared import SharedState
from gateway.state.stream_buffer import RedisStreamBuffer
from gateway.state.windows import MinuteWindows

log = logging.getLogger(__name__)

# The control plane's own connections: a few, each statement bounded, apart from the
# data plane's key lookups (which get theirs) and from the spend writer and reports.
ADMIN_CONNECTIONS = 2
ADMIN_STATEMENT_TIMEOUT_S = 5.0
LOOKUP_CONNECTIONS = 2
LOOKUP_STATEMENT_TIMEOUT_S = 2.0
# Stored Responses API responses: written on the request path, so bounded tightly.
RESPONSES_CONNECTIONS = 4
RESPONSES_STATEMENT_TIMEOUT_S = 5.0
# Paths a control-only process still serves from the data plane's table.
CONTROL_DATA_PATHS = ("/metrics",)
# Control routes a data-only process serves too: its own response cache and the health
# checks its serve runs (spend reports and changes are the control process's).
DATA_CONTROL_PATHS = ("/cache/", "/health")


def build_data_plane(
    config: GatewayConfig,
    env: Mapping[str, str],
    pool: UpstreamPool,
    metrics: Metrics,
    ledger: SpendLedger,
    *,
    shared: SharedState | None = None,
    events: EventSinks | None = None,
    tracing: Tracing | None = None,
    alerting: Alerting | None = None,
    cooldowns: CooldownStore | None = None,
    cache: ResponseCache | None = None,
    gate: KeyGate | None = None,
    responses: ResponsesState | None = None,
    routing_stats: RoutingStats | None = None,
    pins: PinStore | None = None,
    activity: RecentActivity | None = None,
) -> DataPlane:
    """A data plane for ``config``. What must outlive a config reload (the cooldowns, the
    response cache, the key gate) is passed in; without it, fresh ones are made."""
    providers = {
        spec.id: build_provider(spec, env, pool, drop_params=config.drop_params)
        for spec in config.deployments
    }
    wildcard_specs = [spec for spec in config.deployments if is_pattern(spec.model_group)]
    wildcard_ids = WildcardIds(spec.id for spec in wildcard_specs)
    patterns = WildcardGroups(
        wildcard_specs,
        lambda spec: build_provider(spec, env, pool, drop_params=config.drop_params),
    )
    groups = ModelGroups(config, providers, patterns)
    listing, by_id = model_documents(groups)
    master_key = config.master_key.get_secret_value() if config.master_key else None
    # Shared state: the router reads local views; the fleet keeps them in step.
    if cooldowns is None:
        cooldowns = _cooldowns(shared)
    observers: list[RouterObserver] = [
        LoggingObserver(),
        MetricsObserver(
            metrics, {spec.id: spec.provider for spec in config.deployments}, wildcard_ids
        ),
    ]
    if alerting is not None:
        observers.append(
            alerting.router_observer(config.deployments, _members_of(groups), cooldowns)
        )
    if activity is not None:
        observers.append(activity)
    observer = FanOutObserver(*observers)
    prices = PriceBook(config.deployments, load_shipped_prices())
    router = Router(
        config,
        groups,
        observer=observer,
        cooldowns=cooldowns,
        limits=shared.limits if shared is not None else None,
        overrides=shared.overrides if shared is not None else None,
        stats=routing_stats,
        price_of=partial(_price_per_token, prices),
        pins=pins,
    )
    # The load-reading strategies see the fleet's load when the fleet shares a Redis.
    router.stats.configure(
        config.file.router_settings.routing_strategy_args.latency_ewma_alpha,
        shared_with_fleet=router.strategies.needs_fleet_stats,
    )
    if shared is not None and router.strategies.needs_fleet_stats:
        shared.share_routing_load(router.stats.snapshot, router.stats.absorb)
    return DataPlane(
        router=router,
        auth=MasterKeyAuth(master_key, gate),
        max_request_bytes=config.max_request_bytes,
        request_timeout=config.request_timeout,
        models_list=listing,
        models_by_id=by_id,
        anthropic_models=anthropic_documents(groups),
        metrics=metrics,
        ledger=ledger,
        prices=prices,
        metrics_need_auth=config.file.litellm_settings.require_auth_for_metrics_endpoint,
        cache=cache if cache is not None else build_response_cache(cache_settings(config), shared),
        shared=shared,
        health_checks_file=_health_checks_file(config, env),
        events=events,
        tracing=tracing,
        alerts=alerting.requests if alerting is not None else None,
        responses=_responses_state(responses, config),
        metric_labels=MetricLabels(groups.public_names(), wildcard_ids),
        activity=activity,
    )


def _members_of(groups: ModelGroups) -> Callable[[str], list[str]]:
    def members(name: str) -> list[str]:
        group = groups.get(name)
        return [d.id for d in group.deployments] if group is not None else []

    return members


def _responses_state(state: ResponsesState | None, config: GatewayConfig) -> ResponsesState:
    """The long-lived Responses state, with this config's ``drop_params``."""
    if state is None:
        return ResponsesState(store=None, drop_params=config.drop_params)
    state.drop_params = config.drop_params
    return state


def _price_per_token(prices: PriceBook, spec: DeploymentSpec) -> float | None:
    price = prices.lookup(spec.id, spec.model)
    return None if price is None else price.base.input + price.base.output


def _session_pins(shared: SharedState | None) -> PinStore:
    """One process's session pins, kept across the fleet when it shares a Redis."""
    local = LocalPins()
    fleet = shared.share_pins(local) if shared is not None else None
    return fleet if fleet is not None else local


def _cooldowns(shared: SharedState | None) -> CooldownStore:
    local = InProcessCooldowns()
    shared_cooldowns = shared.share_cooldowns(local) if shared is not None else None
    return shared_cooldowns or local


def _health_checks_file(config: GatewayConfig, env: Mapping[str, str]) -> Path | None:
    run_dir = env.get(RUN_DIR_ENV)
    if not run_dir or not config.file.general_settings.background_health_checks:
        return None
    return RunDir(run_dir).health_checks_file


class GatewayApp:
    """The ASGI application: lifespan builds the data plane, HTTP goes to it.

    It also serves the control API (a FastAPI app, ``api/control``), whose ``Runtime`` is the
    ``ConfigReloader`` that rebuilds the data plane on a config reload.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        env: Mapping[str, str],
        *,
        file_data: Mapping[str, Any],
        settings: EnvSettings | None = None,
    ) -> None:
        self._loaded = loaded
        self._env = dict(env)
        self._settings = settings
        self._file_data = file_data
        self._role: Role = _role(self._env.get(ROLE_ENV))
        self._pool: UpstreamPool | None = None
        self._data: DataPlaneApp | None = None
        self._metrics: Metrics | None = None
        self._cooldowns: CooldownStore | None = None
        self._routing_stats: RoutingStats | None = None
        # What each deployment did lately, for the console (outlives reloads).
        self._activity = RecentActivity()
        self._pins: PinStore | None = None
        self._cache: ResponseCache | None = None
        self._gate: KeyGate | None = None
        self._budgets: BudgetBook | None = None
        self._vault: Vault | None = None
        self._stores: list[ControlStore] = []
        self._control: ControlAPI | None = None
        self._sync: ControlSync | None = None
        self._signal_tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: WorkerHeartbeat | None = None
        self._ledger: SpendLedger | None = None
        self._events: EventSinks | None = None
        self._tracing: Tracing | None = None
        self._alerting: Alerting | None = None
        self._shared: SharedState | None = None
        self._responses: ResponsesState | None = None
        # Dependency name -> a function telling its state (ok, degraded, down, absent).
        self._dependency_states: dict[str, Callable[[], str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self._data is None:
                # Served without lifespan (some test harnesses): build on first use.
                await self.startup()
            assert self._data is not None
            path: str = scope["path"]
            if is_control_path(path):
                if self._control is not None and (
                    self._role != "data" or path.startswith(DATA_CONTROL_PATHS)
                ):
                    await self._control(scope, receive, send)
                elif path.startswith("/spend/"):
                    await send_not_served(
                        scope, send, "Spend reports are served by the control process."
                    )
                else:
                    await send_not_served(
                        scope, send, "The admin API is served by the control process."
                    )
            elif self._role == "control" and not path.startswith(CONTROL_DATA_PATHS):
                await send_not_served(
                    scope, send, "This process serves the control plane only (--role control)."
                )
            else:
                await self._data(scope, receive, send)
        elif kind == "websocket":
            await refuse_websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        config = self._loaded.config
        for note in self._loaded.notes:
            log.info("config: %s", note)
        for warning in self._loaded.warnings:
            log.warning("config: %s", warning)
        for warning in deployment_warnings(config.deployments, self._env):
            log.warning("config: %s", warning)
        if config.master_key is None:
            log.warning(
                "NO MASTER KEY IS SET: every caller is allowed. Set GATEWAY_MASTER_KEY "
                "or general_settings.master_key before exposing the gateway."
            )
        self._pool = UpstreamPool()
        metrics = self._metrics = Metrics()
        ledger = self._ledger = self._build_ledger(config)
        await ledger.start()
        self._dependency_states["ledger"] = lambda: ledger.status().state.value
        shared = self._shared = SharedState(redis_settings(config, self._env))
        self._dependency_states["redis"] = lambda: shared.status
        self._events = self._build_events(config, self._pool)
        self._tracing = self._build_tracing(config, metrics)
        self._cooldowns = _cooldowns(shared)
        self._routing_stats = RoutingStats()
        self._pins = _session_pins(shared)
        self._cache = build_response_cache(cache_settings(config), shared)
        lookups, admin = self._build_control_stores(config)
        self._responses = ResponsesState(store=self._build_responses_store(config))
        self._gate = self._build_gate(lookups, shared)
        self._alerting = self._build_alerting(config, self._pool, metrics, ledger, shared)
        if self._alerting is not None:
            self._gate.on_spend = self._alerting.requests.budget
            self._gate.watch_spend_from = BUDGET_LEVELS[0]
        self._vault = self._build_vault()
        reloader = ConfigReloader(
            self._loaded,
            self._env,
            file_data=self._file_data,
            settings=self._settings,
            build=self._new_plane,
            store=admin,
            vault=self._vault,
            keys=self._gate.directory,
            announce=self._announce,
        )
        # The stored models join the file's before the first data plane is built.
        self._data = await reloader.start()
        config = reloader.config
        run_dir = self._env.get(RUN_DIR_ENV)
        self._control = build_control_api(
            ControlPlane(
                reloader,
                admin,
                shared.bus,
                shared.overrides,
                self._vault,
                activity=self._own_activity,
                run_dir=RunDir(run_dir) if run_dir else None,
            ),
            version=_version(),
        )
        self._sync = ControlSync(
            lookups,
            shared.bus,
            shared.overrides,
            self._gate.directory,
            rebuild_models=reloader.apply_stored_models,
            reload_config=reloader.reload_or_keep,
            trusted=lambda: shared.enabled and shared.bus.subscribed.is_set(),
        )
        # After the stores exist: the first subscription loads what they share.
        await shared.start()
        await self._sync.start()
        self._on_sighup(reloader)
        if run_dir:
            self._heartbeat = WorkerHeartbeat(
                RunDir(run_dir),
                config.source,
                self._sample_dependencies(metrics),
                extra=lambda: {"activity": self._own_activity().to_json()},
            )
            self._heartbeat.start()
        log.info(
            "gateway ready",
            extra={
                "config": config.source,
                "deployments": len(config.deployments),
                "model_groups": len(config.group_names()),
                "role": self._role,
            },
        )

    def _own_activity(self) -> ActivitySummary:
        stats = self._routing_stats
        return self._activity.summary(stats.own_in_flight() if stats is not None else {})

    async def _announce(self, event: Invalidate) -> None:
        assert self._sync is not None
        await self._sync.announce(event)

    def _new_plane(self, config: GatewayConfig) -> DataPlane:
        assert self._pool is not None and self._metrics is not None and self._ledger is not None
        return build_data_plane(
            config,
            self._env,
            self._pool,
            self._metrics,
            self._ledger,
            shared=self._shared,
            events=self._events,
            tracing=self._tracing,
            alerting=self._alerting,
            cooldowns=self._cooldowns,
            cache=self._cache,
            gate=self._gate,
            responses=self._responses,
            routing_stats=self._routing_stats,
            activity=self._activity,
            pins=self._pins,
        )

    def _on_sighup(self, reloader: ConfigReloader) -> None:
        """``SIGHUP`` reloads the config file in this process (as ``POST /config/reload``
        does, without telling the fleet: signal each process, or use the API)."""

        def reload() -> None:
            task = asyncio.get_running_loop().create_task(reloader.reload_or_keep())
            self._signal_tasks.add(task)
            task.add_done_callback(self._signal_tasks.discard)

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)

    # --- building the control plane's parts ------------------------------------------

    def _build_control_stores(self, config: GatewayConfig) -> tuple[ControlStore, ControlStore]:
        settings: LedgerSettings = ledger_settings(
            config, self._env, redis_configured=bool(self._env.get("REDIS_URL"))
        )
        lookups = open_control_store(
            settings,
            purpose="key-lookups",
            connections=LOOKUP_CONNECTIONS,
            statement_timeout_s=LOOKUP_STATEMENT_TIMEOUT_S,
        )
        admin = open_control_store(
            settings,
            purpose="control-plane",
            connections=ADMIN_CONNECTIONS,
            statement_timeout_s=ADMIN_STATEMENT_TIMEOUT_S,
        )
        self._stores = [lookups, admin]
        return lookups, admin

    def _build_responses_store(self, config: GatewayConfig) -> ResponsesStore:
        settings = ledger_settings(
            config, self._env, redis_configured=bool(self._env.get("REDIS_URL"))
        )
        return ResponsesStore(
            open_control_db(
                settings,
                purpose="responses",
                connections=RESPONSES_CONNECTIONS,
                statement_timeout_s=RESPONSES_STATEMENT_TIMEOUT_S,
            ),
            config.file.general_settings.responses_retention_period,
        )

    def _build_gate(self, lookups: ControlStore, shared: SharedState) -> KeyGate:
        windows: RateWindows
        slots: Slots
        spend = None
        if shared.limits is not None and shared.connection is not None:
            assert shared.guard is not None and shared.keys is not None
            assert shared.writer is not None
            windows = shared.limits
            slots = FleetSlots(
                connection=shared.connection,
                guard=shared.guard,
                writer=shared.writer,
                keys=shared.keys,
                origin=shared.origin,
            )
            spend = FleetSpend(
                connection=shared.connection,
                guard=shared.guard,
                writer=shared.writer,
                keys=shared.keys,
            )
        else:
            windows, slots = MinuteWindows(), LocalSlots()
        self._budgets = BudgetBook(lookups, spend)
        directory = KeyDirectory(lookups, shared.bus)
        return KeyGate(directory, windows=windows, slots=slots, budgets=self._budgets)

    def _build_vault(self) -> Vault | None:
        salt_key = salt_key_from(self._env)
        if salt_key is None:
            return None
        try:
            return Vault(salt_key)
        except ValueError as exc:
            log.error("runtime models disabled: %s", exc)
            return None

    def _sample_dependencies(self, metrics: Metrics) -> Callable[[], dict[str, str]]:
        """Reads every dependency's state (each heartbeat) and mirrors it in the metrics."""
        levels = {"ok": 1.0, "degraded": 0.5, "down": 0.0}

        def sample() -> dict[str, str]:
            states = {name: state() for name, state in self._dependency_states.items()}
            for name, state in states.items():
                if state in levels:
                    metrics.dependency_up.labels(name).set(levels[state])
            return states

        return sample

    def _build_events(self, config: GatewayConfig, pool: UpstreamPool) -> EventSinks | None:
        settings = config.file.litellm_settings
        on_success, problems = build_sinks(settings.success_callback, self._env)
        on_failure, more = build_sinks(settings.failure_callback, self._env)
        for problem in dict.fromkeys([*problems, *more]):
            log.warning("config: callbacks: %s", problem)
        events = EventSinks(pool, on_success, on_failure)
        if not events.enabled:
            return None
        events.start()
        return events

    def _build_alerting(
        self,
        config: GatewayConfig,
        pool: UpstreamPool,
        metrics: Metrics,
        ledger: SpendLedger,
        shared: SharedState,
    ) -> Alerting | None:
        """Alerts, as ``general_settings.alerting`` and the environment set them (at
        start-up: a reload keeps them). Fleet-wide deduplication when Redis is shared."""
        settings, problems = alert_settings(config.file.general_settings, self._env)
        for problem in problems:
            log.warning("config: %s", problem)
        if settings is None:
            return None
        claim: Claim | None = None
        kv, keys = shared.kv, shared.keys
        if kv is not None and keys is not None:

            async def claim_in_fleet(key: str, ttl_s: float) -> bool:
                return await kv.claim(keys.alert(key), ttl_s)

            claim = claim_in_fleet
        alerting = Alerting(Alerter(settings, pool, metrics.alerts, claim), ledger)
        alerting.start()
        log.info(
            "alerting",
            extra={
                "slack": bool(settings.slack_urls or settings.slack_by_type),
                "webhook": settings.webhook_url is not None,
                "alert_types": sorted(settings.types),
                "fleet_dedup": claim is not None,
            },
        )
        return alerting

    def _build_tracing(self, config: GatewayConfig, metrics: Metrics) -> Tracing | None:
        """Traces, as the config and the OTEL_* environment set them (at start-up: a
        reload keeps them as they are)."""
        try:
            settings = tracing_settings(config.file, self._env)
        except TracingConfigError as exc:
            log.error("tracing disabled: %s", exc)
            return None
        if settings is None:
            return None
        log.info(
            "tracing",
            extra={"exporter": settings.exporter, "endpoint": settings.endpoint},
        )
        return Tracing(settings, metrics.trace_export)

    def _build_ledger(self, config: GatewayConfig) -> SpendLedger:
        redis_url = self._env.get("REDIS_URL")
        settings = ledger_settings(config, self._env, redis_configured=bool(redis_url))
        stream = None
        if settings.redis_buffer and redis_url:
            prefix = getattr(config.file.router_settings, "redis_key_prefix", None) or "gateway"
            stream = RedisStreamBuffer(redis_url, prefix=str(prefix))
        elif config.file.general_settings.use_redis_transaction_buffer:
            log.warning(
                "config: general_settings.use_redis_transaction_buffer is on but REDIS_URL "
                "is not set; spend records go straight to the database"
            )
        log.info(
            "spend ledger",
            extra={
                "backend": "postgres" if settings.database_url else "sqlite",
                "redis_buffer": stream is not None,
                "batch_write_s": settings.batch_write_s,
            },
        )
        return build_ledger(settings, stream)

    async def shutdown(self) -> None:
        if self._sync is not None:
            await self._sync.stop()
            self._sync = None
        if self._budgets is not None:
            await self._budgets.close()
            self._budgets = None
        for store in self._stores:
            with contextlib.suppress(Exception):
                await store.close()
        self._stores = []
        if self._responses is not None and self._responses.store is not None:
            with contextlib.suppress(Exception):
                await self._responses.store.close()
            self._responses.store = None
        if self._heartbeat is not None:
            await self._heartbeat.stop()
            self._heartbeat = None
        if self._events is not None:
            await self._events.stop()
            self._events = None
        if self._alerting is not None:
            await self._alerting.stop()
            self._alerting = None
        if self._tracing is not None:
            # Sends what is still queued (bounded by the exporter's timeout).
            await asyncio.to_thread(self._tracing.shutdown)
            self._tracing = None
        if self._ledger is not None:
            # Uvicorn has drained the requests by now: every record is submitted.
            await self._ledger.close()
            self._ledger = None
        if self._shared is not None:
            await self._shared.stop()
            self._shared = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> GatewayApp:
    """Factory for uvicorn/gunicorn workers: the config path comes from ``GATEWAY_CONFIG``."""
    settings = EnvSettings()
    env = dict(os.environ)
    path = env.get(CONFIG_PATH_ENV) or None
    data = read_config_file(path) if path else EMBEDDED_CONFIG
    loaded = build_config(data, env, path or EMBEDDED_SOURCE, settings)
    return GatewayApp(loaded, env, file_data=data, settings=settings)


def _version() -> str:
    try:
        return metadata.version("gateway")
    except metadata.PackageNotFoundError:
        return "0"


def _role(value: str | None) -> Role:
    if value in (None, "", "all"):
        return "all"
    if value in ("data", "control"):
        return value  # type: ignore[return-value]
    raise ValueError(f"{ROLE_ENV}: expected all, data or control, not {value!r}")
