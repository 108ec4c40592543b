"""Gemini's ``GenerateContentResponse``, whole or streamed, as OpenAI chat answers.

Candidates become choices (text without thought summaries, function calls as
tool calls), finish reasons OpenAI's, ``usageMetadata`` usage (thinking tokens
counted as output, as OpenAI counts reasoning tokens); ``blocked_reason`` tells
a safety refusal apart from an answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers.base import StreamChunk, Usage
from gateway.providers.gemini_request import THOUGHT_SEPARATOR
from gateway.providers.translate import as_int, tool_call, usage_json

# The finish reasons of an answer withheld on safety grounds.
SAFETY_FINISH = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
# Gemini finishReason -> OpenAI finish_reason.
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(SAFETY_FINISH, "content_filter"),
}


def blocked_reason(answer: Mapping[str, Any], *, whole: bool) -> str | None:
    """Why Gemini refused to answer, or None. ``whole``: a complete (non-streamed) answer."""
    feedback = answer.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        detail = feedback.get("blockReasonMessage")
        return f"prompt blocked ({feedback['blockReason']})" + (f": {detail}" if detail else "")
    candidates = answer.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        return None
    reasons = [c.get("finishReason") for c in candidates if isinstance(c, dict)]
    if all(reason in SAFETY_FINISH for reason in reasons) and (
        whole or not any(_parts(c) for c in candidates)
    ):
        return f"answer blocked ({reasons[0]})"
    return None


def _parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or [] if isinstance(p, dict)]


def _text(parts: list[dict[str, Any]]) -> str:
    # Thought summaries are the model's reasoning, not its answer.
    return "".join(str(p["text"]) for p in parts if "text" in p and not p.get("thought"))


def _reasoning(parts: list[dict[str, Any]]) -> str:
    return "".join(str(p["text"]) for p in parts if "text" in p and p.get("thought"))


def _calls(parts: list[dict[str, Any]], first_index: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for part in parts:
        call = part.get("functionCall")
        if isinstance(call, dict):
            call_id = str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}")
            signature = part.get("thoughtSignature")
            if isinstance(signature, str) and signature:
                call_id = f"{call_id}{THOUGHT_SEPARATOR}{signature}"
            entry = tool_call(call_id, call.get("name"), call.get("args"))
            calls.append({"index": first_index + len(calls), **entry})
    return calls


def _finish(reason: Any, has_calls: bool) -> str:
    if has_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(str(reason), "stop")


def usage_of(raw: Any) -> Usage:
    usage = raw if isinstance(raw, dict) else {}
    return Usage(
        prompt_tokens=as_int(usage.get("promptTokenCount"))
        + as_int(usage.get("toolUsePromptTokenCount")),
        # Thinking tokens are billed as output, as OpenAI counts reasoning tokens.
        completion_tokens=as_int(usage.get("candidatesTokenCount"))
        + as_int(usage.get("thoughtsTokenCount")),
        cached_tokens=as_int(usage.get("cachedContentTokenCount")),
    )


def _usage_json(raw: Any, usage: Usage) -> dict[str, Any]:
    thoughts = as_int(raw.get("thoughtsTokenCount")) if isinstance(raw, dict) else 0
    return {
        **usage_json(usage),
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def chat_completion(
    answer: Mapping[str, Any], model: str, created: int
) -> tuple[dict[str, Any], Usage]:
    choices = []
    for position, candidate in enumerate(answer.get("candidates") or []):
        parts = _parts(candidate)
        calls = _calls(parts, 0)
        text = _text(parts)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not calls else None,
            "refusal": None,
        }
        reasoning = _reasoning(parts)
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        choices.append(
            {
                "index": as_int(candidate.get("index")) or position,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish(candidate.get("finishReason"), bool(calls)),
            }
        )
    raw_usage = answer.get("usageMetadata")
    usage = usage_of(raw_usage)
    body = {
        "id": "chatcmpl-" + str(answer.get("responseId") or uuid.uuid4().hex),
        "object": "chat.completion",
        "created": created,
        "model": str(answer.get("modelVersion") or model),
        "choices": choices,
        "usage": _usage_json(raw_usage, usage),
        "system_fingerprint": None,
    }
    return body, usage


class StreamTranslator:
    """Turns streamed ``GenerateContentResponse`` events into OpenAI chunks."""

    def __init__(self, model: str, created: int) -> None:
        self._base: dict[str, Any] = {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self._calls: dict[int, int] = {}  # candidate index -> tool calls so far
        self._roles_sent: set[int] = set()
        self._usage: Any = None
        self.started = False
        self.finished = False

    def feed(self, answer: Mapping[str, Any]) -> list[StreamChunk]:
        if not self.started:
            if answer.get("responseId"):
                self._base["id"] = "chatcmpl-" + str(answer["responseId"])
            if answer.get("modelVersion"):
                self._base["model"] = str(answer["modelVersion"])
        if answer.get("usageMetadata"):
            self._usage = answer["usageMetadata"]
        chunks = []
        for position, candidate in enumerate(answer.get("candidates") or []):
            index = as_int(candidate.get("index")) or position
            parts = _parts(candidate)
            delta: dict[str, Any] = {}
            if index not in self._roles_sent:
                self._roles_sent.add(index)
                delta["role"] = "assistant"
            text = _text(parts)
            if text or "role" in delta:
                delta["content"] = text
            reasoning = _reasoning(parts)
            if reasoning:
                delta["reasoning_content"] = reasoning
            seen = self._calls.get(index, 0)
            calls = _calls(parts, seen)
            if calls:
                self._calls[index] = seen + len(calls)
                delta["tool_calls"] = calls
            reason = candidate.get("finishReason")
            finish = _finish(reason, bool(self._calls.get(index))) if reason else None
            if finish is not None:
                self.finished = True
            if delta or finish is not None:
                chunks.append(self._chunk(index, delta, finish))
        if chunks:
            self.started = True
        return chunks

    def usage_chunk(self) -> StreamChunk:
        usage = usage_of(self._usage)
        body = {**self._base, "choices": [], "usage": _usage_json(self._usage, usage)}
        return StreamChunk(data=orjson.dumps(body), usage=usage, usage_only=True)

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> StreamChunk:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return StreamChunk(data=orjson.dumps({**self._base, "choices": [choice]}))
