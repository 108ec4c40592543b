"""OpenAI chat requests as Anthropic Messages requests.

The system prompt (system and developer messages), roles merged into
alternating turns, text and image parts, tool calls and tool results as
``tool_use`` / ``tool_result`` blocks, tools, ``tool_choice``, stop sequences
and ``max_tokens`` (Anthropic requires it). A parameter it cannot express is
refused (or dropped with ``drop_params``) by ``check_params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.providers.translate import (
    CHAT_PARAMS,
    TranslationError,
    call_function,
    conversation,
    function_tools,
    max_output_tokens,
    parse_data_url,
    stop_list,
    text_of,
    tool_arguments,
)

# The OpenAI chat parameters this translation expresses; others are refused or dropped.
SUPPORTED_PARAMS = CHAT_PARAMS | {"parallel_tool_calls", "user"}


def messages_request(
    body: Mapping[str, Any], model: str, default_max_tokens: int
) -> dict[str, Any]:
    """The Messages API request for an OpenAI chat-completions body."""
    system, messages = _messages(body.get("messages"))
    request: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_output_tokens(body) or default_max_tokens,
    }
    if system:
        request["system"] = (
            system[0] if len(system) == 1 else [{"type": "text", "text": t} for t in system]
        )
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    stops = stop_list(body.get("stop"))
    if stops:
        request["stop_sequences"] = stops
    user = body.get("user")
    if isinstance(user, str) and user:
        request["metadata"] = {"user_id": user}
    tools = _tools(body.get("tools"))
    if tools:
        request["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    return request


def _messages(raw: Any) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for where, role, message in conversation(raw, system):
        if role == "user":
            _append(out, "user", _user_blocks(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(out, "assistant", _assistant_blocks(message, where))
        else:
            _append(out, "user", [_tool_result(message, where)])
    return system, out


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one of the same role (tool results + user)."""
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}: expected a string or an array of parts", param=where)
    return [_part(part, f"{where}[{i}]") for i, part in enumerate(content)]


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise TranslationError(f"{where}.image_url.url: expected a string", param=where)
        inline = parse_data_url(url)
        if inline is not None:
            media_type, data = inline
            return {
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise TranslationError(
        f"{where}: content parts of type {kind!r} are not supported by anthropic", param=where
    )


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = text_of(message.get("content"), f"{where}.content")
    if text:
        blocks.append({"type": "text", "text": text})
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise TranslationError(f"{where}.tool_calls: expected an array", param=where)
    for index, call in enumerate(calls):
        function = call_function(call, where, index)
        blocks.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{index}"),
                "name": str(function.get("name", "")),
                "input": tool_arguments(function.get("arguments"), f"{where}.tool_calls[{index}]"),
            }
        )
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.tool_call_id: required", param=f"{where}.tool_call_id")
    content = message.get("content")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        result["content"] = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    else:
        result["content"] = text_of(content, f"{where}.content")
    return result


def _tools(raw: Any) -> list[dict[str, Any]]:
    tools = []
    for function in function_tools(raw):
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        entry: dict[str, Any] = {"name": function.get("name"), "input_schema": schema}
        if function.get("description"):
            entry["description"] = function["description"]
        tools.append(entry)
    return tools


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None:
        result = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        result = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise TranslationError("'tool_choice' is not valid", param="tool_choice")
    if result is not None and parallel is False:
        result["disable_parallel_tool_use"] = True
    return result


# --- the answer: Message -> OpenAI chat.completion ------------------------------------
