"""Speaking Anthropic's Messages API to callers: the reverse of ``anthropic``.

The gateway's ``/v1/messages`` front door takes a Messages request, routes it
as an OpenAI chat request (to any provider), and answers in Messages format.
These pure functions do both translations and the stream's event sequence
(``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.api.ids import random_hex
from gateway.providers.translate import TranslationError, as_int, tool_call

# OpenAI finish_reason -> Anthropic stop_reason (the reverse of the provider's table).
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic error ``type`` for each HTTP status the gateway answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_json(status: int, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": error_type(status), "message": message}}
    )


# --- the request: Messages -> OpenAI chat -----------------------------------------------


def chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat body for a Messages request (``TranslationError`` when it is invalid)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise TranslationError("model: a non-empty string is required", param="model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise TranslationError("max_tokens: a positive integer is required", param="max_tokens")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise TranslationError("messages: a non-empty array is required", param="messages")
    messages = _system(body.get("system"))
    for index, message in enumerate(raw_messages):
        messages.extend(_message(message, f"messages.{index}"))
    request: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]
    stops = body.get("stop_sequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise TranslationError("stop_sequences: an array of strings", param="stop_sequences")
        request["stop"] = stops
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        request["user"] = metadata["user_id"]
    tools = _tools(body.get("tools"))
    if tools:
        request["tools"] = tools
        _tool_choice(body.get("tool_choice"), request)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise TranslationError("stream: a boolean is expected", param="stream")
    if stream:
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    return request


def _system(system: Any) -> list[dict[str, Any]]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if isinstance(system, list):
        texts = [_text_block(block, f"system.{i}") for i, block in enumerate(system)]
        return [{"role": "system", "content": "\n\n".join(texts)}]
    raise TranslationError("system: a string or an array of text blocks", param="system")


def _text_block(block: Any, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text":
        raise TranslationError(f"{where}: a text block is expected", param=where)
    text = block.get("text")
    if not isinstance(text, str):
        raise TranslationError(f"{where}.text: a string is required", param=where)
    return text


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        raise TranslationError(f"{where}: an object is expected", param=where)
    role = message.get("role")
    content = message.get("content")
    if role not in ("user", "assistant"):
        raise TranslationError(f"{where}.role: 'user' or 'assistant' is expected", param=where)
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content: a string or an array of blocks", param=where)
    if role == "assistant":
        return [_assistant(content, where)]
    return _user(content, where)


def _user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results become ``tool`` messages, ahead of the turn's other content."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        at = f"{where}.content.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            results.extend(_tool_result(block, at))
        elif kind == "text":
            parts.append({"type": "text", "text": _text_block(block, at)})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "document":
            parts.extend(_document(block, at))
        else:
            raise TranslationError(f"{at}: blocks of type {kind!r} are not supported", param=at)
    if parts:
        results.append({"role": "user", "content": parts})
    return results


def _image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif isinstance(source, dict) and source.get("type") == "url":
        url = str(source.get("url"))
    else:
        raise TranslationError(f"{where}.source: base64 or url expected", param=where)
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """A document block as OpenAI parts: a text document (``text`` or ``content`` source)
    as text, a PDF as a ``file`` part; its title and context lead, as text."""
    raw_source = block.get("source")
    source: Mapping[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    kind = source.get("type")
    heading = "\n".join(
        str(block[field]) for field in ("title", "context") if isinstance(block.get(field), str)
    )
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise TranslationError(f"{where}.source.data: a string is required", param=where)
        return [{"type": "text", "text": f"{heading}\n\n{data}" if heading else data}]
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            texts = [content]
        elif isinstance(content, list):
            texts = [
                _text_block(item, f"{where}.source.content.{index}")
                for index, item in enumerate(content)
            ]
        else:
            raise TranslationError(f"{where}.source.content: text is required", param=where)
        text = "\n\n".join(texts)
        return [{"type": "text", "text": f"{heading}\n\n{text}" if heading else text}]
    if kind == "base64" and source.get("media_type") == "application/pdf":
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise TranslationError(f"{where}.source.data: base64 data is required", param=where)
        title = block.get("title")
        filename = title if isinstance(title, str) and title else "document.pdf"
        part = {
            "type": "file",
            "file": {"filename": filename, "file_data": f"data:application/pdf;base64,{data}"},
        }
        return [{"type": "text", "text": heading}, part] if heading else [part]
    raise TranslationError(
        f"{where}.source: a {kind or 'missing'} document source can be read only by an "
        "Anthropic deployment (this one takes text, and PDFs inline as base64)",
        param=where,
    )


def _tool_result(block: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.tool_use_id: required", param=where)
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "image":
                images.append(_image(part, f"{where}.content.{index}"))
            else:
                texts.append(_text_block(part, f"{where}.content.{index}"))
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    out: list[dict[str, Any]] = [{"role": "tool", "tool_call_id": call_id, "content": text}]
    if images:
        # OpenAI tool messages hold text only: images the tool returned follow as user content.
        out.append({"role": "user", "content": images})
    return out


def _assistant(blocks: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        at = f"{where}.content.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_text_block(block, at))
        elif kind == "tool_use":
            name = str(block.get("name"))
            calls.append(tool_call(str(block.get("id")), name, block.get("input")))
        elif kind in ("thinking", "redacted_thinking"):
            # The model's own reasoning from an earlier turn: other models cannot take it.
            continue
        else:
            raise TranslationError(f"{at}: blocks of type {kind!r} are not supported", param=at)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TranslationError("tools: an array is expected", param="tools")
    tools = []
    for index, tool in enumerate(raw):
        where = f"tools.{index}"
        if not isinstance(tool, dict):
            raise TranslationError(f"{where}: a tool object is expected", param=where)
        if tool.get("type") not in (None, "custom"):
            raise TranslationError(
                f"{where}: the server tool {tool.get('name')!r} ({tool.get('type')}) has no "
                "equivalent on a provider other than Anthropic; send it to a model group "
                "with an Anthropic deployment",
                param=where,
            )
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError(f"{where}.name: required", param=where)
        function: dict[str, Any] = {
            "name": name,
            "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(choice: Any, request: dict[str, Any]) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        request["tool_choice"] = "auto"
    elif kind == "any":
        request["tool_choice"] = "required"
    elif kind == "none":
        request["tool_choice"] = "none"
    elif kind == "tool":
        request["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        raise TranslationError("tool_choice: type auto, any, tool or none", param="tool_choice")
    if choice.get("disable_parallel_tool_use") is True:
        request["parallel_tool_calls"] = False


# --- the answer: OpenAI chat.completion -> Message --------------------------------------


def message_response(completion: Mapping[str, Any], model: str) -> dict[str, Any]:
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    reply = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = reply.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in reply.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id")),
                "name": str(function.get("name")),
                "input": tool_input(function.get("arguments")),
            }
        )
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn"),
        "stop_sequence": None,
        "usage": usage_json(completion.get("usage")),
    }


def message_id() -> str:
    return "msg_" + random_hex(16)


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as an object (models can emit broken JSON: kept, not lost)."""
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw_arguments": str(arguments)}
    return value if isinstance(value, dict) else {"value": value}


