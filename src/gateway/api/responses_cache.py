"""The response cache on ``/v1/responses``: a completed Response, served again.

A hit is the stored Response under a new id and creation time (so two callers
never share one stored response), kept in the gateway's store when the request
has ``store`` (a follow-up's ``previous_response_id`` then works on any
deployment: the conversation is rebuilt from the store), and sent whole or as
the event stream that would have produced it. Only ``completed`` responses are
remembered: an incomplete or failed one is never served again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.api.cache_layer import CacheTicket
from gateway.api.formats.responses_output import new_id, usage_of
from gateway.api.formats.responses_replay import replay_response
from gateway.api.http import JSON_HEADERS, Incoming, send_bytes
from gateway.api.outcome import Exchange
from gateway.api.sse import Framer, relay_stream
from gateway.cache.replay import ReplayStream
from gateway.router.request import RouteTrace

Keep = Callable[[dict[str, Any], RouteTrace], Awaitable[None]]


def remember_response(ticket: CacheTicket | None, response: dict[str, Any]) -> None:
    if ticket is not None and response.get("status") == "completed":
        ticket.remember(orjson.dumps(response))


async def serve_cached_response(
    ticket: CacheTicket,
    incoming: Incoming,
    exchange: Exchange,
    *,
    stream: bool,
    framer: Callable[[str], Framer],
    keep: Keep | None,
) -> bool:
    """Answer from the cache; False on a miss (or an entry that is not a Response)."""
    hit = await ticket.cache.lookup(ticket.key, ticket.controls)
    if hit is None:
        return False
    try:
        stored = orjson.loads(hit.body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(stored, dict) or stored.get("object") != "response":
        return False
    response = {**stored, "id": new_id("resp"), "created_at": int(time.time())}
    trace = RouteTrace(model_group=ticket.group)
    exchange.cache_hit = True
    exchange.trace = trace
    exchange.usage = usage_of(response)
    exchange.note_served(response.get("model"))
    exchange.note_answer(response)
    if keep is not None:
        await keep(response, trace)
    headers = ticket.hit_headers(incoming.request_id, hit)
    if not stream:
        await send_bytes(incoming.send, 200, orjson.dumps(response), [*JSON_HEADERS, *headers])
        return True
    await relay_stream(
        ReplayStream(replay_response(response)),
        headers,
        framer(response["id"]),
        incoming.receive,
        incoming.send,
        exchange=exchange,
    )
    return True
