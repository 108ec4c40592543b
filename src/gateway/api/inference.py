"""The inference routes: chat completions, completions and embeddings."""

from __future__ import annotations

import time

import orjson

from gateway.api.access import admit
from gateway.api.cache_layer import answer_from_cache, open_ticket
from gateway.api.departure import unless_client_leaves
from gateway.api.http import JSON_HEADERS, Headers, Incoming, read_body
from gateway.api.outcome import Exchange, accounting
from gateway.api.parse import (
    check_body,
    check_content_type,
    parse_json_object,
    pop_gateway_options,
    pop_request_tags,
    session_of,
    wants_usage,
)
from gateway.api.services import DataPlane
from gateway.api.sse import OpenAIFramer, relay_stream
from gateway.cache.assemble import RecordingStream, assemble
from gateway.providers.base import ChunkStream, Operation
from gateway.providers.translate import encode_embeddings_base64
from gateway.router.request import RouteRequest, RouteTrace


async def handle_inference(
    operation: Operation, plane: DataPlane, incoming: Incoming, *, path_model: str | None = None
) -> None:
    """One inference request; ``path_model`` is the model an Azure-style path names (the
    body's own ``model``, when it has one, is what Azure's SDK put there too)."""
    caller = await plane.auth.authenticate(incoming.headers)
    # From here on the request is accounted for in the ledger, whatever happens.
    async with accounting(plane, incoming, operation.value, caller) as exchange:
        await _serve(operation, plane, incoming, exchange, path_model)


async def _serve(
    operation: Operation,
    plane: DataPlane,
    incoming: Incoming,
    exchange: Exchange,
    path_model: str | None,
) -> None:
    headers = incoming.headers
    request_id = incoming.request_id
    arrived = incoming.arrived
    send = incoming.send
    check_content_type(headers)
    raw = await read_body(incoming.receive, plane.max_request_bytes, headers.content_length)
    body = parse_json_object(raw)
    if path_model is not None and body.get("model") is None:
        body["model"] = path_model
    model, stream = check_body(operation, body)
    exchange.note_body(model, stream, body.get("user"), body)
    session = session_of(headers, body, body.get("user")) if plane.router.affinity_enabled else None
    tags = pop_request_tags(body)
    fallbacks, disable_fallbacks, timeout = pop_gateway_options(body)
    exchange.admission = await admit(plane, exchange.caller, model, fallbacks)
    ticket = open_ticket(plane, operation, model, body, headers)
    if ticket is not None and await answer_from_cache(
        ticket, incoming, exchange, stream=stream, include_usage=wants_usage(body)
    ):
        return
    request = RouteRequest(
        operation=operation,
        model=model,
        body=body,
        stream=stream,
        request_id=request_id,
        deadline=arrived + (timeout or plane.request_timeout),
        timeout=timeout or plane.request_timeout,
        fallbacks=fallbacks,
        disable_fallbacks=disable_fallbacks,
        tags=tags,
        session=session,
        spans=exchange.spans,
    )
    exchange.trace = request.trace
    if stream:
        chunks, trace = await plane.router.open_stream(request)
        response_headers = routed_headers(request_id, trace, arrived)
        if ticket is not None:
            chunks = ticket.recording(chunks)
            response_headers.extend(ticket.miss_headers())
        if plane.tracing is not None and plane.tracing.capture_content:
            chunks = capture_stream(chunks, exchange, operation)
        await relay_stream(
            chunks,
            response_headers,
            OpenAIFramer(wants_usage(body)),
            incoming.receive,
            send,
            exchange=exchange,
        )
        return
    result, trace = await unless_client_leaves(plane.router.send(request), incoming.receive)
    if operation is Operation.EMBEDDING and body.get("encoding_format") == "base64":
        encode_embeddings_base64(result.body)
    payload = orjson.dumps(result.body)
    response_headers = routed_headers(request_id, trace, arrived)
    response_headers.extend(JSON_HEADERS)
    if ticket is not None:
        response_headers.extend(ticket.miss_headers())
        ticket.remember(payload)
    response_headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": response_headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
    exchange.usage = result.usage
    exchange.note_served(result.body.get("model"))
    exchange.note_answer(result.body)


def capture_stream(chunks: ChunkStream, exchange: Exchange, operation: Operation) -> ChunkStream:
    """The stream, put back together for the trace when it ends (message content capture
    only: it parses every chunk)."""
    traced = exchange.traced
    if traced is None or not traced.spans.sampled:
        return chunks

    def assembled(recorded: list[bytes]) -> None:
        traced.assembled = assemble(operation, [orjson.loads(chunk) for chunk in recorded])

    return RecordingStream(chunks, assembled)


def routed_headers(request_id: str, trace: RouteTrace, arrived: float) -> Headers:
    overhead_ms = max(0.0, (time.monotonic() - arrived - trace.upstream_seconds) * 1000.0)
    headers: Headers = [
        (b"x-request-id", request_id.encode()),
        (b"x-gateway-model-group", trace.model_group.encode()),
        (b"x-gateway-deployment", trace.deployment_id.encode()),
        (b"x-gateway-attempts", str(trace.attempts).encode()),
        (b"x-gateway-overhead-ms", f"{overhead_ms:.2f}".encode()),
    ]
    if trace.fallbacks:
        headers.append((b"x-gateway-fallbacks", ",".join(trace.fallbacks).encode()))
    if trace.hedge is not None:
        headers.append((b"x-gateway-hedge", trace.hedge.encode()))
    return headers