def usage_json(raw: Any) -> dict[str, int]:
    """Anthropic usage from OpenAI's: input tokens exclude the cached ones there."""
    usage = raw if isinstance(raw, dict) else {}
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        details = {}
    cached = as_int(details.get("cached_tokens"))
    written = as_int(details.get("cache_write_tokens"))
    prompt = as_int(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(0, prompt - cached - written),
        "output_tokens": as_int(usage.get("completion_tokens")),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


# --- the stream: OpenAI chunks -> Messages events ---------------------------------------


def event(kind: str, payload: Mapping[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class EventTranslator:
    """Turns OpenAI chunks, in order, into the Messages stream's events."""

    def __init__(self, model: str, input_estimate: int = 0) -> None:
        self._model = model
        # What message_start says of the input before the upstream has: OpenAI-shaped
        # streams report usage only at their end (message_delta carries the real figures).
        self._input_estimate = input_estimate
        self._started = False
        self._block = -1  # index of the open content block, -1 when none
        self._block_kind: str | None = None
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> content block index
        self._stop = "end_turn"
        self._usage: dict[str, int] = usage_json(None)

    def start(self) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage_json(None), "input_tokens": self._input_estimate},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = [] if self._started else [self.start()]
        if chunk.get("usage"):
            self._usage = usage_json(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or as_int(choice.get("index")) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._block_kind != "text":
                    out.extend(self._open("text", {"type": "text", "text": ""}))
                out.append(self._delta(self._block, {"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or []:
                out.extend(self._tool_delta(call))
            reason = choice.get("finish_reason")
            if reason:
                self._stop = STOP_REASONS.get(str(reason), "end_turn")
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = [] if self._started else [self.start()]
        out.extend(self._close())
        usage = dict(self._usage)
        out.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        out.append(event("message_stop", {"type": "message_stop"}))
        return out

    def _tool_delta(self, call: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        position = as_int(call.get("index"))
        function = call.get("function") or {}
        if position not in self._tools:
            block = {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{random_hex(12)}"),
                "name": str(function.get("name") or ""),
                "input": {},
            }
            out.extend(self._open("tool_use", block))
            self._tools[position] = self._block
        arguments = function.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            out.append(self._delta(self._tools[position], delta))
        return out

    def _open(self, kind: str, block: Mapping[str, Any]) -> list[bytes]:
        out = self._close()
        self._block += 1
        self._block_kind = kind
        out.append(
            event(
                "content_block_start",
                {"type": "content_block_start", "index": self._block, "content_block": block},
            )
        )
        return out

    def _close(self) -> list[bytes]:
        if self._block_kind is None:
            return []
        self._block_kind = None
        return [event("content_block_stop", {"type": "content_block_stop", "index": self._block})]

    def _delta(self, index: int, delta: Mapping[str, Any]) -> bytes:
        return event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
