"""OpenAI chat requests as Amazon Bedrock Converse requests.

The system prompt (system and developer messages) as ``system`` text blocks, the
turns as ``messages`` with ``text``, ``image`` (inline data only: Converse takes
bytes, not URLs), ``toolUse`` and ``toolResult`` blocks (a tool result is part of
the next user turn), ``inferenceConfig`` (``maxTokens``, ``temperature``,
``topP``, ``stopSequences``) and ``toolConfig`` (``toolSpec`` with its JSON
schema; ``tool_choice`` as ``auto`` / ``any`` / ``tool``). Converse has no
"none" tool choice, so ``tool_choice: "none"`` leaves the tools out.
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
SUPPORTED_PARAMS = (CHAT_PARAMS - {"top_k"}) | {"user"}
# Converse's image formats, by the media type of a data URL.
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def converse_request(body: Mapping[str, Any], default_max_tokens: int) -> dict[str, Any]:
    """The Converse request (its body; the model is in the URL) for a chat body."""
    system, messages = _messages(body.get("messages"))
    inference: dict[str, Any] = {"maxTokens": max_output_tokens(body) or default_max_tokens}
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    stops = stop_list(body.get("stop"))
    if stops:
        inference["stopSequences"] = stops
    request: dict[str, Any] = {"messages": messages, "inferenceConfig": inference}
    if system:
        request["system"] = [{"text": text} for text in system]
    tools = _tools(body.get("tools"))
    choice = body.get("tool_choice")
    if tools and choice != "none":
        config: dict[str, Any] = {"tools": tools}
        converse_choice = _tool_choice(choice)
        if converse_choice is not None:
            config["toolChoice"] = converse_choice
        request["toolConfig"] = config
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
    """Add a turn, merged into the previous one of the same role (Converse alternates)."""
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}: expected a string or an array of parts", param=where)
    return [_part(part, f"{where}[{i}]") for i, part in enumerate(content)]


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        inline = parse_data_url(url) if isinstance(url, str) else None
        if inline is None:
            raise TranslationError(
                f"{where}.image_url.url: bedrock takes images as data: URLs only", param=where
            )
        media_type, data = inline
        image_format = IMAGE_FORMATS.get(media_type)
        if image_format is None:
            raise TranslationError(
                f"{where}.image_url.url: {media_type} is not an image format bedrock takes "
                f"({', '.join(IMAGE_FORMATS)})",
                param=where,
            )
        # Converse's JSON carries the bytes base64-encoded, as the data URL has them.
        return {"image": {"format": image_format, "source": {"bytes": data}}}
    raise TranslationError(
        f"{where}: content parts of type {kind!r} are not supported by bedrock", param=where
    )


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = text_of(message.get("content"), f"{where}.content")
    if text:
        blocks.append({"text": text})
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise TranslationError(f"{where}.tool_calls: expected an array", param=where)
    for index, call in enumerate(calls):
        function = call_function(call, where, index)
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": str(call.get("id") or f"tooluse_{index}"),
                    "name": str(function.get("name", "")),
                    "input": tool_arguments(
                        function.get("arguments"), f"{where}.tool_calls[{index}]"
                    ),
                }
            }
        )
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.tool_call_id: required", param=f"{where}.tool_call_id")
    text = text_of(message.get("content"), f"{where}.content")
    return {"toolResult": {"toolUseId": call_id, "content": [{"text": text}]}}


def _tools(raw: Any) -> list[dict[str, Any]]:
    tools = []
    for function in function_tools(raw):
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        spec: dict[str, Any] = {"name": function.get("name"), "inputSchema": {"json": schema}}
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
    return tools


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"tool": {"name": choice["function"].get("name")}}
    raise TranslationError("'tool_choice' is not valid", param="tool_choice")
