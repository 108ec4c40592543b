"""A mock of Anthropic's Messages API (``POST /v1/messages``), strict about what it accepts.

Requests are checked against the documented schema (headers ``x-api-key`` and
``anthropic-version: 2023-06-01``; fields, types and block shapes; every
``tool_use`` answered by a ``tool_result`` in the next turn). Replies follow
the API reference: a Message, or the stream's event sequence with ``ping``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from support.mock_server import MockServer, split, wait_event, write_sse
from support.schema import (
    Check,
    any_object,
    array,
    boolean,
    either,
    integer,
    number,
    obj,
    string,
    tagged,
    validate,
)

API_KEY = "sk-ant-api03-mock-key-for-tests"
# The API versions the real API takes; the latest refuses what its migration guide says.
LATEST = "2026-10-21"
VERSIONS = ("2023-06-01", LATEST)
VERTEX_VERSION = "vertex-2023-10-16"
MODEL = "claude-sonnet-4-5-20250929"


@dataclass(frozen=True)
class Text:
    content: str = "Hello! How can I help you today?"
    input_tokens: int = 25
    output_tokens: int = 12
    cache_read: int = 0
    cache_creation: int = 0
    cache_creation_1h: int = 0  # the part of cache_creation written with ttl "1h"
    service_tier: str = "standard"
    stop_reason: str = "end_turn"
    chunks: int = 3
    # Streaming: the last text delta waits for this event (bounded).
    hold_last: threading.Event | None = None
    # Streaming: an ``error`` event (this type) after the first text delta.
    error_mid_stream: str | None = None


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str = "toolu_01A09q90qw90lq917835lq9"
    preamble: str = "Let me check that for you."
    input_tokens: int = 384
    output_tokens: int = 57


@dataclass(frozen=True)
class Blocks:
    """An answer made of the content blocks given, sent as they are: thinking and
    redacted thinking, server tool use and its results, text with citations. Streamed
    with each block type's own events (``thinking_delta`` then ``signature_delta``,
    ``input_json_delta``, ``citations_delta``, ...). The signatures of its thinking
    blocks are remembered: a later request may send them back, and only them."""

    content: tuple[dict[str, Any], ...]
    input_tokens: int = 40
    output_tokens: int = 30
    cache_read: int = 0
    cache_creation: int = 0
    cache_creation_1h: int = 0  # the part of cache_creation written with ttl "1h"
    server_tool_use: dict[str, int] | None = None
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class Error:
    status: int
    kind: str
    message: str
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


# --- the documented request schema -------------------------------------------------------


def _null(value: Any, path: str, problems: list[str]) -> None:
    if value is not None:
        problems.append(f"{path}: expected null")


_CACHE = obj({"type": string(enum=("ephemeral",))}, {"ttl": string(enum=("5m", "1h"))})
_TEXT = obj(
    {"type": string(enum=("text",)), "text": string(non_empty=True)},
    {"cache_control": _CACHE, "citations": array(any_object())},
)
_SOURCE = tagged(
    "type",
    {
        "base64": obj(
            {
                "type": string(),
                "media_type": string(enum=("image/jpeg", "image/png", "image/gif", "image/webp")),
                "data": string(non_empty=True),
            }
        ),
        "url": obj({"type": string(), "url": string(prefix="http")}),
    },
)
_IMAGE = obj({"type": string(enum=("image",)), "source": _SOURCE}, {"cache_control": _CACHE})
_TOOL_USE = obj(
    {
        "type": string(enum=("tool_use",)),
        "id": string(non_empty=True),
        "name": string(non_empty=True),
        "input": any_object(),
    },
    {"cache_control": _CACHE},
)
_TOOL_RESULT = obj(
    {"type": string(enum=("tool_result",)), "tool_use_id": string(non_empty=True)},
    {
        "content": either(string(), array(tagged("type", {"text": _TEXT, "image": _IMAGE}))),
        "is_error": boolean(),
        "cache_control": _CACHE,
    },
)
_THINKING = obj({"type": string(), "thinking": string(), "signature": string()})
_REDACTED = obj({"type": string(), "data": string(non_empty=True)})
_SERVER_TOOL_USE = obj(
    {"type": string(), "id": string(prefix="srvtoolu_"), "name": string(), "input": any_object()},
    {"cache_control": _CACHE},
)
_SEARCH_RESULT = obj(
    {"type": string(enum=("web_search_result",)), "url": string(), "title": string()},
    {"encrypted_content": string(), "page_age": either(string(), _null)},
)
_SEARCH_RESULTS = obj(
    {"type": string(), "tool_use_id": string(prefix="srvtoolu_"), "content": array(_SEARCH_RESULT)},
    {"cache_control": _CACHE},
)
_DOCUMENT = obj(
    {"type": string(enum=("document",)), "source": any_object()},
    {"cache_control": _CACHE, "title": string(), "context": string(), "citations": any_object()},
)
_USER_BLOCK = tagged(
    "type",
    {"text": _TEXT, "image": _IMAGE, "tool_result": _TOOL_RESULT, "document": _DOCUMENT},
)
_ASSISTANT_BLOCK = tagged(
    "type",
    {
        "text": _TEXT,
        "tool_use": _TOOL_USE,
        "thinking": _THINKING,
        "redacted_thinking": _REDACTED,
        "server_tool_use": _SERVER_TOOL_USE,
        "web_search_tool_result": _SEARCH_RESULTS,
    },
)


def _message(value: Any, path: str, problems: list[str]) -> None:
    role = value.get("role") if isinstance(value, dict) else None
    block = _ASSISTANT_BLOCK if role == "assistant" else _USER_BLOCK
    obj(
        {
            "role": string(enum=("user", "assistant")),
            "content": either(string(), array(block, min_items=1)),
        }
    )(value, path, problems)


def _input_schema(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict) or value.get("type") != "object":
        problems.append(f"{path}: must be a JSON schema with type 'object'")


def _tool(value: Any, path: str, problems: list[str]) -> None:
    """A custom tool (a name and an input schema), or a server tool (its versioned type)."""
    kind = value.get("type") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind.startswith("web_search_"):
        obj(
            {"type": string(), "name": string(enum=("web_search",))},
            {
                "max_uses": integer(minimum=1),
                "allowed_domains": array(string()),
                "blocked_domains": array(string()),
                "cache_control": _CACHE,
            },
        )(value, path, problems)
        return
    obj(
        {"name": string(non_empty=True), "input_schema": _input_schema},
        {"description": string(), "cache_control": _CACHE, "type": string(enum=("custom",))},
    )(value, path, problems)


_PARALLEL = {"disable_parallel_tool_use": boolean()}
REQUEST: Check = obj(
    {
        "model": string(non_empty=True),
        "messages": array(_message, min_items=1),
        "max_tokens": integer(minimum=1),
    },
    {
        "system": either(string(), array(_TEXT)),
        "metadata": obj({}, {"user_id": string()}),
        "stop_sequences": array(string()),
        "stream": boolean(),
        "temperature": number(minimum=0, maximum=1),
        "top_p": number(minimum=0, maximum=1),
        "top_k": integer(minimum=0),
        "tools": array(_tool),
        "thinking": tagged(
            "type",
            {
                "enabled": obj({"type": string(), "budget_tokens": integer(minimum=1024)}),
                "disabled": obj({"type": string()}),
                "adaptive": obj({"type": string()}, {"display": string()}),
            },
        ),
        "output_config": obj({}, {"effort": string(enum=("low", "medium", "high", "max"))}),
        "tool_choice": tagged(
            "type",
            {
                "auto": obj({"type": string()}, _PARALLEL),
                "any": obj({"type": string()}, _PARALLEL),
                "tool": obj({"type": string(), "name": string(non_empty=True)}, _PARALLEL),
                "none": obj({"type": string()}),
            },
        ),
        "service_tier": string(enum=("auto", "standard_only")),
    },
)


# count_tokens takes what shapes the prompt, not how it is sampled (no max_tokens).
COUNT_REQUEST: Check = obj(
    {"model": string(non_empty=True), "messages": array(_message, min_items=1)},
    {"system": either(string(), array(_TEXT)), "tools": array(_tool), "thinking": any_object()},
)


def conversation_problems(body: dict[str, Any]) -> list[str]:
    """The API's turn rules: tool uses answered next turn, results only for asked tools."""
    problems = []
    messages = body.get("messages") or []
    for index, message in enumerate(messages):
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        if message.get("role") == "assistant":
            asked = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
            if not asked:
                continue
            following = messages[index + 1] if index + 1 < len(messages) else None
            answered = set()
            if following is not None and isinstance(following.get("content"), list):
                answered = {
                    b.get("tool_use_id")
                    for b in following["content"]
                    if b.get("type") == "tool_result"
                }
            if following is not None and asked - answered:
                problems.append(
                    f"messages.{index + 1}: tool_use ids were found without tool_result blocks "
                    f"immediately after: {sorted(asked - answered)}"
                )
        else:
            previous = messages[index - 1] if index else None
            asked = set()
            if previous is not None and isinstance(previous.get("content"), list):
                asked = {b.get("id") for b in previous["content"] if b.get("type") == "tool_use"}
            for block in blocks:
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in asked:
                    problems.append(
                        f"messages.{index}: unexpected tool_use_id {block.get('tool_use_id')!r} "
                        "in tool_result blocks"
                    )
    if "tool_choice" in body and not body.get("tools"):
        problems.append("tool_choice: may only be specified while providing tools")
    return problems


