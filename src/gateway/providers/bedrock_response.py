"""Amazon Bedrock Converse answers as OpenAI chat completions, whole and streamed.

Text blocks become the message's content, ``toolUse`` blocks its tool calls,
``reasoningContent`` its ``reasoning_content``; ``stopReason`` becomes the
``finish_reason``; usage counts cache reads and writes in the prompt tokens, as
OpenAI counts them. ``ConverseStreamTranslator`` reads ConverseStream's events
(``messageStart``, ``contentBlockStart`` / ``Delta`` / ``Stop``,
``messageStop``, ``metadata``) and writes chat chunks; the usage chunk comes
last, after ``metadata``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers.base import StreamChunk, Usage
from gateway.providers.translate import as_int, tool_call, usage_json

# Converse stopReason -> OpenAI finish_reason.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def chat_completion(
    answer: Mapping[str, Any], model: str, created: int
) -> tuple[dict[str, Any], Usage]:
    message = (answer.get("output") or {}).get("message") or {}
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            text.append(str(block["text"]))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append(tool_call(use.get("toolUseId"), use.get("name"), use.get("input")))
        elif isinstance(block.get("reasoningContent"), dict):
            reasoning.append(
                str((block["reasoningContent"].get("reasoningText") or {}).get("text", ""))
            )
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text or not calls else None,
        "refusal": None,
    }
    if reasoning:
        reply["reasoning_content"] = "".join(reasoning)
    if calls:
        reply["tool_calls"] = calls
    usage = usage_of(answer.get("usage"))
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(str(answer.get("stopReason")), "stop"),
            }
        ],
        "usage": usage_json(usage),
        "system_fingerprint": None,
    }
    return body, usage


def usage_of(raw: Any) -> Usage:
    """OpenAI's view of Converse usage: prompt tokens include cache reads and writes."""
    usage = raw if isinstance(raw, dict) else {}
    cache_read = as_int(usage.get("cacheReadInputTokens"))
    written = as_int(usage.get("cacheWriteInputTokens"))
    return Usage(
        prompt_tokens=as_int(usage.get("inputTokens")) + cache_read + written,
        completion_tokens=as_int(usage.get("outputTokens")),
        cached_tokens=cache_read,
        cache_write_tokens=written,
    )


class ConverseStreamTranslator:
    """Turns ConverseStream events, in order, into OpenAI ``chat.completion.chunk``s."""

    def __init__(self, model: str, created: int) -> None:
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._model = model
        self._created = created
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self.done = False

    def feed(self, kind: str, event: Mapping[str, Any]) -> list[StreamChunk]:
        if kind == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "contentBlockStart":
            return self._block_start(as_int(event.get("contentBlockIndex")), event.get("start"))
        if kind == "contentBlockDelta":
            return self._block_delta(as_int(event.get("contentBlockIndex")), event.get("delta"))
        if kind == "messageStop":
            reason = FINISH_REASONS.get(str(event.get("stopReason")), "stop")
            return [self._chunk({}, reason)]
        if kind == "metadata":
            self.done = True
            usage = usage_of(event.get("usage"))
            body = self._base()
            body["choices"] = []
            body["usage"] = usage_json(usage)
            return [StreamChunk(data=orjson.dumps(body), usage=usage, usage_only=True)]
        # contentBlockStop and event types added later carry nothing for OpenAI.
        return []

    def _block_start(self, index: int, start: Any) -> list[StreamChunk]:
        use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(use, dict):
            return []
        position = len(self._tools)
        self._tools[index] = position
        call = {
            "index": position,
            "id": use.get("toolUseId"),
            "type": "function",
            "function": {"name": use.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: int, delta: Any) -> list[StreamChunk]:
        if not isinstance(delta, dict):
            return []
        if isinstance(delta.get("text"), str):
            return [self._chunk({"content": delta["text"]})]
        use = delta.get("toolUse")
        if isinstance(use, dict) and index in self._tools and use.get("input"):
            call = {"index": self._tools[index], "function": {"arguments": str(use["input"])}}
            return [self._chunk({"tool_calls": [call]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str):
            return [self._chunk({"reasoning_content": reasoning["text"]})]
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
