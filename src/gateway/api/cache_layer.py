"""The response cache in the data plane: one ticket per cacheable request.

``open_ticket`` takes the body's ``cache`` controls out (they never reach a
provider, cache on or off) and, when the cache applies, makes the request's
key: its model group, its normalized body and, unless the cache is shared,
the caller's API key. ``answer_from_cache`` serves a hit whole or as a
stream, with no upstream call; a miss is answered as usual and stored after.
Responses say ``x-gateway-cache: hit|miss`` and ``x-gateway-cache-key`` (what
``POST /cache/delete`` takes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.api.auth import presented_key
from gateway.api.http import JSON_HEADERS, Headers, Incoming, RequestHeaders, send_bytes
from gateway.api.outcome import Exchange, record
from gateway.api.services import DataPlane
from gateway.api.sse import relay_stream
from gateway.cache.assemble import RecordingStream
from gateway.cache.controls import CacheControls, pop_cache_controls
from gateway.cache.key import cache_key, scope_for
from gateway.cache.replay import ReplayStream, replay_chunks
from gateway.cache.response_cache import Hit, ResponseCache
from gateway.providers.base import ChunkStream, Operation, Usage
from gateway.router.request import RouteTrace

CACHE_HEADER = b"x-gateway-cache"
KEY_HEADER = b"x-gateway-cache-key"


@dataclass(slots=True)
class CacheTicket:
    cache: ResponseCache
    operation: Operation
    group: str
    key: str
    controls: CacheControls

    def miss_headers(self) -> Headers:
        return [(CACHE_HEADER, b"miss"), (KEY_HEADER, self.key.encode())]

    def remember(self, payload: bytes) -> None:
        """Store a whole answer (in the background)."""
        self.cache.store_soon(self.key, payload, self.controls)

    def recording(self, chunks: ChunkStream) -> ChunkStream:
        """The stream as it is; once it ends cleanly, its whole answer is stored."""
        return RecordingStream(chunks, self.operation, self._remember_completion)

    def _remember_completion(self, completion: dict[str, Any]) -> None:
        self.cache.store_soon(self.key, orjson.dumps(completion), self.controls)


def open_ticket(
    plane: DataPlane,
    operation: Operation,
    model: str,
    body: dict[str, Any],
    headers: RequestHeaders,
) -> CacheTicket | None:
    controls = pop_cache_controls(body)
    cache = plane.cache
    if cache is None or not cache.applies(operation, controls):
        return None
    group = plane.router.groups.get(model)
    if group is None:
        return None  # the router answers an unknown model
    scope = b"" if cache.settings.shared else scope_for(presented_key(headers))
    key = cache_key(operation, group.name, body, scope)
    return CacheTicket(cache, operation, group.name, key, controls)


async def answer_from_cache(
    plane: DataPlane,
    ticket: CacheTicket,
    incoming: Incoming,
    exchange: Exchange,
    *,
    stream: bool,
    include_usage: bool,
) -> bool:
    """Serve the cached answer, if there is one; False on a miss."""
    hit = await ticket.cache.lookup(ticket.key, ticket.controls)
    if hit is None:
        return False
    completion = _completion(hit)
    if completion is None:
        return False
    exchange.cache_hit = True
    exchange.trace = RouteTrace(model_group=ticket.group)
    exchange.usage = Usage.from_openai(completion.get("usage"))
    served = completion.get("model")
    exchange.served_model = served if isinstance(served, str) and served else None
    headers: Headers = [
        (b"x-request-id", incoming.request_id.encode()),
        (b"x-gateway-model-group", ticket.group.encode()),
        (CACHE_HEADER, b"hit"),
        (KEY_HEADER, ticket.key.encode()),
        (b"age", str(int(hit.age_s)).encode()),
    ]
    if stream:
        replay = ReplayStream(replay_chunks(ticket.operation, completion))
        await relay_stream(
            replay, headers, include_usage, incoming.receive, incoming.send, exchange=exchange
        )
    else:
        await send_bytes(incoming.send, 200, hit.body, [*JSON_HEADERS, *headers])
    record(plane, exchange)
    return True


def _completion(hit: Hit) -> dict[str, Any] | None:
    try:
        completion = orjson.loads(hit.body)
    except orjson.JSONDecodeError:
        return None
    return completion if isinstance(completion, dict) else None
