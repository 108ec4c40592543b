"""Build the response cache the config asks for, on the store the deployment can offer."""

from __future__ import annotations

import logging

from gateway.cache.response_cache import ResponseCache
from gateway.cache.settings import CacheSettings
from gateway.cache.store import CacheStore, LocalStore, RedisStore
from gateway.state.bus import EventBus
from gateway.state.shared import SharedState

log = logging.getLogger("gateway.cache")


def build_response_cache(
    settings: CacheSettings | None, shared: SharedState | None
) -> ResponseCache | None:
    """The cache, or None when it is off. ``type: redis`` without a Redis falls back to local."""
    if settings is None:
        return None
    fleet = shared.fleet if shared is not None else None
    store: CacheStore
    if settings.kind == "redis" and fleet is not None:
        store = RedisStore(fleet.kv, fleet.keys)
    else:
        if settings.kind == "redis":
            log.warning(
                "config: litellm_settings.cache_params.type is redis but no Redis is configured "
                "(REDIS_URL or router_settings.redis_host): answers are cached in process"
            )
        store = LocalStore(settings.max_entries)
    bus = shared.bus if shared is not None else EventBus("local")
    log.info(
        "response cache on",
        extra={"cache_type": store.kind, "ttl_s": settings.ttl_s, "shared": settings.shared},
    )
    return ResponseCache(settings, store, bus)
