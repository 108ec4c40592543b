"""OpenAI chat requests as Anthropic Messages requests.

The system prompt (system and developer messages), roles merged into
alternating turns, text and image parts, tool calls and tool results as
``tool_use`` / ``tool_result`` blocks, tools, ``tool_choice``, stop sequences
and ``max_tokens`` (Anthropic requires it). A parameter it cannot express is
refused (or dropped with ``drop_params``) by ``check_params``.

Prompt-caching breakpoints are kept as clients send them in the OpenAI format
(Cursor, LangChain, LiteLLM's convention): ``cache_control`` on a content part,
on a whole message (its last block), on a system message, or on a tool; each
becomes the same ``cache_control`` on the Anthropic block, so a repeated prefix
is read from Anthropic's cache instead of billed in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.providers.anthropic_thinking import Thinking
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
# ``thinking`` is Anthropic's own, taken as it is (LiteLLM accepts it on chat too).
SUPPORTED_PARAMS = CHAT_PARAMS | {"parallel_tool_calls", "user", "reasoning_effort", "thinking"}


def messages_request(
    body: Mapping[str, Any], model: str, default_max_tokens: int, thinking: Thinking
) -> dict[str, Any]:
    """The Messages API request for an OpenAI chat-completions body."""
    system, messages = _messages(body.get("messages"))
    request: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_output_tokens(body) or default_max_tokens,
    }
    if system:
        plain = len(system) == 1 and "cache_control" not in system[0]
        request["system"] = system[0]["text"] if plain else system
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
    if isinstance(body.get("thinking"), dict):
        request["thinking"] = body["thinking"]
    elif body.get("reasoning_effort") is not None:
        thinking.apply(body["reasoning_effort"], request)
    return request


def _messages(raw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    for where, role, message in conversation(raw, []):
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        else:
            blocks = [_tool_result(message, where)]
        _mark_last(blocks, message)
        _append(out, "assistant" if role == "assistant" else "user", blocks)
    return _system(raw), out


def _system(raw: list[Any]) -> list[dict[str, Any]]:
    """The system and developer messages as text blocks, their breakpoints kept."""
    blocks: list[dict[str, Any]] = []
    for index, message in enumerate(raw):
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer"):
            continue
        content = message.get("content")
        own: list[dict[str, Any]] = []
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and part.get("text"):
                    own.append(_with_cache({"type": "text", "text": str(part["text"])}, part))
        else:
            text = text_of(content, f"messages[{index}].content")
            if text:
                own.append({"type": "text", "text": text})
        _mark_last(own, message)
        blocks.extend(own)
    return blocks


def cache_control(source: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``cache_control`` breakpoint ``source`` carries, in Anthropic's form."""
    raw = source.get("cache_control")
    if not isinstance(raw, dict) or raw.get("type") != "ephemeral":
        return None
    breakpoint_: dict[str, Any] = {"type": "ephemeral"}
    if raw.get("ttl") in ("5m", "1h"):
        breakpoint_["ttl"] = raw["ttl"]
    return breakpoint_


def _with_cache(block: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    found = cache_control(source)
    if found is not None:
        block["cache_control"] = found
    return block


def _mark_last(blocks: list[dict[str, Any]], message: Mapping[str, Any]) -> None:
    """A message's own ``cache_control`` marks its last block (unless that has one)."""
    if blocks and "cache_control" not in blocks[-1]:
        _with_cache(blocks[-1], message)


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
        return _with_cache({"type": "text", "text": str(part.get("text", ""))}, part)
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise TranslationError(f"{where}.image_url.url: expected a string", param=where)
        inline = parse_data_url(url)
        if inline is not None:
            media_type, data = inline
            source = {"type": "base64", "media_type": media_type, "data": data}
        else:
            source = {"type": "url", "url": url}
        return _with_cache({"type": "image", "source": source}, part)
    raise TranslationError(
        f"{where}: content parts of type {kind!r} are not supported by anthropic", param=where
    )


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    # Thinking sent back as it came (with its signature) leads the turn, as Anthropic
    # requires of a turn that used tools while thinking.
    blocks: list[dict[str, Any]] = [
        dict(block)
        for block in message.get("thinking_blocks") or []
        if isinstance(block, dict) and block.get("type") in ("thinking", "redacted_thinking")
    ]
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
    for tool, function in zip(raw or [], function_tools(raw), strict=True):
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        entry: dict[str, Any] = {"name": function.get("name"), "input_schema": schema}
        if function.get("description"):
            entry["description"] = function["description"]
        # A breakpoint on the tool (LiteLLM's place) or on its function object.
        tools.append(
            _with_cache(entry, tool) if "cache_control" in tool else _with_cache(entry, function)
        )
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
