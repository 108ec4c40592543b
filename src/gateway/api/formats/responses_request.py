"""A Responses API request: what the gateway checks, and its translation into OpenAI chat.

``check_request`` validates the fields the gateway itself reads (on both paths:
a native upstream gets the body as it is, so nothing else is checked there).
``input_items`` turns ``input`` into the list of items it stands for. ``chat_request``
builds the chat body a translated deployment is sent: the conversation so far
(from a stored ``previous_response_id``) and this turn's items become ``messages``,
and each setting its chat counterpart. A setting chat cannot express raises
``TranslationError`` naming the Responses field, unless ``drop_params`` is on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.api.formats import thinking_carry
from gateway.api.parse import json_type
from gateway.providers.translate import TranslationError

# Fields the gateway acts on itself: they never reach a translated provider.
GATEWAY_FIELDS = frozenset(
    {"store", "previous_response_id", "include", "metadata", "stream_options", "background"}
)
# Fields with a chat counterpart (or none needed); anything else cannot be translated.
TRANSLATED_FIELDS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "top_logprobs",
        "reasoning",
        "text",
        "stream",
        "prompt_cache_key",
        "service_tier",
        "user",
        "safety_identifier",
        "truncation",
    }
)
# Chat parameter -> the Responses field it came from, to name it in errors.
RESPONSES_NAMES = {
    "max_tokens": "max_output_tokens",
    "response_format": "text.format",
    "verbosity": "text.verbosity",
    "reasoning_effort": "reasoning.effort",
    "parallel_tool_calls": "parallel_tool_calls",
    "tool_choice": "tool_choice",
    "top_logprobs": "top_logprobs",
    "logprobs": "top_logprobs",
}
MESSAGE_ROLES = ("user", "assistant", "system", "developer")


def check_request(body: Mapping[str, Any]) -> tuple[str, bool, bool, str | None]:
    """(model, stream, store, previous_response_id); ``TranslationError`` when invalid."""
    model = body.get("model")
    if model is None:
        raise TranslationError("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise TranslationError(
            f"Invalid type for 'model': expected a non-empty string, got {json_type(model)}.",
            param="model",
        )
    raw_input = body.get("input")
    if raw_input is not None and not isinstance(raw_input, (str, list)):
        raise TranslationError(
            f"Invalid type for 'input': expected a string or an array of input items, "
            f"got {json_type(raw_input)}.",
            param="input",
        )
    if isinstance(raw_input, list):
        for index, item in enumerate(raw_input):
            if not isinstance(item, dict):
                raise TranslationError(
                    f"Invalid type for 'input[{index}]': expected an object, "
                    f"got {json_type(item)}.",
                    param=f"input[{index}]",
                )
    stream = _flag(body, "stream", default=False)
    store = _flag(body, "store", default=True)
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise TranslationError(
            "Invalid 'previous_response_id': expected a response id string.",
            param="previous_response_id",
        )
    for name in ("tools", "include"):
        value = body.get(name)
        if value is not None and not isinstance(value, list):
            raise TranslationError(
                f"Invalid type for '{name}': expected an array, got {json_type(value)}.",
                param=name,
            )
    for name in ("instructions",):
        value = body.get(name)
        if value is not None and not isinstance(value, (str, list)):
            raise TranslationError(
                f"Invalid type for '{name}': expected a string, got {json_type(value)}.",
                param=name,
            )
    return model, stream, store, previous


def _flag(body: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TranslationError(
            f"Invalid type for '{name}': expected a boolean, got {json_type(value)}.", param=name
        )
    return value


def input_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """This turn's input as items (a string is one user message)."""
    raw = body.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [dict(item) for item in raw]


def chat_request(
    body: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    drop: bool,
    thinking: bool = False,
) -> dict[str, Any]:
    """The OpenAI chat body for a Responses request whose whole conversation is ``items``.
    With ``thinking`` (an Anthropic deployment), the signed thinking blocks a reasoning
    item carries go back as the ``thinking_blocks`` of the assistant turn after it."""
    if not drop:
        for name, value in body.items():
            if value is None or name in TRANSLATED_FIELDS or name in GATEWAY_FIELDS:
                continue
            raise TranslationError(
                f"The parameter {name!r} has no equivalent on this deployment, which is served "
                "through chat completions. Remove it, or set litellm_settings.drop_params: true.",
                param=name,
            )
    chat: dict[str, Any] = {"model": body["model"]}
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        messages.extend(_messages(instructions, "instructions", thinking=False))
    messages.extend(_messages(items, "input", thinking=thinking))
    if not messages:
        raise TranslationError("Missing required parameter: 'input'.", param="input")
    chat["messages"] = messages
    tools = _tools(body.get("tools"), drop=drop)
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if choice is not None:
            chat["tool_choice"] = _tool_choice(choice)
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    _copy(body, chat, "temperature", "top_p", "prompt_cache_key", "service_tier")
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("top_logprobs") is not None:
        chat["logprobs"] = True
        chat["top_logprobs"] = body["top_logprobs"]
    user = body.get("user") or body.get("safety_identifier")
    if user is not None:
        chat["user"] = user
    _reasoning(body.get("reasoning"), chat)
    _text(body.get("text"), chat)
    truncation = body.get("truncation")
    if truncation not in (None, "disabled") and not drop:
        raise TranslationError(
            "truncation: 'auto' has no equivalent on a deployment served through chat "
            "completions; the request is sent whole. Remove it, or set drop_params.",
            param="truncation",
        )
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _copy(source: Mapping[str, Any], target: dict[str, Any], *names: str) -> None:
    for name in names:
        value = source.get(name)
        if value is not None:
            target[name] = value


