"""A cached answer served as a stream: OpenAI chunks rebuilt from the stored completion.

The chunks follow OpenAI's own sequence: per choice, a first chunk with the
role and the content (and tool calls), then a chunk with the finish reason;
then, as a separate chunk without choices, the usage (shown only to callers
that asked for ``stream_options.include_usage``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.providers.base import Operation, StreamChunk, Usage


def replay_chunks(operation: Operation, completion: dict[str, Any]) -> list[StreamChunk]:
    head = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk" if operation is Operation.CHAT else "text_completion",
        "created": completion.get("created", 0),
        "model": completion.get("model", ""),
    }
    if completion.get("system_fingerprint") is not None:
        head["system_fingerprint"] = completion["system_fingerprint"]
    chunks: list[StreamChunk] = []
    for position, choice in enumerate(completion.get("choices") or []):
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", position)
        if operation is Operation.CHAT:
            first, last = _chat_choice(index, choice)
        else:
            first, last = _text_choice(index, choice)
        chunks.append(StreamChunk(orjson.dumps({**head, "choices": [first]})))
        chunks.append(StreamChunk(orjson.dumps({**head, "choices": [last]})))
    usage = completion.get("usage")
    if isinstance(usage, dict):
        chunks.append(
            StreamChunk(
                orjson.dumps({**head, "choices": [], "usage": usage}),
                usage=Usage.from_openai(usage),
                usage_only=True,
            )
        )
    return chunks


def _chat_choice(index: int, choice: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    delta: dict[str, Any] = {"role": message.get("role", "assistant")}
    for name, value in message.items():
        if name == "role" or value is None:
            continue
        if name == "tool_calls" and isinstance(value, list):
            delta["tool_calls"] = [
                {**call, "index": position}
                for position, call in enumerate(value)
                if isinstance(call, dict)
            ]
        else:
            delta[name] = value
    delta.setdefault("content", "")
    first = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
    last = {
        "index": index,
        "delta": {},
        "logprobs": None,
        "finish_reason": choice.get("finish_reason", "stop"),
    }
    return first, last


def _text_choice(index: int, choice: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    first = {
        "index": index,
        "text": choice.get("text", ""),
        "logprobs": None,
        "finish_reason": None,
    }
    last = {
        "index": index,
        "text": "",
        "logprobs": None,
        "finish_reason": choice.get("finish_reason", "stop"),
    }
    return first, last


class ReplayStream:
    """A ``ChunkStream`` over chunks already in hand."""

    def __init__(self, chunks: list[StreamChunk]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        return None
