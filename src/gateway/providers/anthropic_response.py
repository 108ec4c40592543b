"""Anthropic Messages answers as OpenAI chat completions, whole and streamed.

Content blocks become the message's text and tool calls, thinking its
``reasoning_content`` (and ``thinking_blocks``, signed, to send back), ``stop_reason`` its
``finish_reason``, and usage counts cache reads and writes in the prompt
tokens as OpenAI counts them. ``StreamTranslator`` turns the Messages event
stream into chat chunks, tool-use input deltas as tool-call argument deltas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers.base import StreamChunk, Usage
from gateway.providers.translate import (
    as_int,
    tool_call,
    usage_json,
)

# Anthropic stop_reason -> OpenAI finish_reason.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def chat_completion(message: Mapping[str, Any], created: int) -> tuple[dict[str, Any], Usage]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    thoughts: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(tool_call(block.get("id"), block.get("name"), block.get("input")))
        elif kind in ("thinking", "redacted_thinking"):
            thoughts.append(dict(block))
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
    if thoughts:
        # The reasoning as text (reasoning_content, as DeepSeek and LiteLLM name it), and the
        # blocks with their signatures, for the next turn to send back (thinking_blocks).
        reasoning = "".join(str(b.get("thinking", "")) for b in thoughts if b["type"] == "thinking")
        reply["reasoning_content"] = reasoning
        reply["thinking_blocks"] = thoughts
    usage = usage_of(message.get("usage"))
    body = {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(str(message.get("stop_reason")), "stop"),
            }
        ],
        "usage": usage_json(usage),
        "system_fingerprint": None,
    }
    return body, usage


def usage_of(raw: Any) -> Usage:
    """OpenAI's view of Anthropic usage: prompt tokens include cache reads and writes."""
    usage = raw if isinstance(raw, dict) else {}
    cache_read = as_int(usage.get("cache_read_input_tokens"))
    written = as_int(usage.get("cache_creation_input_tokens"))
    # ``cache_creation`` splits the writes by ttl; without it every write is a 5-minute one.
    by_ttl = usage.get("cache_creation")
    written_1h = as_int(by_ttl.get("ephemeral_1h_input_tokens")) if isinstance(by_ttl, dict) else 0
    tier = usage.get("service_tier")
    return Usage(
        prompt_tokens=as_int(usage.get("input_tokens")) + cache_read + written,
        completion_tokens=as_int(usage.get("output_tokens")),
        cached_tokens=cache_read,
        cache_write_tokens=written,
        cache_write_1h_tokens=min(written_1h, written),
        service_tier=tier if isinstance(tier, str) else None,
    )


# --- the stream: Messages events -> OpenAI chunks -------------------------------------


class StreamTranslator:
    """Turns Anthropic stream events, in order, into OpenAI ``chat.completion.chunk``s."""

    def __init__(self, created: int) -> None:
        self._created = created
        self._id = ""
        self._model = ""
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._thinking: dict[int, str] = {}  # content block index -> its thinking so far
        self.done = False

    def feed(self, event: Mapping[str, Any]) -> list[StreamChunk]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = str(message.get("id", ""))
            self._model = str(message.get("model", ""))
            self._usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(as_int(event.get("index")), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(as_int(event.get("index")), event.get("delta") or {})
        if kind == "message_delta":
            self._usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason is None:
                return []
            return [self._chunk({}, FINISH_REASONS.get(str(reason), "stop"))]
        if kind == "message_stop":
            self.done = True
            usage = usage_of(self._usage)
            body = self._base()
            body["choices"] = []
            body["usage"] = usage_json(usage)
            return [StreamChunk(data=orjson.dumps(body), usage=usage, usage_only=True)]
        # ping, content_block_stop and event types added later carry nothing for OpenAI.
        return []

    def _block_start(self, index: int, block: Mapping[str, Any]) -> list[StreamChunk]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking":
            self._thinking[index] = str(block.get("thinking") or "")
            return []
        if kind == "redacted_thinking":
            return [self._chunk({"thinking_blocks": [dict(block)]})]
        if kind == "tool_use":
            position = len(self._tools)
            self._tools[index] = position
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamChunk]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._chunk({"content": delta.get("text", "")})]
        if kind == "thinking_delta" and index in self._thinking:
            piece = str(delta.get("thinking", ""))
            self._thinking[index] += piece
            return [self._chunk({"reasoning_content": piece})] if piece else []
        if kind == "signature_delta" and index in self._thinking:
            # The block is whole once signed: handed over for the next turn to send back.
            block = {
                "type": "thinking",
                "thinking": self._thinking.pop(index),
                "signature": str(delta.get("signature", "")),
            }
            return [self._chunk({"thinking_blocks": [block]})]
        if kind == "input_json_delta" and index in self._tools and delta.get("partial_json"):
            call = {"index": self._tools[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _base(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> StreamChunk:
        body = self._base()
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        return StreamChunk(data=orjson.dumps(body))
