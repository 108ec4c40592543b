"""Relay an upstream stream to the caller as server-sent events, chunk by chunk.

Each chunk is written as soon as it arrives (no buffering), in the caller's wire
format: a ``Framer`` says how (OpenAI's chat chunks, Anthropic's Messages
events, the Responses API's events); the relay is the same for all. A client that goes
away cancels the relay, which closes the upstream connection. An upstream that
fails mid-stream ends the stream with the format's error event, never with
a made-up ``finish_reason``. What the ledger needs (usage, the first chunk and
when it went out, how the stream ended) is noted on the request's ``Exchange``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import orjson

from gateway.api.errors import error_body
from gateway.api.http import Headers, Receive, Send
from gateway.api.outcome import CLIENT_GONE, CLIENT_GONE_STATUS, Exchange
from gateway.errors import GatewayError, InternalError
from gateway.providers.base import ChunkStream, StreamChunk

log = logging.getLogger(__name__)

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


class Framer(Protocol):
    """How one wire format writes a stream: what opens it, each chunk, what ends it."""

    def opening(self) -> bytes:
        """Written before the first chunk (empty when the format has no preamble)."""

    def frame(self, chunk: StreamChunk) -> bytes:
        """One chunk as the caller sees it; empty to send nothing for it."""

    def closing(self) -> bytes:
        """Written after the last chunk of a stream that finished."""

    def failure(self, error: GatewayError) -> bytes:
        """The last thing written when the stream fails after it started."""


class OpenAIFramer:
    """Chat and completion chunks as ``data:`` events, ending with ``[DONE]``."""

    __slots__ = ("_include_usage",)

    def __init__(self, include_usage: bool) -> None:
        self._include_usage = include_usage

    def opening(self) -> bytes:
        return b""

    def frame(self, chunk: StreamChunk) -> bytes:
        data = _for_caller(chunk, self._include_usage)
        return b"" if data is None else b"data: " + data + b"\n\n"

    def closing(self) -> bytes:
        return DONE

    def failure(self, error: GatewayError) -> bytes:
        return b"data: " + error_body(error) + b"\n\n"


async def relay_stream(
    stream: ChunkStream,
    headers: Headers,
    framer: Framer,
    receive: Receive,
    send: Send,
    *,
    exchange: Exchange,
) -> None:
    state = _RelayState(asyncio.current_task())
    watcher = asyncio.create_task(_watch_disconnect(receive, state))
    # Frames of chunks marked ``follows``, sent with the next one (or with the ending).
    held: list[bytes] = []
    # The last two chunks, for the trace (finish reasons); kept as references only.
    before_last = last = None
    try:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]}
        )
        opening = framer.opening()
        if opening:
            await send({"type": "http.response.body", "body": opening, "more_body": True})
        async for chunk in stream:
            before_last, last = last, chunk.data
            if chunk.usage is not None:
                exchange.usage = chunk.usage
            data = framer.frame(chunk)
            if chunk.follows:
                held.append(data)
                continue
            if held:
                held.append(data)
                data = b"".join(held)
                held.clear()
            if data:
                await send({"type": "http.response.body", "body": data, "more_body": True})
                if exchange.first_sent_at is None:
                    exchange.first_sent_at = time.monotonic()
                    exchange.first_chunk = chunk.data
        state.finished = True
        ending = b"".join(held) + framer.closing()
        await send({"type": "http.response.body", "body": ending, "more_body": False})
    except asyncio.CancelledError:
        if not state.disconnected:
            raise
        # The client left: closing the upstream (below) is all that remains.
        exchange.fail(CLIENT_GONE_STATUS, CLIENT_GONE)
    except GatewayError as exc:
        state.finished = True
        exchange.fail(exc.http_status(), exc.label)
        await _end_with(send, b"".join(held) + framer.failure(exc))
    except Exception:
        state.finished = True
        log.exception("stream relay failed")
        error = InternalError("The gateway failed while streaming.")
        exchange.fail(error.http_status(), error.label)
        await _end_with(send, b"".join(held) + framer.failure(error))
    finally:
        watcher.cancel()
        if exchange.traced is not None:
            exchange.traced.tail = (before_last, last)
        await stream.aclose()


def _for_caller(chunk: StreamChunk, include_usage: bool) -> bytes | None:
    """The chunk as the caller should see it: usage only when they asked for it."""
    if chunk.usage is None or include_usage:
        return chunk.data
    if chunk.usage_only:
        return None
    parsed: dict[str, Any] = orjson.loads(chunk.data)
    parsed.pop("usage", None)
    return orjson.dumps(parsed)


async def _end_with(send: Send, frames: bytes) -> None:
    await send({"type": "http.response.body", "body": frames, "more_body": False})


class _RelayState:
    __slots__ = ("disconnected", "finished", "relay")

    def __init__(self, relay: asyncio.Task[Any] | None) -> None:
        self.relay = relay
        self.disconnected = False
        self.finished = False


async def _watch_disconnect(receive: Receive, state: _RelayState) -> None:
    """Cancel the relay when the client goes away before the stream is done."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not state.finished and state.relay is not None:
                state.disconnected = True
                state.relay.cancel()
            return