ADAPTIVE_ONLY = ("claude-opus-4-7", "claude-opus-5", "claude-sonnet-5", "claude-haiku-5")


def thinking_problems(body: dict[str, Any]) -> list[str]:
    """The thinking rules: a budget below max_tokens, no budget where the model thinks
    adaptively only (Opus 4.7 and later), and a tool loop continued with the thinking
    block that opened its assistant turn."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return []
    problems = _tool_turn_problems(body.get("messages"))
    if problems or thinking.get("type") == "adaptive":
        return problems
    if str(body.get("model", "")).startswith(ADAPTIVE_ONLY):
        return ["thinking.type.enabled is not supported for this model; use adaptive"]
    if thinking.get("budget_tokens", 0) >= body.get("max_tokens", 0):
        return ["max_tokens: must be greater than thinking.budget_tokens"]
    return []


def _tool_turn_problems(messages: Any) -> list[str]:
    """With thinking on, the assistant turn before the last tool results must start with
    its thinking (or redacted thinking) block, as Anthropic checks."""
    if not isinstance(messages, list) or len(messages) < 2:
        return []
    last = messages[-1]
    content = last.get("content") if isinstance(last, dict) else None
    if not isinstance(content, list) or not any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return []
    index = len(messages) - 2
    turn = messages[index].get("content") if isinstance(messages[index], dict) else None
    first = turn[0] if isinstance(turn, list) and turn else None
    found = first.get("type") if isinstance(first, dict) else "text"
    if found in ("thinking", "redacted_thinking"):
        return []
    return [
        f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
        f"found `{found}`. When `thinking` is enabled, a final `assistant` message must "
        "start with a thinking block (preceeding the lastmost set of `tool_use` and "
        "`tool_result` blocks). We recommend you include thinking blocks from previous turns."
    ]


def latest_version_problems(body: dict[str, Any]) -> list[str]:
    """What API version 2026-10-21 refuses and 2023-06-01 took: sampling parameters,
    document blocks in assistant turns, citations on user text blocks."""
    problems = [
        f"{name}: is not supported in API version {LATEST}"
        for name in ("temperature", "top_p", "top_k")
        if name in body
    ]
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        for position, block in enumerate(content if isinstance(content, list) else []):
            where = f"messages.{index}.content.{position}"
            if message.get("role") == "assistant" and block.get("type") == "document":
                problems.append(f"{where}: document blocks are not allowed in assistant turns")
            if (
                message.get("role") == "user"
                and block.get("type") == "text"
                and block.get("citations")
            ):
                problems.append(f"{where}: citations are not allowed on user text blocks")
    return problems


# --- the server --------------------------------------------------------------------------


def claude_deployment(group: str, model: str, base: str, **info: Any) -> dict[str, Any]:
    """A ``model_list`` entry for an ``anthropic/`` deployment on this mock at ``base``."""
    return {
        "model_name": group,
        "litellm_params": {"model": f"anthropic/{model}", "api_base": base, "api_key": API_KEY},
        "model_info": {"id": group, **info},
    }


class MockAnthropic(MockServer):
    name = "mock-anthropic"

    def __init__(
        self,
        betas: frozenset[str] | None = None,
        vertex_token: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__()
        # Claude on Vertex AI: which Google access tokens are valid (the OAuth mock's).
        self._vertex_token = vertex_token
        self._serial = 0
        # The anthropic-beta flags this upstream knows (None: any), as an
        # Anthropic-compatible host that lacks some refuses the request naming one.
        self._betas = betas
        # What this mock signed (thinking signatures, redacted thinking data): a request
        # may send back only these, as the real API checks.
        self._signed: set[str] = set()

    def default_behaviour(self) -> Any:
        return Text()

    @property
    def api_base(self) -> str:
        return self.origin

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{action}",
            self._vertex,
        )

    @property
    def vertex_base(self) -> str:
        return self.origin + "/v1"

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        """Claude on Vertex AI: the Messages API at ``{model}:rawPredict`` (and
        ``:streamRawPredict``), the version in the body, a Google access token."""
        recorded, behaviour = await self.record(request)
        auth = recorded.headers.get("authorization", "")
        valid = self._vertex_token
        if valid is None or not auth.startswith("Bearer ") or not valid(auth[7:]):
            self.violation(f"Vertex request without a valid access token: {auth[:30]!r}")
            return _error(Error(401, "authentication_error", "invalid access token"))
        model, _, method = request.match_info["action"].partition(":")
        body = recorded.body if isinstance(recorded.body, dict) else {}
        problems = []
        counting = model == "count-tokens"  # its body names the model, without a version
        if counting and not body.get("model"):
            problems.append("model: Field required")
        if not counting and body.get("anthropic_version") != VERTEX_VERSION:
            problems.append(f"anthropic_version: must be {VERTEX_VERSION!r}")
        if "model" in body and not counting:
            problems.append("model: Extra inputs are not permitted")
        if method not in ("rawPredict", "streamRawPredict"):
            problems.append(f"no such method {method!r}")
        elif (method == "streamRawPredict") != bool(body.get("stream")) and not counting:
            problems.append(f"{method}: stream must be {method == 'streamRawPredict'}")
        if self.violated(problems):
            return _error(Error(400, "invalid_request_error", "; ".join(problems)))
        shaped = {k: v for k, v in body.items() if k != "anthropic_version"}
        if counting:
            tokens = len(json.dumps(shaped.get("messages"))) // 3 + 7
            return web.json_response({"input_tokens": tokens})
        return await self._answer_messages(
            request, {**shaped, "model": model}, behaviour, VERSIONS[0]
        )

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        """Anthropic's token count: its own figure (here: the messages' JSON size / 3 + 7,
        unlike any estimate the gateway makes). Sampling settings are refused, as there."""
        recorded, behaviour = await self.record(request)
        if recorded.headers.get("x-api-key") != API_KEY:
            self.violation("count_tokens: x-api-key is not the deployment's")
            return _error(Error(401, "authentication_error", "invalid x-api-key"))
        if recorded.headers.get("anthropic-version") not in VERSIONS:
            self.violation(
                f"count_tokens: anthropic-version {recorded.headers.get('anthropic-version')!r}"
            )
            return _error(
                Error(400, "invalid_request_error", "anthropic-version header is required")
            )
        body = recorded.body if isinstance(recorded.body, dict) else {}
        problems = validate(COUNT_REQUEST, body)
        if problems:
            return _error(Error(400, "invalid_request_error", "; ".join(problems)))
        if isinstance(behaviour, Error):
            return _error(behaviour)
        tokens = len(json.dumps(body["messages"])) // 3 + 7
        return web.json_response({"input_tokens": tokens}, headers={"request-id": "req_mock"})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        recorded, behaviour = await self.record(request)
        headers = recorded.headers
        if headers.get("x-api-key") != API_KEY:
            self.violation(
                f"x-api-key: expected the deployment's key, got {headers.get('x-api-key')!r}"
            )
            return _error(Error(401, "authentication_error", "invalid x-api-key"))
        version = headers.get("anthropic-version")
        if version not in VERSIONS:
            self.violation(f"anthropic-version: {version!r}")
            return _error(
                Error(400, "invalid_request_error", "anthropic-version header is required")
            )
        if not headers.get("content-type", "").startswith("application/json"):
            self.violation(f"content-type: {headers.get('content-type')!r}")
        if self._betas is not None:
            flags = [f.strip() for f in headers.get("anthropic-beta", "").split(",") if f.strip()]
            unknown = [flag for flag in flags if flag not in self._betas]
            if unknown:
                return _error(
                    Error(400, "invalid_request_error", f"Unsupported beta header: {unknown[0]}")
                )
        return await self._answer_messages(request, recorded.body, behaviour, version)

    async def _answer_messages(
        self, request: web.Request, body: Any, behaviour: Any, version: str | None
    ) -> web.StreamResponse:
        problems = validate(REQUEST, body)
        if not problems:
            problems = conversation_problems(body) + self._unsigned(body)
        if not problems and version == LATEST:
            problems = latest_version_problems(body)
        if not problems:
            problems = thinking_problems(body)
        if self.violated(problems):
            return _error(Error(400, "invalid_request_error", "; ".join(problems)))
        if isinstance(behaviour, Error):
            return _error(behaviour)
        self._serial += 1
        message_id = f"msg_01XFDUDYJgAACzvnptvVoY{self._serial:02d}"
        if isinstance(behaviour, Blocks):
            self._sign(behaviour)
            if body.get("stream"):
                return await self._stream_blocks(request, body, behaviour, message_id)
            return web.json_response(
                _blocks_body(body, behaviour, message_id), headers={"request-id": "req_mock"}
            )
        if body.get("stream"):
            return await self._stream(request, body, behaviour, message_id)
        return web.json_response(
            _message_body(body, behaviour, message_id), headers={"request-id": "req_mock"}
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: Any, message_id: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await response.prepare(request)
        start = _message_body(body, reply, message_id)
        usage = start["usage"]
        start.update(content=[], stop_reason=None, stop_sequence=None)
        start["usage"] = {**usage, "output_tokens": 1}
        await write_sse(response, {"type": "message_start", "message": start}, "message_start")
        if isinstance(reply, ToolUse):
            await self._tool_blocks(response, reply)
        else:
            first = {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
            await write_sse(response, first, "content_block_start")
            await write_sse(response, {"type": "ping"}, "ping")
            pieces = split(reply.content, reply.chunks)
            for index, piece in enumerate(pieces):
                if index == len(pieces) - 1 and not await wait_event(reply.hold_last):
                    return response
                delta = {"type": "text_delta", "text": piece}
                await write_sse(
                    response,
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                    "content_block_delta",
                )
                if reply.error_mid_stream:
                    error = {
                        "type": "error",
                        "error": {"type": reply.error_mid_stream, "message": "Overloaded"},
                    }
                    await write_sse(response, error, "error")
                    await response.write_eof()
                    return response
            await write_sse(
                response, {"type": "content_block_stop", "index": 0}, "content_block_stop"
            )
        stop = _stop_reason(reply)
        await write_sse(
            response,
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
            "message_delta",
        )
        await write_sse(response, {"type": "message_stop"}, "message_stop")
        await response.write_eof()
        return response

    def _sign(self, reply: Blocks) -> None:
        with self._lock:
            for block in reply.content:
                if block.get("type") == "thinking":
                    self._signed.add(block["signature"])
                elif block.get("type") == "redacted_thinking":
                    self._signed.add(block["data"])

    def _unsigned(self, body: dict[str, Any]) -> list[str]:
        """Thinking blocks sent back with a signature (or data) this mock never issued."""
        problems = []
        with self._lock:
            signed = set(self._signed)
        for index, message in enumerate(body.get("messages") or []):
            content = message.get("content") if message.get("role") == "assistant" else None
            for position, block in enumerate(content if isinstance(content, list) else []):
                if block.get("type") == "thinking" and block.get("signature") not in signed:
                    problems.append(
                        f"messages.{index}.content.{position}: Invalid `signature` in "
                        "`thinking` block"
                    )
                if block.get("type") == "redacted_thinking" and block.get("data") not in signed:
                    problems.append(
                        f"messages.{index}.content.{position}: Invalid `data` in "
                        "`redacted_thinking` block"
                    )
        return problems

    async def _stream_blocks(
        self, request: web.Request, body: dict[str, Any], reply: Blocks, message_id: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "request-id": "req_mock",
            }
        )
        await response.prepare(request)
        start = _blocks_body(body, reply, message_id)
        final_usage = start["usage"]
        start.update(content=[], stop_reason=None, stop_sequence=None)
        start["usage"] = {**final_usage, "output_tokens": 1}
        start["usage"].pop("server_tool_use", None)
        await write_sse(response, {"type": "message_start", "message": start}, "message_start")
        await write_sse(response, {"type": "ping"}, "ping")
        for index, block in enumerate(reply.content):
            for event in block_events(index, block):
                await write_sse(response, event, event["type"])
        delta_usage: dict[str, Any] = {"output_tokens": final_usage["output_tokens"]}
        if "server_tool_use" in final_usage:
            delta_usage["server_tool_use"] = final_usage["server_tool_use"]
        await write_sse(
            response,
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                "usage": delta_usage,
            },
            "message_delta",
        )
        await write_sse(response, {"type": "message_stop"}, "message_stop")
        await response.write_eof()
        return response

    async def _tool_blocks(self, response: web.StreamResponse, reply: ToolUse) -> None:
        index = 0
        if reply.preamble:
            block = {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
            await write_sse(response, block, "content_block_start")
            delta = {"type": "text_delta", "text": reply.preamble}
            await write_sse(
                response,
                {"type": "content_block_delta", "index": 0, "delta": delta},
                "content_block_delta",
            )
            await write_sse(
                response, {"type": "content_block_stop", "index": 0}, "content_block_stop"
            )
            index = 1
        start = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "tool_use", "id": reply.id, "name": reply.name, "input": {}},
        }
        await write_sse(response, start, "content_block_start")
        arguments = json.dumps(reply.input)
        for piece in ["", *split(arguments, 3)]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            await write_sse(
                response,
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
        await write_sse(
            response, {"type": "content_block_stop", "index": index}, "content_block_stop"
        )


def _stop_reason(reply: Any) -> str:
    return "tool_use" if isinstance(reply, ToolUse) else reply.stop_reason


def _message_body(body: dict[str, Any], reply: Any, message_id: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if isinstance(reply, ToolUse):
        if reply.preamble:
            content.append({"type": "text", "text": reply.preamble})
        content.append(
            {"type": "tool_use", "id": reply.id, "name": reply.name, "input": reply.input}
        )
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    else:
        content.append({"type": "text", "text": reply.content})
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_creation_input_tokens": reply.cache_creation,
            "cache_read_input_tokens": reply.cache_read,
            "cache_creation": _cache_creation(reply.cache_creation, reply.cache_creation_1h),
        }
    usage["service_tier"] = reply.service_tier if isinstance(reply, Text) else "standard"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": usage,
    }


def _cache_creation(total: int, one_hour: int) -> dict[str, int]:
    """The usage's split of cache writes by ttl, as the API reports it."""
    return {"ephemeral_5m_input_tokens": total - one_hour, "ephemeral_1h_input_tokens": one_hour}


