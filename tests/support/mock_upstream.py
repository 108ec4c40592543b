"""A mock OpenAI upstream: a real aiohttp server on 127.0.0.1 speaking OpenAI's wire format.

It is a ``MockServer`` (a server thread that records every request and
answers from a script); this module holds OpenAI's wire format.

Behaviour is scripted per call. ``script()`` queues replies for the next calls,
in order; when the queue is empty, ``default`` answers::

    upstream.script(Fail(429, "Rate limit reached", retry_after=2), Reply(content="ok"))

A ``Reply`` answers like OpenAI (whole, or as a server-sent-event stream when
the request has ``stream: true``); its stream can end normally, drop the TCP
connection, send an error event, or stall. A ``Fail`` answers with an error
status and OpenAI's error body. A ``Raw`` sends exactly the bytes it is given.
``delay`` on any of them makes the upstream hang that long before answering.

Every request is recorded (path, headers, parsed JSON body). When a caller
(the gateway) closes a connection before the mock finished answering,
``client_gone`` is set, and ``stream_client_gone`` too if it was a stream.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import itertools
import json
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from support.mock_server import MAX_WAIT_S, MockServer, split, write_sse

DEFAULT_CONTENT = "Hello from the mock upstream."
EMBEDDING_DIMENSIONS = 8
POLL_S = 0.01


class Ending(enum.Enum):
    """How a streamed reply ends."""

    DONE = "done"  # finish chunk, usage chunk when asked for, then ``data: [DONE]``
    DROP = "drop"  # the TCP connection closes mid-body: no finish chunk, no [DONE]
    ERROR_EVENT = "error_event"  # an OpenAI error event, then the body ends
    STALL = "stall"  # no more bytes; the connection stays open until the client leaves


@dataclass(frozen=True)
class Reply:
    """A successful answer, whole or streamed (the request's ``stream`` decides)."""

    content: str = DEFAULT_CONTENT
    prompt_tokens: int = 11
    completion_tokens: int = 7
    # Of the prompt tokens: read from the prompt cache, and written to it (the field an
    # OpenAI-compatible upstream such as OpenRouter reports writes in; OpenAI sends none).
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    service_tier: str = "default"
    # Seconds to wait before answering at all (an upstream that hangs).
    delay: float = 0.0
    # Streaming: content chunks, and the pause between them.
    chunks: int = 3
    chunk_delay: float = 0.0
    # Streaming: the last content chunk is held until this event is set (bounded by
    # ``MAX_WAIT_S``; on expiry the mock drops the connection and counts a hold timeout).
    hold_last_chunk: threading.Event | None = None
    # Streaming: how the stream ends, and after how many content chunks when it does
    # not end normally (``DROP``, ``ERROR_EVENT``, ``STALL``).
    ending: Ending = Ending.DONE
    ending_after: int = 1
    error_message: str = "The server had an error while processing your request."
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """An error answer in OpenAI's shape: ``{"error": {message, type, param, code}}``."""

    status: int
    message: str = "The mock upstream failed this request."
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class Raw:
    """Exactly these bytes, whatever was asked: for upstreams that break the wire format."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


Behaviour = Reply | Fail | Raw


def embedding_for(item: Any, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The mock's deterministic vector for one input (exact in float32, so base64 round-trips)."""
    digest = hashlib.sha256(json.dumps(item).encode()).digest()
    return [(digest[i % len(digest)] - 128) / 128.0 for i in range(dimensions)]


class MockUpstream(MockServer):
    """The mock server of OpenAI's API. Use as a context manager, or ``start()`` / ``stop()``."""

    name = "mock-upstream"

    def __init__(self) -> None:
        super().__init__()
        self._hold_timeouts = 0
        self._stall_timeouts = 0
        self._ids = itertools.count(1)
        self.client_gone = threading.Event()
        self.stream_client_gone = threading.Event()
        self._gone_count = 0

    @property
    def gone_count(self) -> int:
        """Requests whose client closed the connection before the answer was sent."""
        with self._lock:
            return self._gone_count

    def default_behaviour(self) -> Behaviour:
        return Reply()

    @property
    def base_url(self) -> str:
        """What a deployment's ``api_base`` should be: ``http://127.0.0.1:PORT/v1``."""
        return self.origin + "/v1"

    def reset(self) -> None:
        """Forget requests, script and events; the default goes back to ``Reply()``."""
        super().reset()
        with self._lock:
            self._hold_timeouts = 0
            self._stall_timeouts = 0
            self._gone_count = 0
            self.client_gone.clear()
            self.stream_client_gone.clear()

    @property
    def hold_timeouts(self) -> int:
        """Held streams whose event was never set (each one dropped its connection)."""
        with self._lock:
            return self._hold_timeouts

    @property
    def stall_timeouts(self) -> int:
        """Stalled streams the client never gave up on (each one dropped after ``MAX_WAIT_S``)."""
        with self._lock:
            return self._stall_timeouts

    # --- the server --------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "chat")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "completion")

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "embedding")

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        return web.json_response(
            Fail(404, f"Invalid URL ({request.method} {request.path})").body(), status=404
        )

    async def _answer(self, request: web.Request, kind: str) -> web.StreamResponse:
        recorded, behaviour = await self.record(request)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        streaming = kind != "embedding" and body.get("stream") is True
        try:
            if behaviour.delay and not await self._wait(request, behaviour.delay, streaming):
                return web.Response(status=499)
            if isinstance(behaviour, Fail):
                return self._fail(behaviour)
            if isinstance(behaviour, Raw):
                return web.Response(
                    body=behaviour.body,
                    status=behaviour.status,
                    content_type=behaviour.content_type,
                    headers=dict(behaviour.headers),
                )
            if kind == "embedding":
                return web.json_response(
                    _embedding_body(body), headers=_openai_headers(behaviour.headers)
                )
            if streaming:
                return await self._stream(request, body, behaviour, kind)
            return web.json_response(
                _whole_body(body, behaviour, kind, next(self._ids)),
                headers=_openai_headers(behaviour.headers),
            )
        except asyncio.CancelledError:
            # aiohttp cancels the handler when the peer closes the connection.
            if not self._stopping.is_set():
                self._gone(streaming)
            raise

    def _fail(self, fail: Fail) -> web.Response:
        headers = _openai_headers(fail.headers)
        if fail.retry_after is not None:
            headers["retry-after"] = f"{fail.retry_after:g}"
        return web.json_response(fail.body(), status=fail.status, headers=headers)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: Reply, kind: str
    ) -> web.StreamResponse:
        chunks = StreamChunks(body, reply, kind, next(self._ids))
        response = web.StreamResponse(
            status=200,
            headers={
                **_openai_headers(reply.headers),
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            },
        )
        await response.prepare(request)
        pieces = chunks.pieces()
        try:
            await write_sse(response, chunks.opening())
            if reply.ending is not Ending.DONE:
                for piece in pieces[: reply.ending_after]:
                    await self._pause(request, reply.chunk_delay)
                    await write_sse(response, chunks.content(piece))
                return await self._end_abnormally(request, response, reply)
            for index, piece in enumerate(pieces):
                await self._pause(request, reply.chunk_delay)
                if index == len(pieces) - 1 and reply.hold_last_chunk is not None:
                    hold = reply.hold_last_chunk
                    if not await self._wait(request, MAX_WAIT_S, True, until=hold):
                        if not self._gone_now(request, True) and not self._stopping.is_set():
                            with self._lock:
                                self._hold_timeouts += 1
                            await _close_transport(request)
                        return response
                await write_sse(response, chunks.content(piece))
            for final in chunks.closing():
                await write_sse(response, final)
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            # Writing to a connection the peer closed.
            if not self._stopping.is_set():
                self._gone(True)
        return response

    async def _end_abnormally(
        self, request: web.Request, response: web.StreamResponse, reply: Reply
    ) -> web.StreamResponse:
        if reply.ending is Ending.DROP:
            await _close_transport(request)
        elif reply.ending is Ending.ERROR_EVENT:
            error = Fail(500, reply.error_message, type="server_error").body()
            await write_sse(response, error)
            await response.write_eof()
        elif await self._wait(request, MAX_WAIT_S, True) and not self._stopping.is_set():
            # STALL: the client never gave up. Count it, and drop the connection.
            with self._lock:
                self._stall_timeouts += 1
            await _close_transport(request)
        return response

    async def _pause(self, request: web.Request, seconds: float) -> None:
        if seconds and not await self._wait(request, seconds, True):
            raise ConnectionResetError("the client left during a pause")

    async def _wait(
        self,
        request: web.Request,
        seconds: float,
        streaming: bool,
        until: threading.Event | None = None,
    ) -> bool:
        """Wait ``seconds`` (or until ``until`` is set); False when the client left first.

        With ``until``, also False when the wait ran out before the event was set.
        """
        deadline = time.monotonic() + min(seconds, MAX_WAIT_S)
        while True:
            if until is not None and until.is_set():
                return True
            if self._gone_now(request, streaming):
                return False
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                return until is None
            await asyncio.sleep(min(POLL_S, left))

    def _gone_now(self, request: web.Request, streaming: bool) -> bool:
        transport = request.transport
        if transport is None or transport.is_closing():
            if not self._stopping.is_set():
                self._gone(streaming)
            return True
        return False

    def _gone(self, streaming: bool) -> None:
        with self._lock:
            self._gone_count += 1
        self.client_gone.set()
        if streaming:
            self.stream_client_gone.set()


