"""OpenAI's Responses API: ``POST /v1/responses``, and the stored responses behind it.

Routed like chat (groups, aliases, key limits, retries, cooldowns, fallbacks,
one deadline, the ledger as ``call_type`` ``responses``); how each deployment
is asked is ``responses_turn``'s job. With ``store`` (the default) the answer
is kept before it is returned (for a stream: before its terminal event), so a
follow-up with ``previous_response_id`` can never race it. A stream that fails
after it began ends with ``response.failed``; one that fails before any event
(every deployment rate limited, say) is still a stream, ``response.created``
then ``response.failed``, as Responses clients expect; a request the caller got
wrong is an HTTP error as on every route.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.api.access import admit
from gateway.api.auth import Caller
from gateway.api.cache_layer import CacheTicket, open_ticket
from gateway.api.departure import unless_client_leaves
from gateway.api.formats.responses_output import new_id, skeleton
from gateway.api.formats.responses_request import check_request, input_items
from gateway.api.formats.responses_stream import TERMINAL_EVENTS
from gateway.api.http import JSON_HEADERS, Incoming, read_body, send_bytes
from gateway.api.inference import routed_headers
from gateway.api.outcome import Exchange, accounting
from gateway.api.parse import (
    check_content_type,
    parse_json_object,
    pop_request_tags,
    pop_routing_options,
    session_of,
)
from gateway.api.responses_cache import remember_response, serve_cached_response
from gateway.api.responses_turn import ResponsesTurn
from gateway.api.services import DataPlane
from gateway.api.sse import SSE_HEADERS, relay_stream
from gateway.errors import (
    CallerError,
    GatewayError,
    InvalidRequest,
    ResourceNotFound,
    StorageUnavailable,
    UpstreamBadRequest,
)
from gateway.ledger.responses_store import Owner, StoredResponse
from gateway.providers.base import ChunkStream, Operation, StreamChunk
from gateway.providers.translate import TranslationError
from gateway.router.request import RouteRequest, RouteTrace

log = logging.getLogger(__name__)

# The gateway's error label -> the Responses API's ``error.code``.
FAILURE_CODES = {
    "rate_limited": "rate_limit_exceeded",
    "upstream_rate_limited": "rate_limit_exceeded",
    "no_deployment_available": "rate_limit_exceeded",
    "budget_exceeded": "rate_limit_exceeded",
    "context_window_exceeded": "context_length_exceeded",
    "content_policy_violation": "invalid_prompt",
    "upstream_bad_request": "invalid_prompt",
}


async def handle_responses(plane: DataPlane, incoming: Incoming) -> None:
    caller = await plane.auth.authenticate(incoming.headers)
    async with accounting(plane, incoming, "responses", caller) as exchange:
        await _serve(plane, incoming, exchange, caller)


async def _serve(plane: DataPlane, incoming: Incoming, exchange: Exchange, caller: Caller) -> None:
    check_content_type(incoming.headers)
    raw = await read_body(
        incoming.receive, plane.max_request_bytes, incoming.headers.content_length
    )
    body = parse_json_object(raw)
    try:
        model, stream, store, previous = check_request(body)
    except TranslationError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None
    exchange.note_body(model, stream, body.get("user") or body.get("safety_identifier"), body)
    session = (
        session_of(incoming.headers, body, body.get("user") or body.get("safety_identifier"))
        if plane.router.affinity_enabled
        else None
    )
    tags = pop_request_tags(body)
    fallbacks, disable_fallbacks, timeout = pop_routing_options(body)
    exchange.admission = await admit(plane, caller, model, fallbacks)
    state = plane.responses
    if store and state.store is None:
        store = False
    prior = await _previous(plane, caller, previous)
    ticket = open_ticket(plane, Operation.RESPONSES, model, body, incoming.headers)
    items = input_items(body)
    turn = ResponsesTurn(state, body, items, prior)
    request = RouteRequest(
        operation=Operation.RESPONSES,
        model=model,
        body=body,
        stream=stream,
        request_id=incoming.request_id,
        deadline=incoming.arrived + (timeout or plane.request_timeout),
        timeout=timeout or plane.request_timeout,
        fallbacks=fallbacks,
        disable_fallbacks=disable_fallbacks,
        prefer=prior.deployment_id if prior is not None else None,
        tags=tags,
        session=session,
        spans=exchange.spans,
    )
    exchange.trace = request.trace
    keeper = _Keeper(plane, caller, turn, items, request.trace) if store else None
    if ticket is not None and await serve_cached_response(
        ticket,
        incoming,
        exchange,
        stream=stream,
        framer=lambda response_id: ResponsesFramer(body, response_id),
        keep=keeper.keep if keeper is not None else None,
    ):
        return
    if stream:
        await _stream(
            plane,
            incoming=incoming,
            exchange=exchange,
            request=request,
            turn=turn,
            keeper=keeper,
            ticket=ticket,
        )
        return
    result, trace = await unless_client_leaves(
        plane.router.send(request, via=turn.send), incoming.receive
    )
    response = result.body
    if keeper is not None:
        await keeper.keep(response)
    payload = orjson.dumps(response)
    headers = routed_headers(incoming.request_id, trace, incoming.arrived)
    if ticket is not None:
        headers.extend(ticket.miss_headers())
        remember_response(ticket, response)
    await send_bytes(incoming.send, 200, payload, [*headers, *JSON_HEADERS])
    exchange.usage = result.usage
    exchange.note_served(response.get("model"))
    exchange.note_answer(response)


async def _previous(
    plane: DataPlane, caller: Caller, previous: str | None
) -> StoredResponse | None:
    if previous is None:
        return None
    store = plane.responses.store
    prior = (
        await store.get(previous, caller.key_hash, caller.team_id) if store is not None else None
    )
    if prior is None:
        raise ResourceNotFound(
            f"Previous response with id '{previous}' not found.", param="previous_response_id"
        )
    return prior


async def _stream(
    plane: DataPlane,
    *,
    incoming: Incoming,
    exchange: Exchange,
    request: RouteRequest,
    turn: ResponsesTurn,
    keeper: _Keeper | None,
    ticket: CacheTicket | None,
) -> None:
    framer = ResponsesFramer(request.body, turn.response_id)
    try:
        events, trace = await plane.router.open_stream(request, via=turn.open_stream)
    except (CallerError, UpstreamBadRequest):
        raise  # the request itself is wrong: an HTTP error, as OpenAI answers it
    except GatewayError as exc:
        # Nothing was streamed yet, but a Responses client reads failures from the stream.
        headers = routed_headers(incoming.request_id, request.trace, incoming.arrived)
        await incoming.send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]}
        )
        body = framer.opening_of_failure() + framer.failure(exc)
        await incoming.send({"type": "http.response.body", "body": body, "more_body": False})
        exchange.fail(exc.http_status(), exc.label)
        return
    headers = routed_headers(incoming.request_id, trace, incoming.arrived)
    if ticket is not None:
        headers.extend(ticket.miss_headers())
    await relay_stream(
        _KeptStream(events, keeper, exchange, ticket),
        headers,
        framer,
        incoming.receive,
        incoming.send,
        exchange=exchange,
    )


class _Keeper:
    """Stores one response with what the next turn needs, before the caller sees it end."""

    def __init__(
        self,
        plane: DataPlane,
        caller: Caller,
        turn: ResponsesTurn,
        items: list[dict[str, Any]],
        trace: RouteTrace,
    ) -> None:
        self._plane = plane
        self._caller = caller
        self._turn = turn
        self._items = items
        self._trace = trace

    async def keep(self, response: dict[str, Any], trace: RouteTrace | None = None) -> None:
        """Store ``response``; ``trace`` says who served it (else the routed request's)."""
        trace = trace or self._trace
        store = self._plane.responses.store
        response_id = response.get("id")
        if store is None or not isinstance(response_id, str):
            return
        output = [item for item in response.get("output") or [] if isinstance(item, dict)]
        stored = StoredResponse(
            response_id=response_id,
            owner=Owner(self._caller.key_hash, self._caller.team_id),
            deployment_id=trace.deployment_id or None,
            model_group=trace.model_group,
            response=response,
            input_items=_with_ids(self._items),
            context=[*self._turn.history, *self._items, *output],
        )
        try:
            await store.put(stored)
        except StorageUnavailable as exc:
            # The answer is good; only the follow-up would fail. Say so loudly, keep serving.
            log.error("could not store response %s: %s", response_id, exc.message)


class _KeptStream:
    """The stream as it is; its terminal Response is stored before that event goes out."""

    def __init__(
        self,
        events: ChunkStream,
        keeper: _Keeper | None,
        exchange: Exchange,
        ticket: CacheTicket | None,
    ) -> None:
        self._events = events
        self._keeper = keeper
        self._exchange = exchange
        self._ticket = ticket

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        async for chunk in self._events:
            if chunk.event in TERMINAL_EVENTS:
                await self._at_end(chunk)
            yield chunk

    async def _at_end(self, chunk: StreamChunk) -> None:
        parsed = orjson.loads(chunk.data)
        response = parsed.get("response") if isinstance(parsed, dict) else None
        if not isinstance(response, dict):
            return
        served = response.get("model")
        if isinstance(served, str) and served:
            self._exchange.served_model = served
        if self._keeper is not None and chunk.event != b"response.failed":
            await self._keeper.keep(response)
        remember_response(self._ticket, response)

    async def aclose(self) -> None:
        await self._events.aclose()


def _with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as ``input_items`` lists them: each with an id."""
    listed = []
    for item in items:
        if "id" in item:
            listed.append(item)
            continue
        prefix = "msg" if item.get("type", "message") == "message" else "item"
        listed.append({"id": new_id(prefix), **item})
    return listed


class ResponsesFramer:
    """Responses events as ``event:`` + ``data:`` pairs; a failure ends with ``response.failed``."""

    __slots__ = ("_request", "_response", "_response_id", "_sequence")

    def __init__(self, request: dict[str, Any], response_id: str) -> None:
        self._request = request
        self._response_id = response_id
        self._sequence = 0
        self._response: dict[str, Any] | None = None

    def opening(self) -> bytes:
        return b""

    def frame(self, chunk: StreamChunk) -> bytes:
        if self._response is None and chunk.event == b"response.created":
            created = orjson.loads(chunk.data).get("response")
            if isinstance(created, dict):
                self._response = created
        self._sequence += 1
        return b"event: " + chunk.event + b"\ndata: " + chunk.data + b"\n\n"

    def closing(self) -> bytes:
        return b""

    def opening_of_failure(self) -> bytes:
        """``response.created``, for a stream that fails before anything came."""
        response = skeleton(self._request, self._response_id, str(self._request.get("model")))
        self._response = response
        return self._event("response.created", {"response": dict(response)})

    def failure(self, error: GatewayError) -> bytes:
        response = self._response or skeleton(
            self._request, self._response_id, str(self._request.get("model"))
        )
        failed = {
            **response,
            "status": "failed",
            "error": {
                "code": FAILURE_CODES.get(error.label, "server_error"),
                "message": error.message,
            },
        }
        return self._event("response.failed", {"response": failed})

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload["type"] = kind
        payload["sequence_number"] = self._sequence
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
