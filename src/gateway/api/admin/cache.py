"""Cache administration: ``GET /cache/ping``, ``POST /cache/flushall``, ``POST
/cache/delete`` with ``{"keys": [...]}`` (keys as in ``x-gateway-cache-key``). They need an
admin key (anyone may call them when no master key is set).

Flushing drops this gateway's cached answers only (its key prefix), never
anything else on a shared Redis; with an in-process cache every process of
the fleet drops them too.
"""

from __future__ import annotations

from typing import Any

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest
from gateway.api.parse import check_content_type
from gateway.api.services import DataPlane
from gateway.cache.controls import NAMESPACE
from gateway.cache.response_cache import ResponseCache
from gateway.errors import InvalidRequest, StorageUnavailable
from gateway.state.guard import StateUnavailable

MAX_KEYS = 10_000


async def cache_ping(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    plane = control.runtime.plane
    cache = _cache(plane)
    try:
        healthy = await cache.ping()
    except StateUnavailable as exc:
        raise StorageUnavailable(f"The {cache.kind} cache does not answer: {exc}") from exc
    return {
        "status": "healthy" if healthy else "unhealthy",
        "cache_type": cache.kind,
        "ping_response": healthy,
        "shared_state": plane.shared.status if plane.shared is not None else "absent",
    }


async def cache_flushall(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    cache = _cache(control.runtime.plane)
    try:
        dropped = await cache.flush()
    except StateUnavailable as exc:
        raise StorageUnavailable(f"The {cache.kind} cache could not be flushed: {exc}") from exc
    return {"status": "success", "deleted": dropped}


async def cache_delete(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    cache = _cache(control.runtime.plane)
    check_content_type(request.incoming.headers)
    body = request.body
    keys = body.get("keys")
    if (
        not isinstance(keys, list)
        or not keys
        or len(keys) > MAX_KEYS
        or not all(isinstance(k, str) and k for k in keys)
    ):
        raise InvalidRequest(
            f"Invalid 'keys': expected a non-empty array of at most {MAX_KEYS} cache keys "
            "(the x-gateway-cache-key response header).",
            param="keys",
        )
    namespace = body.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not NAMESPACE.match(namespace)):
        raise InvalidRequest(
            "Invalid 'namespace': expected 1-64 letters, digits or _.:-", param="namespace"
        )
    try:
        dropped = await cache.delete(keys, namespace)
    except StateUnavailable as exc:
        raise StorageUnavailable(f"The {cache.kind} cache could not be changed: {exc}") from exc
    return {"status": "success", "deleted": dropped}


def _cache(plane: DataPlane) -> ResponseCache:
    if plane.cache is None:
        raise StorageUnavailable(
            "The response cache is off. Turn it on with litellm_settings.cache: true."
        )
    return plane.cache
