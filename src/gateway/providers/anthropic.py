"""Anthropic's Messages API (``anthropic/...``), answering in OpenAI's format.

Everything about that wire format lives here: the request translation (system
prompt, roles, text and image parts, tools, tool results, stop sequences),
the answer and stream translation (content blocks, tool-use deltas, usage with
cache tokens, stop reasons) and the error taxonomy (``overloaded_error`` 529 is
a server error, ``rate_limit_error`` honours ``retry-after``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamBadRequest,
    UpstreamError,
    upstream_error_for_status,
)
from gateway.providers.base import Operation, StreamChunk, UpstreamCall, UpstreamResult, Usage
from gateway.providers.retry_after import parse_retry_after
from gateway.providers.sse import sse_event_batches
from gateway.providers.translate import (
    CHAT_PARAMS,
    TranslationError,
    as_int,
    call_function,
    check_params,
    conversation,
    function_tools,
    max_output_tokens,
    parse_data_url,
    stop_list,
    text_of,
    tool_call,
    usage_json,
)
from gateway.providers.transport import UpstreamPool
from gateway.providers.upstream import PrimedStream, Upstream, json_object

DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MAX_TOKENS = 4096

# The OpenAI chat parameters this translation expresses; others are refused or dropped.
SUPPORTED_PARAMS = CHAT_PARAMS | {"parallel_tool_calls", "user"}

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

_CONTEXT_WINDOW_HINTS = (
    "prompt is too long",
    "exceed context limit",
    "context window",
    "context length",
    "too many tokens",
)
_CONTENT_POLICY_HINTS = ("content filtering policy", "content policy")


class AnthropicProvider:
    """One deployment on Anthropic's Messages API."""

    def __init__(
        self,
        *,
        model: str,
        api_base: str,
        api_key: str | None,
        extra_headers: Mapping[str, str] | None,
        pool: UpstreamPool,
        deployment_id: str,
        default_max_tokens: int,
        drop_params: bool,
    ) -> None:
        self._model = model
        self._base = api_base
        self._url = api_base + "/v1/messages"
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": API_VERSION,
        }
        if api_key:
            headers["x-api-key"] = api_key
        headers.update(extra_headers or {})
        self._headers = headers
        self._max_tokens = default_max_tokens
        self._drop = drop_params
        self._upstream = Upstream(
            provider="anthropic",
            deployment=deployment_id,
            pool=pool,
            base=api_base,
            read_error=self._error,
            secrets=[api_key] if api_key else [],
        )

    @property
    def name(self) -> str:
        return "anthropic"

    @property
    def api_base(self) -> str | None:
        return self._base

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        payload = self._payload(call, stream=False)
        message = await self._upstream.post_json(self._url, payload, self._headers, call.timeout)
        body, usage = chat_completion(message, int(time.time()))
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> PrimedStream:
        payload = self._payload(call, stream=True)
        return await self._upstream.open_stream(
            self._url, payload, self._headers, call, self._chunks
        )

    def _payload(self, call: UpstreamCall, *, stream: bool) -> bytes:
        if call.operation is not Operation.CHAT:
            raise UpstreamBadRequest(
                f"anthropic serves chat completions only, not {call.operation.value} requests",
                upstream_status=400,
                deployment=self._upstream.deployment,
                code="unsupported_operation",
            )
        try:
            check_params(call.body, SUPPORTED_PARAMS, drop=self._drop, provider="anthropic")
            request = messages_request(call.body, self._model, self._max_tokens)
        except TranslationError as exc:
            raise UpstreamBadRequest(
                exc.message,
                upstream_status=400,
                deployment=self._upstream.deployment,
                param=exc.param,
                code="unsupported_parameter",
            ) from None
        if stream:
            request["stream"] = True
        return orjson.dumps(request)

    def _error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        kind, message = read_error(raw)
        message = self._upstream.redact(message) or f"anthropic returned HTTP {status}"
        deployment = self._upstream.deployment
        lowered = message.lower()
        if status in (400, 413):
            if any(hint in lowered for hint in _CONTEXT_WINDOW_HINTS):
                return ContextWindowExceeded(message, upstream_status=400, deployment=deployment)
            if any(hint in lowered for hint in _CONTENT_POLICY_HINTS):
                return ContentPolicyViolation(message, upstream_status=400, deployment=deployment)
        return upstream_error_for_status(
            status,
            message,
            deployment=deployment,
            code=kind,
            retry_after=parse_retry_after(headers),
        )

    async def _chunks(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamChunk, None]:
        translator = StreamTranslator(int(time.time()))
        async for events in sse_event_batches(response.content):
            for event in events:
                data = json_object(event.data)
                if data is None:
                    raise self._upstream.interrupted("an event was not a JSON object")
                if data.get("type") == "error":
                    kind, message = read_error(event.data)
                    raise self._stream_error(kind, message)
                for chunk in translator.feed(data):
                    yield chunk
                if translator.done:
                    return
        raise self._upstream.interrupted("the stream ended before message_stop")

    def _stream_error(self, kind: str | None, message: str) -> UpstreamError:
        status = {
            "overloaded_error": 529,
            "api_error": 500,
            "rate_limit_error": 429,
            "invalid_request_error": 400,
            "authentication_error": 401,
            "permission_error": 403,
            "not_found_error": 404,
            "request_too_large": 413,
            "timeout_error": 504,
        }.get(kind or "", 500)
        return self._error(status, orjson.dumps({"error": {"type": kind, "message": message}}), {})


def read_error(raw: bytes) -> tuple[str | None, str]:
    """(error type, message) of Anthropic's ``{"type": "error", "error": {...}}`` body."""
    body = json_object(raw)
    if body is None:
        return None, raw[:500].decode("utf-8", "replace").strip()
    error = body.get("error")
    if not isinstance(error, dict):
        return None, str(body)[:500]
    kind = error.get("type")
    return (str(kind) if kind else None), str(error.get("message") or "")


# --- the request: OpenAI chat -> Messages ---------------------------------------------


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
                "input": _arguments(function.get("arguments"), f"{where}.tool_calls[{index}]"),
            }
        )
    return blocks


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise TranslationError(f"{where}.function.arguments: not valid JSON", param=where) from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where}.function.arguments: must be a JSON object", param=where)
    return value


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


def chat_completion(message: Mapping[str, Any], created: int) -> tuple[dict[str, Any], Usage]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(tool_call(block.get("id"), block.get("name"), block.get("input")))
    reply: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text or not calls else None,
        "refusal": None,
    }
    if calls:
        reply["tool_calls"] = calls
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
        "usage": usage_json(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens),
        "system_fingerprint": None,
    }
    return body, usage


def usage_of(raw: Any) -> Usage:
    """OpenAI's view of Anthropic usage: prompt tokens include cache reads and writes."""
    usage = raw if isinstance(raw, dict) else {}
    cache_read = as_int(usage.get("cache_read_input_tokens"))
    prompt = (
        as_int(usage.get("input_tokens"))
        + cache_read
        + as_int(usage.get("cache_creation_input_tokens"))
    )
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=as_int(usage.get("output_tokens")),
        cached_tokens=cache_read,
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
            body["usage"] = usage_json(
                usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
            )
            return [StreamChunk(data=orjson.dumps(body), usage=usage, usage_only=True)]
        # ping, content_block_stop and event types added later carry nothing for OpenAI.
        return []

    def _block_start(self, index: int, block: Mapping[str, Any]) -> list[StreamChunk]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
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
