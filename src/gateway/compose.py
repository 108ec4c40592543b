"""The composition root: builds every long-lived object and wires them together.

Nothing else constructs clients or pools. ``build_app_state`` builds the process's
``AppState`` in dependency order, starting each part's background loops through one
``Supervisor`` and entering each part's shutdown on one ``AsyncExitStack``, so the
parts stop in the reverse of the order they started (the control sync and heartbeat
first, the ledger after everything that records spend, the upstream pool last) and a
start-up that fails half-way releases exactly what it had opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from gateway.api.admin.context import ControlPlane
from gateway.api.auth import MasterKeyAuth
from gateway.api.control.app import build_control_api
from gateway.api.models import anthropic_documents, model_documents
from gateway.api.responses_turn import ResponsesState
from gateway.api.services import DataPlane
from gateway.app_state import AppState
from gateway.cache.build import build_response_cache
from gateway.cache.response_cache import ResponseCache
from gateway.cache.settings import cache_settings
from gateway.config.loader import LoadedConfig
from gateway.config.model import DeploymentSpec, GatewayConfig
from gateway.config.settings import EnvSettings, Role
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
from gateway.supervisor import Supervisor

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


@dataclass(frozen=True, slots=True)
class Lasting:
    """What every data plane is built with and what outlives a config reload: the pools,
    the shared state, the cooldowns, the cache, the key gate, the routing statistics."""

    env: Mapping[str, str]
    pool: UpstreamPool
    metrics: Metrics
    ledger: SpendLedger
    shared: SharedState
    cooldowns: CooldownStore
    cache: ResponseCache | None
    gate: KeyGate
    responses: ResponsesState
    routing_stats: RoutingStats
    pins: PinStore
    activity: RecentActivity
    events: EventSinks | None
    tracing: Tracing | None
    alerting: Alerting | None


async def build_app_state(
    loaded: LoadedConfig,
    env: Mapping[str, str],
    *,
    file_data: Mapping[str, Any],
    settings: EnvSettings | None,
    role: Role,
    stack: AsyncExitStack,
) -> AppState:
    """Build and start every part; each one's shutdown is entered on ``stack``."""
    config = loaded.config
    _log_config(loaded, env)
    tasks = Supervisor()
    # Closed last: whatever loop a part left running is ended, and named, here.
    stack.push_async_callback(tasks.close)
    lasting, lookups, admin = await _start_lasting(config, env, tasks, stack)
    pool, metrics, ledger = lasting.pool, lasting.metrics, lasting.ledger
    shared, gate = lasting.shared, lasting.gate
    dependencies: dict[str, Callable[[], str]] = {
        "ledger": lambda: ledger.status().state.value,
        "redis": lambda: shared.status,
    }
    vault = _build_vault(env)

    async def announce(event: Invalidate) -> None:
        await sync.announce(event)

    reloader = ConfigReloader(
        loaded,
        env,
        file_data=file_data,
        settings=settings,
        build=partial(build_data_plane, lasting=lasting),
        store=admin,
        vault=vault,
        keys=gate.directory,
        announce=announce,
    )
    # The stored models join the file's before the first data plane is built.
    data = await reloader.start()
    config = reloader.config
    run_dir = RunDir(env[RUN_DIR_ENV]) if env.get(RUN_DIR_ENV) else None
    own_activity = partial(_own_activity, lasting)
    control = build_control_api(
        ControlPlane(
            reloader,
            admin,
            shared.bus,
            shared.overrides,
            vault,
            activity=own_activity,
            run_dir=run_dir,
        ),
        version=_version(),
    )
    sync = ControlSync(
        lookups,
        shared.bus,
        shared.overrides,
        gate.directory,
        rebuild_models=reloader.apply_stored_models,
        reload_config=reloader.reload_or_keep,
        trusted=lambda: shared.enabled and shared.bus.subscribed.is_set(),
        tasks=tasks,
    )
    # After the stores exist: the first subscription loads what they share.
    await shared.start()
    await sync.start()
    stack.push_async_callback(sync.stop)
    _reload_on_sighup(reloader, tasks)
    if run_dir is not None:
        heartbeat = WorkerHeartbeat(
            run_dir,
            config.source,
            _sample_dependencies(dependencies, metrics),
            extra=lambda: {"activity": own_activity().to_json()},
            tasks=tasks,
        )
        heartbeat.start()
        stack.push_async_callback(heartbeat.stop)
    log.info(
        "gateway ready",
        extra={
            "config": config.source,
            "deployments": len(config.deployments),
            "model_groups": len(config.group_names()),
            "role": role,
        },
    )
    return AppState(
        role=role,
        data=data,
        control=control,
        reloader=reloader,
        sync=sync,
        pool=pool,
        metrics=metrics,
        ledger=ledger,
        shared=shared,
        gate=gate,
        cache=lasting.cache,
        activity=lasting.activity,
        tasks=tasks,
    )


