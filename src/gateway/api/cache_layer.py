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
from gateway.api.outcome import Exchange
from gateway.api.services import DataPlane
from gateway.api.sse import OpenAIFramer, relay_stream
from gateway.cache.assemble import RecordingStream, assemble, recording_bytes
from gateway.cache.controls import CacheControls, pop_cache_controls
from gateway.cache.key import cache_key, scope_for
from gateway.cache.replay import ReplayStream, replay_chunks
from gateway.cache.response_cache import Hit, ResponseCache
from gateway.providers.base import ChunkStream, Operation, StreamChunk, Usage
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

    def hit_headers(self, request_id: str, hit: Hit) -> Headers:
        return [
            (b"x-request-id", request_id.encode()),
            (b"x-gateway-model-group", self.group.encode()),
            (CACHE_HEADER, b"hit"),
            (KEY_HEADER, self.key.encode()),
            (b"age", str(int(hit.age_s)).encode()),
        ]

    def remember(self, payload: bytes) -> None:
        """Store a whole answer (in the background)."""
        self.cache.store_soon(self.key, payload, self.controls)

    def recording(self, chunks: ChunkStream) -> ChunkStream:
        """The stream as it is; once it ends cleanly, its chunks are stored."""
        return RecordingStream(chunks, self._remember_chunks)

    def _remember_chunks(self, chunks: list[bytes]) -> None:
        self.cache.store_soon(self.key, recording_bytes(chunks), self.controls)


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
    answer = _stored_answer(ticket.operation, hit, stream=stream)
    if answer is None:
        return False
    completion, chunks, whole = answer
    exchange.cache_hit = True
    exchange.trace = RouteTrace(model_group=ticket.group)
    exchange.usage = Usage.from_openai(completion.get("usage"))
    exchange.note_served(completion.get("model"))
    exchange.note_answer(completion)
    headers = ticket.hit_headers(incoming.request_id, hit)
    if stream:
        replay = ReplayStream(chunks or replay_chunks(ticket.operation, completion))
        await relay_stream(
            replay,
            headers,
            OpenAIFramer(include_usage),
            incoming.receive,
            incoming.send,
            exchange=exchange,
        )
    else:
        await send_bytes(incoming.send, 200, whole, [*JSON_HEADERS, *headers])
    return True


def _stored_answer(
    operation: Operation, hit: Hit, *, stream: bool
) -> tuple[dict[str, Any], list[StreamChunk] | None, bytes] | None:
    """What a hit holds, as (completion, chunks to replay, whole answer's bytes).

    A completion (stored from a whole answer) is sent as stored, or replayed as
    rebuilt chunks. A stream's recording is replayed as it was recorded, or put
    together into a completion for a whole request. None: unusable."""
    try:
        stored = orjson.loads(hit.body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(stored, dict):
        return stored, None, hit.body
    if not isinstance(stored, list):
        return None
    if stream:
        return _recording_summary(stored), [_replayed(chunk) for chunk in stored], b""
    completion = assemble(operation, stored)
    return (completion, None, orjson.dumps(completion)) if completion is not None else None


def _recording_summary(chunks: list[Any]) -> dict[str, Any]:
    """The model and usage of a recording (what the ledger needs of a hit)."""
    summary: dict[str, Any] = {}
    for chunk in chunks:
        if isinstance(chunk, dict):
            summary.setdefault("model", chunk.get("model"))
            if chunk.get("usage") is not None:
                summary["usage"] = chunk["usage"]
    return summary


def _replayed(chunk: Any) -> StreamChunk:
    data = orjson.dumps(chunk)
    if not isinstance(chunk, dict) or chunk.get("usage") is None:
        return StreamChunk(data)
    return StreamChunk(
        data, usage=Usage.from_openai(chunk["usage"]), usage_only=not chunk.get("choices")
    )
