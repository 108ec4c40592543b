"""The ``mock`` provider: answers locally, in OpenAI's format, with no network.

It makes a fresh checkout useful without an API key and lets operators drill
fallbacks: latency, content, token counts and a failure rate are set per
deployment in ``litellm_params`` (``mock_response``, ``mock_latency_ms``,
``mock_failure_rate``, ``mock_failure_status``, ``mock_stream_chunks``,
``mock_chunk_delay_ms``, ``mock_prompt_tokens``, ``mock_completion_tokens``,
``mock_embedding_dimensions``, ``mock_tool_calls``). It answers what the request
asks for: ``n`` choices, JSON fitting a ``response_format`` schema, tool calls when
tools are offered and ``mock_tool_calls`` says so, and embeddings of the requested
``dimensions`` as floats or base64.
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
from gateway.providers.mock_content import json_answer, tool_calls_for
from gateway.providers.translate import embedding_list

# OpenAI's own bounds for ``n`` and embedding ``dimensions``.
MAX_CHOICES = 128
MAX_DIMENSIONS = 8192


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
        tool_calls: str | list[Any] | None = None,
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
        self._tool_calls = tool_calls

    @property
    def name(self) -> str:
        return "mock"

    @property
    def api_base(self) -> str | None:
        return None

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        self._refuse_out_of_range(call.body)
        await self._wait_and_maybe_fail(call)
        if call.operation is Operation.EMBEDDING:
            return self._embedding(call.body)
        answer = self._answer(call.body)
        usage = self._usage(call.body, answer)
        created = int(time.time())
        if call.operation is Operation.COMPLETION:
            body: dict[str, Any] = {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": created,
                "model": self._model,
                "choices": [
                    {"index": i, "text": answer.text, "finish_reason": "stop", "logprobs": None}
                    for i in range(_choices(call.body))
                ],
            }
        else:
            body = {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": created,
                "model": self._model,
                "choices": [
                    {
                        "index": i,
                        "message": answer.message(),
                        "finish_reason": answer.finish_reason,
                        "logprobs": None,
                    }
                    for i in range(_choices(call.body))
                ],
            }
        body["usage"] = _usage_json(usage)
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> MockStream:
        self._refuse_out_of_range(call.body)
        await self._wait_and_maybe_fail(call)
        answer = self._answer(call.body)
        return MockStream(
            model=self._model,
            operation=call.operation,
            answer=answer,
            pieces=self._chunks,
            choices=_choices(call.body),
            usage=self._usage(call.body, answer),
            delay=self._chunk_delay,
        )

    def _refuse_out_of_range(self, body: dict[str, Any]) -> None:
        """A 400 for ``n`` or ``dimensions`` OpenAI would refuse (never a huge answer)."""
        for name, high in (("n", MAX_CHOICES), ("dimensions", MAX_DIMENSIONS)):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
                raise upstream_error_for_status(
                    400,
                    f"Invalid '{name}': expected an integer from 1 to {high}, got {value!r}.",
                    deployment=self._deployment,
                    param=name,
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

    def _answer(self, body: dict[str, Any]) -> MockAnswer:
        calls = tool_calls_for(body, self._tool_calls)
        if calls:
            return MockAnswer(text=None, tool_calls=calls)
        text = self._response
        if text is None:
            prompt = _last_prompt(body)
            text = f"Mock answer from {self._model}: {prompt[:200]}" if prompt else "Mock answer."
        return MockAnswer(text=json_answer(body, text) or text)

    def _usage(self, body: dict[str, Any], answer: MockAnswer) -> Usage:
        prompt = self._prompt_tokens
        if prompt is None:
            prompt = max(1, len(orjson.dumps(body.get("messages") or body.get("prompt"))) // 4)
        completion = self._completion_tokens
        if completion is None:
            completion = max(1, answer.length() // 4) * _choices(body)
        return Usage(prompt_tokens=prompt, completion_tokens=completion)

    def _embedding(self, body: dict[str, Any]) -> UpstreamResult:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        dimensions = body.get("dimensions")
        if dimensions is None:
            dimensions = self._dimensions
        vectors = [_vector(item, dimensions) for item in items]
        tokens = self._prompt_tokens or max(1, len(orjson.dumps(inputs)) // 4)
        result = embedding_list(vectors, self._model, tokens, body.get("encoding_format"))
        return UpstreamResult(body=result, usage=Usage(prompt_tokens=tokens))


class MockAnswer:
    """One answer: text, or tool calls (OpenAI's shape) with no text."""

    __slots__ = ("text", "tool_calls")

    def __init__(self, *, text: str | None, tool_calls: list[Any] | None = None) -> None:
        self.text = text
        self.tool_calls = tool_calls

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text, "refusal": None}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message

    def length(self) -> int:
        if self.tool_calls:
            return len(orjson.dumps(self.tool_calls))
        return len(self.text or "")


class MockStream:
    def __init__(
        self,
        *,
        model: str,
        operation: Operation,
        answer: MockAnswer,
        pieces: int,
        choices: int,
        usage: Usage,
        delay: float,
    ) -> None:
        self._model = model
        self._operation = operation
        self._answer = answer
        self._pieces = pieces
        self._choices = choices
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
        steps = self._deltas() if chat else _split(self._answer.text or "", self._pieces)
        last = len(steps) - 1
        for step, delta in enumerate(steps):
            if self._closed:
                return
            if step and self._delay:
                await asyncio.sleep(self._delay)
            finish = self._answer.finish_reason if step == last else None
            for index in range(self._choices):
                choice: dict[str, Any]
                if chat:
                    choice = {"index": index, "delta": delta, "finish_reason": finish}
                else:
                    choice = {"index": index, "text": delta, "finish_reason": finish}
                choice["logprobs"] = None
                yield StreamChunk(data=orjson.dumps({**base, "choices": [choice]}))
        usage_chunk = {**base, "choices": [], "usage": _usage_json(self._usage)}
        yield StreamChunk(data=orjson.dumps(usage_chunk), usage=self._usage, usage_only=True)

    def _deltas(self) -> list[Any]:
        """The chat deltas of one choice: the role first, then content or tool calls."""
        calls = self._answer.tool_calls
        if not calls:
            pieces = _split(self._answer.text or "", self._pieces)
            return [{"role": "assistant", "content": pieces[0]}] + [
                {"content": piece} for piece in pieces[1:]
            ]
        opening = [
            {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            for i, call in enumerate(calls)
        ]
        deltas: list[Any] = [{"role": "assistant", "content": None, "tool_calls": opening}]
        for i, call in enumerate(calls):
            for piece in _split(call["function"]["arguments"], self._pieces):
                deltas.append({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        return deltas

    async def aclose(self) -> None:
        self._closed = True


def _choices(body: dict[str, Any]) -> int:
    """``n``: how many choices to answer with (checked by ``_refuse_out_of_range``)."""
    n = body.get("n")
    return n if isinstance(n, int) else 1


def _usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _last_prompt(body: dict[str, Any]) -> str:
    """What the answer echoes: a tool's result when one came last, else the last user turn."""
    messages = body.get("messages")
    if isinstance(messages, list):
        last = messages[-1] if messages else None
        if isinstance(last, dict) and last.get("role") == "tool":
            return _text_of(last.get("content"))
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


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