async def _start_lasting(
    config: GatewayConfig, env: Mapping[str, str], tasks: Supervisor, stack: AsyncExitStack
) -> tuple[Lasting, ControlStore, ControlStore]:
    """What outlives reloads, started, with the key-lookup and control-plane stores."""
    pool = UpstreamPool()
    stack.push_async_callback(pool.close)
    metrics = Metrics()
    ledger = _build_ledger(config, env, tasks)
    await ledger.start()
    stack.push_async_callback(ledger.close)
    shared = SharedState(redis_settings(config, env), tasks=tasks)
    stack.push_async_callback(shared.stop)
    events = _build_events(config, env, pool, tasks)
    if events is not None:
        stack.push_async_callback(events.stop)
    tracing = _build_tracing(config, env, metrics)
    if tracing is not None:
        # Sends what is still queued (bounded by the exporter's timeout).
        stack.push_async_callback(asyncio.to_thread, tracing.shutdown)
    store_settings = ledger_settings(config, env, redis_configured=bool(env.get("REDIS_URL")))
    lookups = _control_store(
        store_settings, "key-lookups", LOOKUP_CONNECTIONS, LOOKUP_STATEMENT_TIMEOUT_S
    )
    stack.push_async_callback(_quietly, lookups.close)
    admin = _control_store(
        store_settings, "control-plane", ADMIN_CONNECTIONS, ADMIN_STATEMENT_TIMEOUT_S
    )
    stack.push_async_callback(_quietly, admin.close)
    responses_store = _responses_store(config, store_settings, tasks)
    stack.push_async_callback(_quietly, responses_store.close)
    budgets, gate = _build_gate(lookups, shared, tasks)
    stack.push_async_callback(budgets.close)
    alerting = _build_alerting(
        config, env, pool=pool, metrics=metrics, ledger=ledger, shared=shared, tasks=tasks
    )
    if alerting is not None:
        stack.push_async_callback(alerting.stop)
        gate.on_spend = alerting.requests.budget
        gate.watch_spend_from = BUDGET_LEVELS[0]
    lasting = Lasting(
        env=env,
        pool=pool,
        metrics=metrics,
        ledger=ledger,
        shared=shared,
        cooldowns=_cooldowns(shared),
        cache=build_response_cache(cache_settings(config), shared),
        gate=gate,
        responses=ResponsesState(store=responses_store),
        routing_stats=RoutingStats(),
        pins=_session_pins(shared),
        activity=RecentActivity(),
        events=events,
        tracing=tracing,
        alerting=alerting,
    )
    return lasting, lookups, admin


def _log_config(loaded: LoadedConfig, env: Mapping[str, str]) -> None:
    config = loaded.config
    for note in loaded.notes:
        log.info("config: %s", note)
    for warning in loaded.warnings:
        log.warning("config: %s", warning)
    for warning in deployment_warnings(config.deployments, env):
        log.warning("config: %s", warning)
    if config.master_key is None:
        log.warning(
            "NO MASTER KEY IS SET: every caller is allowed. Set GATEWAY_MASTER_KEY "
            "or general_settings.master_key before exposing the gateway."
        )


async def _quietly(close: Callable[[], Any]) -> None:
    """A store's close at shutdown: a database already gone must not stop the rest."""
    with contextlib.suppress(Exception):
        await close()


def _own_activity(lasting: Lasting) -> ActivitySummary:
    return lasting.activity.summary(lasting.routing_stats.own_in_flight())


def _reload_on_sighup(reloader: ConfigReloader, tasks: Supervisor) -> None:
    """``SIGHUP`` reloads the config file in this process (as ``POST /config/reload``
    does, without telling the fleet: signal each process, or use the API)."""

    def reload() -> None:
        tasks.spawn(reloader.reload_or_keep(), name="config-reload-sighup")

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


