"""Cache administration (master key): ``GET /cache/ping``, ``POST /cache/flushall``,
``POST /cache/delete`` with ``{"keys": [...]}`` (keys as in ``x-gateway-cache-key``).

Flushing drops this gateway's cached answers only (its key prefix), never
anything else on a shared Redis; with an in-process cache every process of
the fleet drops them too.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.api.http import JSON_HEADERS, Incoming, read_body, send_bytes
from gateway.api.parse import check_content_type, parse_json_object
from gateway.api.services import DataPlane
from gateway.cache.controls import NAMESPACE
from gateway.cache.response_cache import ResponseCache
from gateway.errors import InvalidRequest, StorageUnavailable
from gateway.state.guard import StateUnavailable

MAX_ADMIN_BODY = 1 << 20
MAX_KEYS = 10_000


async def cache_ping(plane: DataPlane, incoming: Incoming) -> None:
    plane.auth.check(incoming.headers)
    cache = _cache(plane)
    try:
        healthy = await cache.ping()
    except StateUnavailable as exc:
        raise StorageUnavailable(f"The {cache.kind} cache does not answer: {exc}") from exc
    await _reply(
        incoming,
        {
            "status": "healthy" if healthy else "unhealthy",
            "cache_type": cache.kind,
            "ping_response": healthy,
            "shared_state": plane.shared.status if plane.shared is not None else "absent",
        },
    )


async def cache_flushall(plane: DataPlane, incoming: Incoming) -> None:
    plane.auth.check(incoming.headers)
    cache = _cache(plane)
    try:
        dropped = await cache.flush()
    except StateUnavailable as exc:
        raise StorageUnavailable(f"The {cache.kind} cache could not be flushed: {exc}") from exc
    await _reply(incoming, {"status": "success", "deleted": dropped})


async def cache_delete(plane: DataPlane, incoming: Incoming) -> None:
    plane.auth.check(incoming.headers)
    cache = _cache(plane)
    check_content_type(incoming.headers)
    raw = await read_body(incoming.receive, MAX_ADMIN_BODY, incoming.headers.content_length)
    body = parse_json_object(raw)
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
    await _reply(incoming, {"status": "success", "deleted": dropped})


def _cache(plane: DataPlane) -> ResponseCache:
    if plane.cache is None:
        raise StorageUnavailable(
            "The response cache is off. Turn it on with litellm_settings.cache: true."
        )
    return plane.cache


async def _reply(incoming: Incoming, body: dict[str, Any]) -> None:
    await send_bytes(
        incoming.send,
        200,
        orjson.dumps(body),
        [*JSON_HEADERS, (b"x-request-id", incoming.request_id.encode())],
    )
