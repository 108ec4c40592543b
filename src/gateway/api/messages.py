"""Anthropic's Messages API as a front door: ``POST /v1/messages`` and ``/count_tokens``.

A Messages request is routed by the same router as chat (retries, cooldowns,
fallbacks, limits and the ledger included). An Anthropic deployment gets it as
it is and its answer is relayed as it came; any other gets the OpenAI chat
translation, and its answer is translated back: a Message, or the Messages
stream's event sequence (``messages_turn`` decides per deployment). Errors
leave in Anthropic's shape, ``{"type": "error", "error": {...}}``, so Anthropic
SDKs and tools (Claude Code) read them as their own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from gateway.api.access import admit
from gateway.api.auth import Caller
from gateway.api.departure import unless_client_leaves
from gateway.api.errors import error_headers, error_status
from gateway.api.formats.anthropic import (
    EventTranslator,
    error_json,
    error_type,
    event,
    message_response,
)
from gateway.api.http import JSON_HEADERS, Headers, Incoming, RequestHeaders, Send, read_body
from gateway.api.inference import routed_headers
from gateway.api.messages_turn import MessagesTurn, serves_messages
from gateway.api.outcome import Exchange, accounting
from gateway.api.parse import check_content_type, parse_json_object, session_of
from gateway.api.services import DataPlane
from gateway.api.sse import relay_stream
from gateway.errors import GatewayError, InvalidRequest, UpstreamBadRequest, UpstreamError
from gateway.providers.anthropic_native import BETA_HEADER, VERSION_HEADER
from gateway.providers.base import CountsTokens, Operation, StreamChunk
from gateway.router.cooldown import Health
from gateway.router.precall import BYTES_PER_TOKEN, estimate_prompt_tokens
from gateway.router.request import RouteRequest, RouteTrace

log = logging.getLogger(__name__)

TOKEN_COUNT_HEADER = b"x-gateway-token-count"
COUNT_TIMEOUT_S = 30.0


async def handle_messages(plane: DataPlane, incoming: Incoming) -> None:
    """Anthropic's Messages API; errors (raised) are sent in Anthropic's shape by the entry."""
    caller = await plane.auth.authenticate(incoming.headers)
    # From here on the request is in the ledger, whatever happens (as on /v1/chat).
    async with accounting(plane, incoming, "messages", caller) as exchange:
        await _serve(plane, incoming, exchange, caller)


async def _serve(plane: DataPlane, incoming: Incoming, exchange: Exchange, caller: Caller) -> None:
    request_id = incoming.request_id
    body = await _read(plane, incoming)
    model, stream = _check(body)
    exchange.note_body(model, stream, _end_user(body), body)
    exchange.admission = await admit(plane, caller, model)
    session = (
        session_of(incoming.headers, body, _end_user(body))
        if plane.router.affinity_enabled
        else None
    )
    turn = MessagesTurn(body, _forwarded(incoming.headers))
    if not _any_native(plane, model):
        turn.chat()  # no deployment takes it as it is: refused now if it has no translation
    timeout = plane.request_timeout
    route = RouteRequest(
        operation=Operation.MESSAGES,
        model=model,
        body=body,
        stream=stream,
        request_id=request_id,
        deadline=incoming.arrived + timeout,
        timeout=timeout,
        session=session,
        spans=exchange.spans,
    )
    exchange.trace = route.trace
    if stream:
        chunks, trace = await plane.router.open_stream(route, via=turn.open_stream)
        await relay_stream(
            chunks,
            _headers(request_id, trace, incoming.arrived),
            MessagesFramer(model, body),
            incoming.receive,
            incoming.send,
            exchange=exchange,
        )
        return
    result, trace = await unless_client_leaves(
        plane.router.send(route, via=turn.send), incoming.receive
    )
    if result.raw is not None:  # passed through: Anthropic's answer as it came
        payload = result.raw
    else:
        payload = orjson.dumps(message_response(result.body, model))
    await _send_json(incoming.send, 200, payload, _headers(request_id, trace, incoming.arrived))
    exchange.usage = result.usage
    exchange.note_served(result.body.get("model"))
    exchange.note_answer(result.body)


def _check(body: dict[str, Any]) -> tuple[str, bool]:
    """What the gateway reads of a Messages request: (model, stream). The rest is the
    upstream's to check (passed through) or the translation's."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: a non-empty string is required", param="model")
    if not isinstance(body.get("messages"), list):
        raise InvalidRequest("messages: an array is required", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream: must be a boolean", param="stream")
    return model, stream


def _any_native(plane: DataPlane, model: str) -> bool:
    return any(serves_messages(d) for d in plane.router.groups.resolve(model).deployments)


def _forwarded(headers: RequestHeaders) -> dict[str, str] | None:
    """The caller's Anthropic headers, for a request passed through."""
    forwarded = {}
    if headers.anthropic_version:
        forwarded[VERSION_HEADER] = headers.anthropic_version.decode("latin-1")
    if headers.anthropic_beta:
        forwarded[BETA_HEADER] = headers.anthropic_beta.decode("latin-1")
    return forwarded or None


def _headers(request_id: str, trace: RouteTrace, arrived: float) -> Headers:
    """The routed headers, and the request id as ``request-id`` (Anthropic's SDKs read it)."""
    headers = routed_headers(request_id, trace, arrived)
    headers.append((b"request-id", request_id.encode()))
    return headers


def _end_user(body: dict[str, Any]) -> object:
    """Anthropic's ``metadata.user_id``: the end user, as the body's ``user`` is on /v1/chat."""
    metadata = body.get("metadata")
    return metadata.get("user_id") if isinstance(metadata, dict) else None


async def handle_count_tokens(plane: DataPlane, incoming: Incoming) -> None:
    """Exact from Anthropic's own count_tokens when the group has a healthy Anthropic
    deployment; else an estimate (serialized size / 4: no tokenizer runs in the gateway).
    ``x-gateway-token-count`` says which: ``exact`` or ``estimate``."""
    await plane.auth.authenticate(incoming.headers)
    body = await _read(plane, incoming)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: a non-empty string is required", param="model")
    group = plane.router.groups.resolve(model)
    if not isinstance(body.get("messages"), list):
        raise InvalidRequest("messages: an array is required", param="messages")
    ids = [
        (b"x-request-id", incoming.request_id.encode()),
        (b"request-id", incoming.request_id.encode()),
    ]
    now = time.time()
    for deployment in group.deployments:
        provider = deployment.provider
        if not serves_messages(deployment) or not isinstance(provider, CountsTokens):
            continue
        if plane.router.cooldowns.health(deployment.id, now)[0] is not Health.OK:
            continue
        try:
            raw = await provider.count_tokens(
                body, _forwarded(incoming.headers), min(plane.request_timeout, COUNT_TIMEOUT_S)
            )
        except UpstreamBadRequest:
            raise  # the request itself is wrong: Anthropic's answer is the caller's
        except UpstreamError as error:
            log.info(
                "count_tokens upstream failed; estimating",
                extra={"deployment": deployment.id, "error_type": error.label},
            )
            continue
        await _send_json(incoming.send, 200, raw, [*ids, (TOKEN_COUNT_HEADER, b"exact")])
        return
    counted = orjson.dumps([body.get("system"), body["messages"], body.get("tools")])
    payload = orjson.dumps({"input_tokens": max(1, len(counted) // BYTES_PER_TOKEN)})
    await _send_json(incoming.send, 200, payload, [*ids, (TOKEN_COUNT_HEADER, b"estimate")])


async def _read(plane: DataPlane, incoming: Incoming) -> dict[str, Any]:
    check_content_type(incoming.headers)
    raw = await read_body(
        incoming.receive, plane.max_request_bytes, incoming.headers.content_length
    )
    return parse_json_object(raw)


async def send_error(send: Send, error: GatewayError, request_id: str) -> None:
    status = error_status(error)
    headers = [
        (b"x-request-id", request_id.encode()),
        (b"request-id", request_id.encode()),
        *error_headers(error),
    ]
    await _send_json(send, status, error_json(status, error.message), headers)


async def _send_json(send: Send, status: int, payload: bytes, headers: Headers) -> None:
    headers = [*headers, *JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class MessagesFramer:
    """The Messages stream: a passed-through stream's events as they came (each chunk
    carries its ``event``), or OpenAI chunks translated into the Messages events."""

    __slots__ = ("_body", "_model", "_translator")

    def __init__(self, model: str, body: dict[str, Any]) -> None:
        self._model = model
        self._body = body
        self._translator: EventTranslator | None = None

    def opening(self) -> bytes:
        return b""

    def frame(self, chunk: StreamChunk) -> bytes:
        if chunk.event:
            return b"event: " + chunk.event + b"\ndata: " + chunk.data + b"\n\n"
        translator = self._translator
        if translator is None:
            estimate = estimate_prompt_tokens(self._body)
            translator = self._translator = EventTranslator(self._model, estimate)
            return translator.start() + b"".join(translator.feed(orjson.loads(chunk.data)))
        return b"".join(translator.feed(orjson.loads(chunk.data)))

    def closing(self) -> bytes:
        if self._translator is None:
            return b""  # passed through: message_stop was the last event relayed
        return b"".join(self._translator.finish())

    def failure(self, error: GatewayError) -> bytes:
        return _error_event(error)


def _error_event(error: GatewayError) -> bytes:
    status = error_status(error)
    return event(
        "error",
        {"type": "error", "error": {"type": error_type(status), "message": error.message}},
    )
