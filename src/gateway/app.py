"""The composition root: builds every long-lived object and wires them together.

Nothing else constructs clients or pools. The ASGI app built here owns its
state from lifespan start-up to shutdown; there is no module-level state.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from gateway.api.asgi import DataPlaneApp
from gateway.api.auth import MasterKeyAuth
from gateway.api.http import Receive, Scope, Send
from gateway.api.models import model_documents
from gateway.api.services import DataPlane
from gateway.cache.build import build_response_cache
from gateway.cache.settings import cache_settings
from gateway.config.defaults import EMBEDDED_CONFIG, EMBEDDED_SOURCE
from gateway.config.loader import LoadedConfig, build_config, load_config
from gateway.config.model import GatewayConfig
from gateway.config.settings import EnvSettings
from gateway.ledger.prices import PriceBook, load_shipped_prices
from gateway.ledger.service import SpendLedger, build_ledger
from gateway.ledger.settings import ledger_settings
from gateway.providers.registry import build_provider, deployment_warnings
from gateway.providers.transport import UpstreamPool
from gateway.router.cooldown import InProcessCooldowns
from gateway.router.groups import ModelGroups
from gateway.router.observer import LoggingObserver
from gateway.router.router import Router
from gateway.state.settings import redis_settings
from gateway.state.shared import SharedState
from gateway.state.stream_buffer import RedisStreamBuffer

log = logging.getLogger(__name__)

CONFIG_PATH_ENV = "GATEWAY_CONFIG"


def load(path: str | None, env: Mapping[str, str], settings: EnvSettings) -> LoadedConfig:
    """The config at ``path``, or the embedded defaults when there is none."""
    if path:
        return load_config(path, env, settings)
    return build_config(EMBEDDED_CONFIG, env, EMBEDDED_SOURCE, settings)


def build_data_plane(
    config: GatewayConfig,
    env: Mapping[str, str],
    pool: UpstreamPool,
    ledger: SpendLedger,
    *,
    shared: SharedState | None = None,
) -> DataPlane:
    providers = {
        spec.id: build_provider(spec, env, pool, drop_params=config.drop_params)
        for spec in config.deployments
    }
    groups = ModelGroups(config, providers)
    listing, by_id = model_documents(groups)
    master_key = config.master_key.get_secret_value() if config.master_key else None
    # Shared state: the router reads local views; the fleet keeps them in step.
    local_cooldowns = InProcessCooldowns()
    shared_cooldowns = shared.share_cooldowns(local_cooldowns) if shared is not None else None
    router = Router(
        config,
        groups,
        observer=LoggingObserver(),
        cooldowns=shared_cooldowns or local_cooldowns,
        limits=shared.limits if shared is not None else None,
        overrides=shared.overrides if shared is not None else None,
    )
    return DataPlane(
        router=router,
        auth=MasterKeyAuth(master_key),
        max_request_bytes=config.max_request_bytes,
        request_timeout=config.request_timeout,
        models_list=listing,
        models_by_id=by_id,
        ledger=ledger,
        prices=PriceBook(config.deployments, load_shipped_prices()),
        cache=build_response_cache(cache_settings(config), shared),
        shared=shared,
    )


class GatewayApp:
    """The ASGI application: lifespan builds the data plane, HTTP goes to it."""

    def __init__(self, loaded: LoadedConfig, env: Mapping[str, str]) -> None:
        self._loaded = loaded
        self._env = dict(env)
        self._pool: UpstreamPool | None = None
        self._data: DataPlaneApp | None = None
        self._ledger: SpendLedger | None = None
        self._shared: SharedState | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self._data is None:
                # Served without lifespan (some test harnesses): build on first use.
                await self.startup()
            assert self._data is not None
            await self._data(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        config = self._loaded.config
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
        ledger = self._ledger = self._build_ledger(config)
        await ledger.start()
        shared = self._shared = SharedState(redis_settings(config, self._env))
        self._data = DataPlaneApp(
            build_data_plane(config, self._env, self._pool, ledger, shared=shared)
        )
        # After the stores exist: the first subscription loads what they share.
        await shared.start()
        log.info(
            "gateway ready",
            extra={
                "config": config.source,
                "deployments": len(config.deployments),
                "model_groups": len(config.group_names()),
            },
        )

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


def create_app() -> Any:
    """Factory for uvicorn/gunicorn workers: the config path comes from ``GATEWAY_CONFIG``."""
    settings = EnvSettings()
    env = dict(os.environ)
    loaded = load(env.get(CONFIG_PATH_ENV) or None, env, settings)
    return GatewayApp(loaded, env)