def build_data_plane(config: GatewayConfig, *, lasting: Lasting) -> DataPlane:
    """A data plane for ``config``, built with what outlives a reload (``lasting``)."""
    env, pool, shared = lasting.env, lasting.pool, lasting.shared
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
    observers: list[RouterObserver] = [
        LoggingObserver(),
        MetricsObserver(
            lasting.metrics,
            {spec.id: spec.provider for spec in config.deployments},
            wildcard_ids,
        ),
    ]
    if lasting.alerting is not None:
        observers.append(
            lasting.alerting.router_observer(
                config.deployments, _members_of(groups), lasting.cooldowns
            )
        )
    observers.append(lasting.activity)
    prices = PriceBook(config.deployments, load_shipped_prices())
    # Shared state: the router reads local views; the fleet keeps them in step.
    router = Router(
        config,
        groups,
        observer=FanOutObserver(*observers),
        cooldowns=lasting.cooldowns,
        limits=shared.fleet.limits if shared.fleet is not None else None,
        overrides=shared.overrides,
        stats=lasting.routing_stats,
        price_of=partial(_price_per_token, prices),
        pins=lasting.pins,
    )
    # The load-reading strategies see the fleet's load when the fleet shares a Redis.
    router.stats.configure(
        config.file.router_settings.routing_strategy_args.latency_ewma_alpha,
        shared_with_fleet=router.strategies.needs_fleet_stats,
    )
    if router.strategies.needs_fleet_stats:
        shared.share_routing_load(router.stats.snapshot, router.stats.absorb)
    lasting.responses.drop_params = config.drop_params
    return DataPlane(
        router=router,
        auth=MasterKeyAuth(master_key, lasting.gate),
        max_request_bytes=config.max_request_bytes,
        request_timeout=config.request_timeout,
        models_list=listing,
        models_by_id=by_id,
        anthropic_models=anthropic_documents(groups),
        metrics=lasting.metrics,
        ledger=lasting.ledger,
        prices=prices,
        metrics_need_auth=config.file.litellm_settings.require_auth_for_metrics_endpoint,
        cache=lasting.cache,
        shared=shared,
        health_checks_file=_health_checks_file(config, env),
        events=lasting.events,
        tracing=lasting.tracing,
        alerts=lasting.alerting.requests if lasting.alerting is not None else None,
        responses=lasting.responses,
        metric_labels=MetricLabels(groups.public_names(), wildcard_ids),
        activity=lasting.activity,
    )


def _members_of(groups: ModelGroups) -> Callable[[str], list[str]]:
    def members(name: str) -> list[str]:
        group = groups.get(name)
        return [d.id for d in group.deployments] if group is not None else []

    return members


def _price_per_token(prices: PriceBook, spec: DeploymentSpec) -> float | None:
    price = prices.lookup(spec.id, spec.model)
    return None if price is None else price.base.input + price.base.output


def _session_pins(shared: SharedState) -> PinStore:
    """One process's session pins, kept across the fleet when it shares a Redis."""
    local = LocalPins()
    fleet = shared.share_pins(local)
    return fleet if fleet is not None else local


def _cooldowns(shared: SharedState) -> CooldownStore:
    local = InProcessCooldowns()
    return shared.share_cooldowns(local) or local


def _health_checks_file(config: GatewayConfig, env: Mapping[str, str]) -> Path | None:
    run_dir = env.get(RUN_DIR_ENV)
    if not run_dir or not config.file.general_settings.background_health_checks:
        return None
    return RunDir(run_dir).health_checks_file


# --- the parts, one builder each ------------------------------------------------------


def _control_store(
    settings: LedgerSettings, purpose: str, connections: int, statement_timeout_s: float
) -> ControlStore:
    return open_control_store(
        settings,
        purpose=purpose,
        connections=connections,
        statement_timeout_s=statement_timeout_s,
    )


def _responses_store(
    config: GatewayConfig, settings: LedgerSettings, tasks: Supervisor
) -> ResponsesStore:
    return ResponsesStore(
        open_control_db(
            settings,
            purpose="responses",
            connections=RESPONSES_CONNECTIONS,
            statement_timeout_s=RESPONSES_STATEMENT_TIMEOUT_S,
        ),
        config.file.general_settings.responses_retention_period,
        tasks=tasks,
    )