class StreamChunks:
    """The chunk sequence of one streamed answer, exactly as OpenAI sends it."""

    def __init__(self, body: dict[str, Any], reply: Reply, kind: str, serial: int) -> None:
        options = body.get("stream_options")
        self._usage = isinstance(options, dict) and options.get("include_usage") is True
        self._reply = reply
        self._chat = kind == "chat"
        self._base: dict[str, Any] = {
            "id": f"{'chatcmpl' if self._chat else 'cmpl'}-mock{serial}",
            "object": "chat.completion.chunk" if self._chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_mock",
        }
        if self._chat:
            self._base["service_tier"] = reply.service_tier

    def pieces(self) -> list[str]:
        return split(self._reply.content, self._reply.chunks)

    def opening(self) -> dict[str, Any]:
        if self._chat:
            return self._chunk({"role": "assistant", "content": "", "refusal": None}, None)
        return self._chunk("", None)

    def content(self, piece: str) -> dict[str, Any]:
        return self._chunk({"content": piece} if self._chat else piece, None)

    def closing(self) -> list[dict[str, Any]]:
        finals = [self._chunk({} if self._chat else "", "stop")]
        if self._usage:
            usage = openai_usage(
                self._reply.prompt_tokens,
                self._reply.completion_tokens,
                self._reply.cached_tokens,
                self._reply.cache_write_tokens,
            )
            finals.append({**self._base, "choices": [], "usage": usage})
        return finals

    def _chunk(self, delta: Any, finish: str | None) -> dict[str, Any]:
        if self._chat:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": delta, "logprobs": None, "finish_reason": finish}
        chunk = {**self._base, "choices": [choice]}
        if self._usage:
            chunk["usage"] = None
        return chunk