def _reasoning(raw: Any, chat: dict[str, Any]) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise TranslationError("'reasoning' must be an object", param="reasoning")
    effort = raw.get("effort")
    if effort is not None:
        chat["reasoning_effort"] = effort


def _text(raw: Any, chat: dict[str, Any]) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise TranslationError("'text' must be an object", param="text")
    verbosity = raw.get("verbosity")
    if verbosity is not None:
        chat["verbosity"] = verbosity
    fmt = raw.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
        return
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        schema: dict[str, Any] = {"name": fmt.get("name") or "response"}
        for name in ("schema", "strict", "description"):
            if fmt.get(name) is not None:
                schema[name] = fmt[name]
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
        return
    raise TranslationError(
        f"text.format.type: {kind!r} is not one of text, json_object, json_schema",
        param="text.format",
    )


def _tools(raw: Any, *, drop: bool) -> list[dict[str, Any]]:
    if not raw:
        return []
    tools = []
    for index, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            if drop:
                continue
            raise TranslationError(
                f"tools[{index}]: the tool type {kind!r} is served only by deployments with "
                "the Responses API itself (openai/, azure/, or model_info.supported_endpoints "
                "with /v1/responses); this one is served through chat completions, where only "
                "function tools exist.",
                param=f"tools[{index}].type",
            )
        assert isinstance(tool, dict)
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError(
                f"Missing required parameter: 'tools[{index}].name'.", param=f"tools[{index}].name"
            )
        function: dict[str, Any] = {"name": name}
        for field in ("description", "parameters", "strict"):
            if tool.get(field) is not None:
                function[field] = tool[field]
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise TranslationError(
        "tool_choice: only 'auto', 'none', 'required' or a function "
        "({'type': 'function', 'name': ...}) can be expressed through chat completions",
        param="tool_choice",
    )


# --- items -> chat messages -------------------------------------------------------------


def _messages(
    items: Sequence[Mapping[str, Any]], where: str, *, thinking: bool
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    # Thinking blocks from a reasoning item, waiting for the assistant turn they lead.
    blocks: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        path = f"{where}[{index}]"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, path))
            if blocks and messages[-1]["role"] == "assistant":
                messages[-1]["thinking_blocks"], blocks = blocks, []
        elif kind == "function_call":
            call = {
                "id": _required_str(item, "call_id", path),
                "type": "function",
                "function": {
                    "name": _required_str(item, "name", path),
                    "arguments": str(item.get("arguments") or "{}"),
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and not blocks:
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
                if blocks:
                    messages[-1]["thinking_blocks"], blocks = blocks, []
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": _required_str(item, "call_id", path),
                    "content": _output_text(item.get("output"), f"{path}.output"),
                }
            )
        elif kind == "reasoning":
            # The model's own reasoning from an earlier turn: chat takes none back, but
            # Anthropic takes its signed thinking blocks, which this gateway made.
            carried = thinking_carry.decode(item.get("encrypted_content")) if thinking else None
            if carried:
                blocks = [*blocks, *carried]
        else:
            raise TranslationError(
                f"{path}.type: the input item type {kind!r} can be sent only to a deployment "
                "with the Responses API itself; this one is served through chat completions.",
                param=f"{path}.type",
            )
    return messages


def _message(item: Mapping[str, Any], path: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in MESSAGE_ROLES:
        raise TranslationError(
            f"{path}.role: {role!r} is not one of {', '.join(MESSAGE_ROLES)}", param=f"{path}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise TranslationError(
            f"{path}.content: expected a string or an array of content parts",
            param=f"{path}.content",
        )
    parts = [_part(part, f"{path}.content[{i}]", str(role)) for i, part in enumerate(content)]
    if role != "user" and all(part["type"] == "text" for part in parts):
        # System, developer and assistant turns take text only on most chat upstreams.
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, path: str, role: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if role == "user" and kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise TranslationError(
                f"{path}: an input_image needs image_url here (file_id needs the Responses API "
                "itself)",
                param=f"{path}.image_url",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") is not None:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if role == "user" and kind == "input_file":
        file: dict[str, Any] = {}
        for field in ("file_data", "file_id", "filename"):
            if part.get(field) is not None:
                file[field] = part[field]
        if "file_data" not in file and "file_id" not in file:
            raise TranslationError(
                f"{path}: an input_file needs file_data or file_id here", param=path
            )
        return {"type": "file", "file": file}
    raise TranslationError(
        f"{path}.type: {kind!r} is not a content part a {role} message can carry here",
        param=f"{path}.type",
    )


def _output_text(output: Any, path: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("input_text", "output_text", "text"):
                raise TranslationError(
                    f"{path}[{index}]: only text can be returned as a tool output here",
                    param=f"{path}[{index}]",
                )
            texts.append(str(part.get("text") or ""))
        return "".join(texts)
    raise TranslationError(f"{path}: expected a string", param=path)


def _required_str(item: Mapping[str, Any], name: str, path: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise TranslationError(f"Missing required parameter: '{path}.{name}'.", param=path)
    return value
