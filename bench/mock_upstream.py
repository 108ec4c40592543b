"""A fast mock OpenAI upstream for the benchmark: asyncio protocol + httptools + uvloop.

No framework, no JSON parsing: every answer is built once at start-up and
written as bytes, so the mock is never what limits a run (``run.py`` measures
it alone, through the same load generator, and reports its capacity).

One process listens on several ports, one per upstream latency, so the
gateways under test need only point deployments at the right port:

    python bench/mock_upstream.py --listen 9100:0 --listen 9150:50

``POST .../chat/completions`` answers a chat completion, or, when the body has
``"stream": true``, a server-sent-event stream of ``--chunks`` content chunks
(plus a usage chunk when ``include_usage`` is asked for) and ``data: [DONE]``.
``POST .../responses`` answers the same as a Responses API Response, or its event
stream (``response.created`` ... ``response.completed``, one text delta per chunk).
``POST .../v1/messages`` answers as Anthropic's Messages API: a Message, or its event
stream (``message_start`` ... ``message_stop``, one text delta per chunk).
``GET /health`` answers 200; ``GET /stats`` counts the chat, Responses and Messages requests
received so far (all ports), which ``run.py`` uses to charge a proxy's CPU time per
request it forwarded. Anything else is a 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import cast

import httptools
import uvloop

CONTENT_WORD = "token "


def _json_response(status: int, body: bytes, keep_alive: bool) -> bytes:
    return _response(status, body, keep_alive, b"application/json")


def _response(status: int, body: bytes, keep_alive: bool, content_type: bytes) -> bytes:
    reason = {200: b"OK", 404: b"Not Found"}[status]
    connection = b"keep-alive" if keep_alive else b"close"
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
        b"connection: %s\r\n\r\n%s" % (status, reason, content_type, len(body), connection, body)
    )


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Answers:
    """Every response the mock can give, as ready-made bytes."""

    def __init__(self, chunks: int, completion_tokens: int) -> None:
        created = int(time.time())
        text = CONTENT_WORD * completion_tokens
        usage = {
            "prompt_tokens": 25,
            "completion_tokens": completion_tokens,
            "total_tokens": 25 + completion_tokens,
        }
        whole = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": created,
            "model": "bench-upstream",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }
        body = json.dumps(whole, separators=(",", ":")).encode()
        self.whole = {alive: _json_response(200, body, alive) for alive in (True, False)}
        not_found = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
        self.not_found = {alive: _json_response(404, not_found, alive) for alive in (True, False)}
        # An empty ExportTraceServiceResponse: every span accepted.
        self.traces_accepted = {
            alive: _response(200, b"", alive, b"application/x-protobuf") for alive in (True, False)
        }
        self.health = {
            alive: _json_response(200, b'{"status":"ok"}', alive) for alive in (True, False)
        }

        base = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": created,
            "model": "bench-upstream",
        }
        events: list[bytes] = []
        per_chunk = max(1, completion_tokens // chunks)
        for index in range(chunks):
            delta: dict[str, str] = {"content": CONTENT_WORD * per_chunk}
            if index == 0:
                delta["role"] = "assistant"
            finish = "stop" if index == chunks - 1 else None
            chunk = {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }
            events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
        usage_event = (
            b"data: "
            + json.dumps({**base, "choices": [], "usage": usage}, separators=(",", ":")).encode()
            + b"\n\n"
        )
        done = b"data: [DONE]\n\n"
        self.stream_events = [_chunked(e) for e in events]
        self.stream_tail = {
            True: _chunked(usage_event) + _chunked(done) + b"0\r\n\r\n",
            False: _chunked(done) + b"0\r\n\r\n",
        }
        self.stream_head = {
            alive: b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: "
            + (b"keep-alive" if alive else b"close")
            + b"\r\n\r\n"
            for alive in (True, False)
        }
        self.stream_whole = {
            (alive, usage): self.stream_head[alive]
            + b"".join(self.stream_events)
            + self.stream_tail[usage]
            for alive in (True, False)
            for usage in (True, False)
        }
        self._responses(created, text, chunks, per_chunk, completion_tokens)
        self._messages(text, chunks, per_chunk, completion_tokens)

    def _messages(self, text: str, chunks: int, per_chunk: int, completion_tokens: int) -> None:
        """Anthropic's Messages API answers: a whole Message, and its event stream."""
        usage = {
            "input_tokens": 25,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": completion_tokens,
            "service_tier": "standard",
        }
        message = {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "bench-upstream",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        body = json.dumps(message, separators=(",", ":")).encode()
        self.messages_whole = {alive: _json_response(200, body, alive) for alive in (True, False)}
        opening = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events: list[tuple[str, dict[str, object]]] = [
            ("message_start", {"message": opening}),
            (
                "content_block_start",
                {"index": 0, "content_block": {"type": "text", "text": ""}},
            ),
        ]
        events += [
            (
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": CONTENT_WORD * per_chunk}},
            )
            for _ in range(chunks)
        ]
        events += [
            ("content_block_stop", {"index": 0}),
            (
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": completion_tokens},
                },
            ),
            ("message_stop", {}),
        ]
        wire = b"".join(
            _chunked(
                b"event: %s\ndata: %s\n\n"
                % (
                    kind.encode(),
                    json.dumps({"type": kind, **payload}, separators=(",", ":")).encode(),
                )
            )
            for kind, payload in events
        )
        self.messages_stream = {
            alive: self.stream_head[alive] + wire + b"0\r\n\r\n" for alive in (True, False)
        }

    def _responses(
        self, created: int, text: str, chunks: int, per_chunk: int, completion_tokens: int
    ) -> None:
        """The Responses API's answers: a whole Response, and its event stream."""
        usage = {
            "input_tokens": 25,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 25 + completion_tokens,
        }
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        message = {
            "id": "msg_bench",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
        response = {
            "id": "resp_bench",
            "object": "response",
            "created_at": created,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "model": "bench-upstream",
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
        body = json.dumps(response, separators=(",", ":")).encode()
        self.responses_whole = {alive: _json_response(200, body, alive) for alive in (True, False)}
        opening = {**response, "status": "in_progress", "output": [], "usage": None}
        where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
        empty = {**part, "text": ""}
        events: list[tuple[str, dict[str, object]]] = [
            ("response.created", {"response": opening}),
            ("response.in_progress", {"response": opening}),
            (
                "response.output_item.added",
                {"output_index": 0, "item": {**message, "status": "in_progress", "content": []}},
            ),
            ("response.content_part.added", {**where, "part": empty}),
        ]
        events += [
            ("response.output_text.delta", {**where, "delta": CONTENT_WORD * per_chunk})
            for _ in range(chunks)
        ]
        events += [
            ("response.output_text.done", {**where, "text": text}),
            ("response.content_part.done", {**where, "part": part}),
            ("response.output_item.done", {"output_index": 0, "item": message}),
            ("response.completed", {"response": response}),
        ]
        wire = b"".join(
            _chunked(
                b"event: %s\ndata: %s\n\n"
                % (
                    kind.encode(),
                    json.dumps(
                        {"type": kind, **payload, "sequence_number": number},
                        separators=(",", ":"),
                    ).encode(),
                )
            )
            for number, (kind, payload) in enumerate(events)
        )
        self.responses_stream = {
            alive: self.stream_head[alive] + wire + b"0\r\n\r\n" for alive in (True, False)
        }


class Counter:
    __slots__ = ("chat", "trace_batches")

    def __init__(self) -> None:
        self.chat = 0
        self.trace_batches = 0


class MockProtocol(asyncio.Protocol):
    """One client connection; HTTP/1.1 keep-alive, one request at a time."""

    def __init__(
        self, answers: Answers, counter: Counter, latency: float, chunk_delay: float
    ) -> None:
        self._answers = answers
        self._counter = counter
        self._latency = latency
        self._chunk_delay = chunk_delay
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method()
        path = self._url.split(b"?", 1)[0]
        responses = path.endswith(b"/responses")
        messages = path.endswith(b"/messages")
        if method == b"POST" and (responses or messages or path.endswith(b"/chat/completions")):
            self._counter.chat += 1
            body = b"".join(self._body)
            # Cheap on purpose: a substring test instead of parsing JSON.
            stream = b'"stream":true' in body or b'"stream": true' in body
            usage = b'"include_usage":true' in body or b'"include_usage": true' in body
            kind = b"responses" if responses else b"messages" if messages else b"chat"
            if self._latency:
                self._loop.call_later(self._latency, self._answer, stream, usage, keep_alive, kind)
            else:
                self._answer(stream, usage, keep_alive, kind)
        elif method == b"POST" and path == b"/v1/traces":
            # An OTLP/HTTP collector's answer to a span batch (tracing variants export here).
            self._counter.trace_batches += 1
            self._write(self._answers.traces_accepted[keep_alive], keep_alive)
        elif method == b"POST" and path == b"/alerts":
            # A webhook receiver's answer to an alert (the alerting variant sends here).
            self._write(self._answers.traces_accepted[keep_alive], keep_alive)
        elif method == b"GET" and path == b"/health":
            self._write(self._answers.health[keep_alive], keep_alive)
        elif method == b"GET" and path == b"/stats":
            counter = self._counter
            stats = b'{"chat":%d,"trace_batches":%d}' % (counter.chat, counter.trace_batches)
            self._write(_json_response(200, stats, keep_alive), keep_alive)
        else:
            self._write(self._answers.not_found[keep_alive], keep_alive)

    def _answer(self, stream: bool, usage: bool, keep_alive: bool, kind: bytes) -> None:
        answers = self._answers
        # Responses and Messages answers go in one write: their benches run without delays.
        if kind == b"responses":
            table = answers.responses_stream if stream else answers.responses_whole
            self._write(table[keep_alive], keep_alive)
            return
        if kind == b"messages":
            table = answers.messages_stream if stream else answers.messages_whole
            self._write(table[keep_alive], keep_alive)
            return
        if not stream:
            self._write(answers.whole[keep_alive], keep_alive)
            return
        transport = self._transport
        if transport is None:
            return
        if self._chunk_delay:
            transport.write(answers.stream_head[keep_alive])
            self._stream_slowly(0, usage, keep_alive)
            return
        # No pause between chunks: one write, so the mock spends one syscall per stream.
        self._write(answers.stream_whole[keep_alive, usage], keep_alive)

    def _stream_slowly(self, index: int, usage: bool, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        events = self._answers.stream_events
        if index < len(events):
            transport.write(events[index])
            self._loop.call_later(
                self._chunk_delay, self._stream_slowly, index + 1, usage, keep_alive
            )
        else:
            self._write(self._answers.stream_tail[usage], keep_alive)

    def _write(self, data: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(data)
        if not keep_alive:
            transport.close()


async def serve(listen: list[tuple[int, float]], chunks: int, chunk_delay: float) -> None:
    loop = asyncio.get_running_loop()
    answers = Answers(chunks, completion_tokens=max(chunks, 20))
    counter = Counter()
    servers = []
    for port, latency_ms in listen:
        server = await loop.create_server(
            lambda latency=latency_ms / 1000.0: MockProtocol(
                answers, counter, latency, chunk_delay
            ),
            host="127.0.0.1",
            port=port,
            backlog=4096,
            reuse_address=True,
        )
        servers.append(server)
        print(f"mock upstream on 127.0.0.1:{port}, latency {latency_ms:g} ms", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def _listen(value: str) -> tuple[int, float]:
    port, _, latency = value.partition(":")
    return int(port), float(latency or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--listen",
        action="append",
        type=_listen,
        required=True,
        help="PORT:LATENCY_MS (repeatable); the latency is waited before each answer",
    )
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="pause between stream chunks"
    )
    args = parser.parse_args()
    uvloop.run(serve(args.listen, args.chunks, args.chunk_delay_ms / 1000.0))


if __name__ == "__main__":
    main()