def _build_gate(
    lookups: ControlStore, shared: SharedState, tasks: Supervisor
) -> tuple[BudgetBook, KeyGate]:
    windows: RateWindows
    slots: Slots
    spend = None
    fleet = shared.fleet
    if fleet is not None:
        windows = fleet.limits
        slots = FleetSlots(fleet, origin=shared.origin)
        spend = FleetSpend(fleet)
    else:
        windows, slots = MinuteWindows(), LocalSlots()
    budgets = BudgetBook(lookups, spend, tasks=tasks)
    directory = KeyDirectory(lookups, shared.bus)
    return budgets, KeyGate(directory, windows=windows, slots=slots, budgets=budgets)


def _build_vault(env: Mapping[str, str]) -> Vault | None:
    salt_key = salt_key_from(env)
    if salt_key is None:
        return None
    try:
        return Vault(salt_key)
    except ValueError as exc:
        log.error("runtime models disabled: %s", exc)
        return None


def _sample_dependencies(
    dependencies: Mapping[str, Callable[[], str]], metrics: Metrics
) -> Callable[[], dict[str, str]]:
    """Reads every dependency's state (each heartbeat) and mirrors it in the metrics."""
    levels = {"ok": 1.0, "degraded": 0.5, "down": 0.0}

    def sample() -> dict[str, str]:
        states = {name: state() for name, state in dependencies.items()}
        for name, state in states.items():
            if state in levels:
                metrics.dependency_up.labels(name).set(levels[state])
        return states

    return sample


def _build_events(
    config: GatewayConfig, env: Mapping[str, str], pool: UpstreamPool, tasks: Supervisor
) -> EventSinks | None:
    settings = config.file.litellm_settings
    on_success, problems = build_sinks(settings.success_callback, env)
    on_failure, more = build_sinks(settings.failure_callback, env)
    for problem in dict.fromkeys([*problems, *more]):
        log.warning("config: callbacks: %s", problem)
    events = EventSinks(pool, on_success, on_failure, tasks=tasks)
    if not events.enabled:
        return None
    events.start()
    return events


def _build_alerting(
    config: GatewayConfig,
    env: Mapping[str, str],
    *,
    pool: UpstreamPool,
    metrics: Metrics,
    ledger: SpendLedger,
    shared: SharedState,
    tasks: Supervisor,
) -> Alerting | None:
    """Alerts, as ``general_settings.alerting`` and the environment set them (at
    start-up: a reload keeps them). Fleet-wide deduplication when Redis is shared."""
    settings, problems = alert_settings(config.file.general_settings, env)
    for problem in problems:
        log.warning("config: %s", problem)
    if settings is None:
        return None
    claim: Claim | None = None
    fleet = shared.fleet
    if fleet is not None:
        kv, keys = fleet.kv, fleet.keys

        async def claim_in_fleet(key: str, ttl_s: float) -> bool:
            return await kv.claim(keys.alert(key), ttl_s)

        claim = claim_in_fleet
    alerter = Alerter(settings, pool, metrics.alerts, claim, tasks=tasks)
    alerting = Alerting(alerter, ledger, tasks=tasks)
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


def _build_tracing(
    config: GatewayConfig, env: Mapping[str, str], metrics: Metrics
) -> Tracing | None:
    """Traces, as the config and the OTEL_* environment set them (at start-up: a
    reload keeps them as they are)."""
    try:
        settings = tracing_settings(config.file, env)
    except TracingConfigError as exc:
        log.error("tracing disabled: %s", exc)
        return None
    if settings is None:
        return None
    log.info("tracing", extra={"exporter": settings.exporter, "endpoint": settings.endpoint})
    return Tracing(settings, metrics.trace_export)


def _build_ledger(config: GatewayConfig, env: Mapping[str, str], tasks: Supervisor) -> SpendLedger:
    redis_url = env.get("REDIS_URL")
    settings = ledger_settings(config, env, redis_configured=bool(redis_url))
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
    return build_ledger(settings, stream, tasks=tasks)


def _version() -> str:
    try:
        return metadata.version("gateway")
    except metadata.PackageNotFoundError:
        return "0"
