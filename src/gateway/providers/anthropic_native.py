"""Anthropic's Messages API passed through: the caller's request and Anthropic's answer as they are.

A ``/v1/messages`` request routed to an Anthropic deployment is not translated:
the body goes as the caller sent it (the deployment's model put in), with the
caller's ``anthropic-version`` and ``anthropic-beta`` headers, and the answer
comes back as Anthropic sent it. Thinking and redacted-thinking blocks with
their signatures, server tool blocks, citations, ``cache_control`` and every
usage field therefore survive, which coding agents depend on (a thinking block
sent back with a changed signature is refused by Anthropic). Only what the
gateway itself needs is read: usage, from ``message_start`` and
``message_delta``; everything else is relayed byte for byte.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

import orjson

from gateway.errors import UpstreamError
from gateway.providers.anthropic_cache_points import CachePoint, with_breakpoints
from gateway.providers.anthropic_host import AnthropicHost
from gateway.providers.anthropic_response import usage_of
from gateway.providers.base import StreamChunk, UpstreamCall
from gateway.providers.sse import ByteStream, sse_event_batches
from gateway.providers.upstream import json_object

VERSION_HEADER = "anthropic-version"
BETA_HEADER = "anthropic-beta"
# Which of the caller's headers a passed-through request carries.
FORWARDED_HEADERS = (VERSION_HEADER, BETA_HEADER)

_MESSAGE_START = b"message_start"
_MESSAGE_DELTA = b"message_delta"
_MESSAGE_STOP = b"message_stop"
_ERROR = b"error"


def native_payload(
    call: UpstreamCall,
    model: str,
    cache_points: Sequence[CachePoint],
    host: AnthropicHost,
    *,
    stream: bool,
) -> bytes:
    body = with_breakpoints(dict(call.body), cache_points)
    body["model"] = model
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return orjson.dumps(host.body(body))


def native_headers(
    deployment_headers: Mapping[str, str],
    caller: Mapping[str, str] | None,
    allowed_betas: frozenset[str] | None,
) -> dict[str, str]:
    """The deployment's headers, with the caller's ``anthropic-version`` and its betas
    added to the deployment's own (only those in ``allowed_betas``, when it is set)."""
    headers = dict(deployment_headers)
    if not caller:
        return headers
    version = caller.get(VERSION_HEADER)
    if version:
        headers[VERSION_HEADER] = version
    betas = [b.strip() for b in caller.get(BETA_HEADER, "").split(",") if b.strip()]
    if allowed_betas is not None:
        betas = [beta for beta in betas if beta in allowed_betas]
    if betas:
        own = [b.strip() for b in headers.get(BETA_HEADER, "").split(",") if b.strip()]
        headers[BETA_HEADER] = ",".join(dict.fromkeys([*own, *betas]))
    return headers


async def native_events(
    body: ByteStream,
    stream_error: Callable[[bytes], UpstreamError],
    interrupted: Callable[[str], UpstreamError],
) -> AsyncGenerator[StreamChunk, None]:
    """The Messages stream's events as they came (``event`` and ``data`` kept), with
    the usage known so far on ``message_start`` and ``message_delta``."""
    usage: dict[str, Any] = {}
    async for events in sse_event_batches(body):
        last = events[-1]
        for event in events:
            kind = event.event or _type_of(event.data)
            if kind == _ERROR:
                raise stream_error(event.data)
            chunk = StreamChunk(data=event.data, event=kind, follows=event is not last)
            if kind == _MESSAGE_START:
                parsed = json_object(event.data) or {}
                message = parsed.get("message")
                if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                    usage.update(message["usage"])
                chunk.usage = usage_of(usage)
            elif kind == _MESSAGE_DELTA:
                parsed = json_object(event.data) or {}
                delta_usage = parsed.get("usage")
                if isinstance(delta_usage, dict):
                    usage.update({k: v for k, v in delta_usage.items() if v is not None})
                chunk.usage = usage_of(usage)
            elif kind == _MESSAGE_STOP:
                chunk.follows = False
                yield chunk
                return
            yield chunk
    raise interrupted("the stream ended before message_stop")


def _type_of(data: bytes) -> bytes:
    parsed = json_object(data)
    kind = parsed.get("type") if parsed is not None else None
    return kind.encode() if isinstance(kind, str) else b""