async def _close_transport(request: web.Request) -> None:
    """Close the TCP connection mid-body, after what was written has left."""
    transport = request.transport
    if transport is None:
        return
    deadline = time.monotonic() + 5.0
    while transport.get_write_buffer_size() and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
    transport.close()


def _openai_headers(extra: Mapping[str, str]) -> dict[str, str]:
    return {"x-request-id": "req_mock_upstream", "openai-processing-ms": "1", **extra}


def openai_usage(
    prompt_tokens: int, completion_tokens: int, cached: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    """OpenAI's chat ``usage`` object, every detail field it sends included."""
    details: dict[str, int] = {"cached_tokens": cached, "audio_tokens": 0}
    if cache_write:
        details["cache_write_tokens"] = cache_write
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _whole_body(body: dict[str, Any], reply: Reply, kind: str, serial: int) -> dict[str, Any]:
    created = int(time.time())
    if kind == "completion":
        return {
            "id": f"cmpl-mock{serial}",
            "object": "text_completion",
            "created": created,
            "model": body.get("model"),
            "choices": [
                {"text": reply.content, "index": 0, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }
    return {
        "id": f"chatcmpl-mock{serial}",
        "object": "chat.completion",
        "created": created,
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": openai_usage(
            reply.prompt_tokens,
            reply.completion_tokens,
            reply.cached_tokens,
            reply.cache_write_tokens,
        ),
        "service_tier": reply.service_tier,
        "system_fingerprint": "fp_mock",
    }


def _embedding_body(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(items):
        vector = embedding_for(item)
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = max(1, len(json.dumps(inputs)) // 4)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