def _blocks_body(body: dict[str, Any], reply: Blocks, message_id: str) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache_creation,
        "cache_read_input_tokens": reply.cache_read,
        "cache_creation": _cache_creation(reply.cache_creation, reply.cache_creation_1h),
        "output_tokens": reply.output_tokens,
    }
    if reply.server_tool_use is not None:
        usage["server_tool_use"] = dict(reply.server_tool_use)
    usage["service_tier"] = "standard"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": [dict(block) for block in reply.content],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """One content block as the stream sends it: start, its deltas, stop."""
    kind = block["type"]

    def delta(value: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": value}

    events: list[dict[str, Any]] = []
    if kind == "thinking":
        events.append(_block_start(index, {"type": "thinking", "thinking": "", "signature": ""}))
        events += [
            delta({"type": "thinking_delta", "thinking": p}) for p in split(block["thinking"], 2)
        ]
        events.append(delta({"type": "signature_delta", "signature": block["signature"]}))
    elif kind == "text":
        opening: dict[str, Any] = {"type": "text", "text": ""}
        if "citations" in block:
            opening["citations"] = []
        events.append(_block_start(index, opening))
        events += [delta({"type": "text_delta", "text": p}) for p in split(block["text"], 2)]
        for citation in block.get("citations") or []:
            events.append(delta({"type": "citations_delta", "citation": citation}))
    elif kind in {"tool_use", "server_tool_use"}:
        events.append(_block_start(index, {**block, "input": {}}))
        events.append(
            delta({"type": "input_json_delta", "partial_json": json.dumps(block["input"])})
        )
    else:  # redacted_thinking, web_search_tool_result: whole in their start
        events.append(_block_start(index, dict(block)))
    events.append({"type": "content_block_stop", "index": index})
    return events


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _error(error: Error) -> web.Response:
    headers = {"request-id": "req_mock_error", **error.headers}
    if error.retry_after is not None:
        headers["retry-after"] = f"{error.retry_after:g}"
    return web.json_response(
        {
            "type": "error",
            "error": {"type": error.kind, "message": error.message},
            "request_id": "req_mock_error",
        },
        status=error.status,
        headers=headers,
    )
