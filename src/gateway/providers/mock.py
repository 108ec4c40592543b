"""The ``mock`` provider: answers locally, in OpenAI's format, with no network.

It makes a fresh checkout useful without an API key and lets operators drill
fallbacks: latency, content, token counts and a failure rate are set per
deployment in ``litellm_params`` (``mock_response``, ``mock_latency_ms``,
``mock_failure_rate``, ``mock_failure_status``, ``mock_stream_chunks``,
``mock_chunk_delay_ms``, ``mock_prompt_tokens``, ``mock_completion_tokens``,
``mock_embedding_dimensions``).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.errors import upstream_error_for_status
from gateway.providers.base import Operation, StreamChunk, UpstreamCall, UpstreamResult, Usage


class MockProvider:
    def __init__(
        self,
        *,
        model: str,
        deployment_id: str,
        response: str | None,
        latency_ms: float,
        failure_rate: float,
        failure_status: int,
        stream_chunks: int,
        chunk_delay_ms: float,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        embedding_dimensions: int,
    ) -> None:
        self._model = model
        self._deployment = deployment_id
        self._response = response
        self._latency = latency_ms / 1000.0
        self._failure_rate = failure_rate
        self._failure_status = failure_status
        self._chunks = stream_chunks
        self._chunk_delay = chunk_delay_ms / 1000.0
        self._prompt_tokens = prompt_tokens
        self._completion_tokens = completion_tokens
        self._dimensions = embedding_dimensions

    @property
    def name(self) -> str:
        return "mock"

    @property
    def api_base(self) -> str | None:
        return None

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        await self._wait_and_maybe_fail(call)
        if call.operation is Operation.EMBEDDING:
            return self._embedding(call.body)
        text = self._text(call.body)
        usage = self._usage(call.body, text)
        created = int(time.time())
        if call.operation is Operation.COMPLETION:
            body: dict[str, Any] = {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": created,
                "model": self._model,
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            }
        else:
            body = {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": created,
                "model": self._model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
            }
        body["usage"] = _usage_json(usage)
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> MockStream:
        await self._wait_and_maybe_fail(call)
        text = self._text(call.body)
        return MockStream(
            model=self._model,
            operation=call.operation,
            pieces=_split(text, self._chunks),
            usage=self._usage(call.body, text),
            delay=self._chunk_delay,
        )

    async def _wait_and_maybe_fail(self, call: UpstreamCall) -> None:
        if self._latency:
            if self._latency > call.timeout:
                await asyncio.sleep(call.timeout)
                raise upstream_error_for_status(
                    408, "mock upstream timed out", deployment=self._deployment
                )
            await asyncio.sleep(self._latency)
        if self._failure_rate and random.random() < self._failure_rate:
            raise upstream_error_for_status(
                self._failure_status,
                f"mock failure (mock_failure_rate={self._failure_rate})",
                deployment=self._deployment,
            )

    def _text(self, body: dict[str, Any]) -> str:
        if self._response is not None:
            return self._response
        prompt = _last_prompt(body)
        return f"Mock answer from {self._model}: {prompt[:200]}" if prompt else "Mock answer."

    def _usage(self, body: dict[str, Any], text: str) -> Usage:
        prompt = self._prompt_tokens
        if prompt is None:
            prompt = max(1, len(orjson.dumps(body.get("messages") or body.get("prompt"))) // 4)
        completion = self._completion_tokens
        if completion is None:
            completion = max(1, len(text) // 4)
        return Usage(prompt_tokens=prompt, completion_tokens=completion)

    def _embedding(self, body: dict[str, Any]) -> UpstreamResult:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(item, self._dimensions)}
            for i, item in enumerate(items)
        ]
        tokens = self._prompt_tokens or max(1, len(orjson.dumps(inputs)) // 4)
        usage = Usage(prompt_tokens=tokens)
        result = {
            "object": "list",
            "data": data,
            "model": self._model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return UpstreamResult(body=result, usage=usage)


class MockStream:
    def __init__(
        self,
        *,
        model: str,
        operation: Operation,
        pieces: list[str],
        usage: Usage,
        delay: float,
    ) -> None:
        self._model = model
        self._operation = operation
        self._pieces = pieces
        self._usage = usage
        self._delay = delay
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        chat = self._operation is not Operation.COMPLETION
        base: dict[str, Any] = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": self._model,
        }
        last = len(self._pieces) - 1
        for index, piece in enumerate(self._pieces):
            if self._closed:
                return
            if index and self._delay:
                await asyncio.sleep(self._delay)
            finish = "stop" if index == last else None
            if chat:
                delta: dict[str, Any] = {"content": piece}
                if index == 0:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {
                    "index": 0,
                    "delta": delta,
                    "finish_reason": finish,
                    "logprobs": None,
                }
            else:
                choice = {"index": 0, "text": piece, "finish_reason": finish, "logprobs": None}
            yield StreamChunk(data=orjson.dumps({**base, "choices": [choice]}))
        usage_chunk = {**base, "choices": [], "usage": _usage_json(self._usage)}
        yield StreamChunk(data=orjson.dumps(usage_chunk), usage=self._usage, usage_only=True)

    async def aclose(self) -> None:
        self._closed = True


def _usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _last_prompt(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(
                        part.get("text", "") for part in content if isinstance(part, dict)
                    )
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _split(text: str, parts: int) -> list[str]:
    """Split into at most ``parts`` non-empty pieces that join back to ``text``."""
    if not text:
        return [""]
    parts = min(parts, len(text))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def _vector(item: Any, dimensions: int) -> list[float]:
    """A deterministic unit-ish vector per input, so equal inputs embed equally."""
    digest = hashlib.sha256(orjson.dumps(item)).digest()
    return [((digest[i % len(digest)] / 255.0) * 2 - 1) for i in range(dimensions)]
