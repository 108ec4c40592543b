"""Responses objects built from OpenAI chat answers, and what every Response carries.

``skeleton`` is a Response before any output: its id, time, model and the
request's settings echoed as OpenAI echoes them. ``from_completion`` fills one
from a whole chat completion: reasoning, then the message, then one
``function_call`` item per tool call, with usage in the Responses shape.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gateway.api.formats import thinking_carry
from gateway.api.ids import random_hex
from gateway.providers.base import Usage
from gateway.providers.translate import as_int

# chat finish_reason -> the reason a Response is incomplete.
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
# The settings a Response echoes, with OpenAI's defaults when the request left them out.
ECHOED_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "reasoning": {"effort": None, "summary": None},
    "safety_identifier": None,
    "service_tier": "auto",
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_hex(24)}"


def skeleton(
    request: Mapping[str, Any], response_id: str, model: str, created_at: int | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at if created_at is not None else int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [],
        "usage": None,
    }
    for name, default in ECHOED_DEFAULTS.items():
        value = request.get(name)
        response[name] = default if value is None else value
    return response


def usage_json(raw: Any) -> dict[str, Any]:
    """Responses usage from chat usage (input tokens include the cached ones in both)."""
    usage = raw if isinstance(raw, dict) else {}
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    inputs = as_int(usage.get("prompt_tokens"))
    outputs = as_int(usage.get("completion_tokens"))
    return {
        "input_tokens": inputs,
        "input_tokens_details": {
            "cached_tokens": as_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else 0,
            "cache_write_tokens": (
                as_int(prompt.get("cache_write_tokens")) if isinstance(prompt, dict) else 0
            ),
        },
        "output_tokens": outputs,
        "output_tokens_details": {
            "reasoning_tokens": (
                as_int(completion.get("reasoning_tokens")) if isinstance(completion, dict) else 0
            )
        },
        "total_tokens": inputs + outputs,
    }


def usage_of(response: Mapping[str, Any]) -> Usage | None:
    """The ledger's usage from a Response's ``usage`` (None when absent)."""
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage.from_responses(usage, response.get("service_tier"))


def finish(response: dict[str, Any], finish_reason: Any) -> None:
    """Set ``status`` (and ``incomplete_details``) from the chat finish reason."""
    reason = INCOMPLETE_REASONS.get(str(finish_reason))
    if reason is None:
        response["status"] = "completed"
        response["completed_at"] = int(time.time())
    else:
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": reason}


def reasoning_item(text: str, summarized: bool, status: str = "completed") -> dict[str, Any]:
    item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
    if summarized:
        item["summary"] = [{"type": "summary_text", "text": text}]
    else:
        item["content"] = [{"type": "reasoning_text", "text": text}]
    item["status"] = status
    return item


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(parts: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": parts,
    }


def function_call_item(
    call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": new_id("fc"),
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def summarized(request: Mapping[str, Any]) -> bool:
    """Whether the caller asked for reasoning summaries (else reasoning comes as content)."""
    reasoning = request.get("reasoning")
    return isinstance(reasoning, dict) and reasoning.get("summary") is not None


def reasoning_of(source: Mapping[str, Any]) -> Any:
    """A chat message's (or delta's) reasoning text, under either name providers use."""
    value = source.get("reasoning_content")
    return value if value is not None else source.get("reasoning")


def thinking_blocks_of(source: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A chat message's (or delta's) signed thinking blocks (Anthropic's, to send back)."""
    blocks = source.get("thinking_blocks")
    if not isinstance(blocks, list):
        return []
    return [block for block in blocks if isinstance(block, dict)]


def from_completion(
    completion: Mapping[str, Any], request: Mapping[str, Any], response_id: str
) -> dict[str, Any]:
    model = completion.get("model")
    response = skeleton(request, response_id, model if isinstance(model, str) else request["model"])
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    reply = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    reasoning = reasoning_of(reply)
    blocks = thinking_blocks_of(reply)
    if (isinstance(reasoning, str) and reasoning) or blocks:
        item = reasoning_item(reasoning if isinstance(reasoning, str) else "", summarized(request))
        if blocks:
            item["encrypted_content"] = thinking_carry.encode(blocks)
        output.append(item)
    parts = []
    text = reply.get("content")
    if isinstance(text, str) and text:
        parts.append(text_part(text))
    refusal = reply.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        output.append(message_item(parts))
    for call in reply.get("tool_calls") or []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        output.append(
            function_call_item(
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
            )
        )
    response["output"] = output
    response["usage"] = usage_json(completion.get("usage"))
    finish(response, choice.get("finish_reason"))
    return response
