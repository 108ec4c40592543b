"""Anthropic's Messages API (``anthropic/...``): chat translated, or Messages passed through.

The provider: its calls, headers and error taxonomy (``overloaded_error`` 529
is a server error, ``rate_limit_error`` honours ``retry-after``). A chat
request is translated (``anthropic_request``) and its answer or stream turned
back into OpenAI's format (``anthropic_response``); a Messages request
(``Operation.MESSAGES``) goes as it is and comes back as it came
(``anthropic_native``).
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
    UpstreamServerError,
    upstream_error_for_status,
)
from gateway.providers.anthropic_cache_points import CachePoint, with_breakpoints
from gateway.providers.anthropic_host import AnthropicHost
from gateway.providers.anthropic_native import native_events, native_headers, native_payload
from gateway.providers.anthropic_request import SUPPORTED_PARAMS, messages_request
from gateway.providers.anthropic_response import StreamTranslator, chat_completion, usage_of
from gateway.providers.anthropic_thinking import Thinking
from gateway.providers.base import Operation, StreamChunk, UpstreamCall, UpstreamResult
from gateway.providers.retry_after import parse_retry_after
from gateway.providers.sse import sse_event_batches
from gateway.providers.translate import (
    TranslationError,
    check_params,
)
from gateway.providers.transport import UpstreamPool
from gateway.providers.upstream import PrimedStream, Upstream, json_object

DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MAX_TOKENS = 4096

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
        thinking: Thinking | None = None,
        allowed_betas: frozenset[str] | None = None,
        cache_points: tuple[CachePoint, ...] = (),
        host: AnthropicHost | None = None,
        provider: str = "anthropic",
    ) -> None:
        self._model = model
        self._provider = provider
        # Anthropic's own API at api_base, unless the deployment is Claude on Vertex AI.
        self._host = host or AnthropicHost.anthropic(api_base)
        self._cache_points = cache_points
        # The caller's anthropic-beta flags this upstream takes (None: every one).
        self._betas = allowed_betas
        self._base = api_base
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
        self._thinking = thinking or Thinking.for_model(model, None, {})
        self._drop = drop_params
        self._upstream = Upstream(
            provider=provider,
            deployment=deployment_id,
            pool=pool,
            base=api_base,
            read_error=self._error,
            secrets=[api_key] if api_key else [],
        )

    @property
    def name(self) -> str:
        return self._provider

    @property
    def api_base(self) -> str | None:
        return self._base

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        if call.operation is Operation.MESSAGES:
            return await self._send_native(call)
        payload = self._payload(call, stream=False)
        host = self._host
        headers = await host.headers(self._headers)
        message = await self._upstream.post_json(host.message_url, payload, headers, call.timeout)
        body, usage = chat_completion(message, int(time.time()))
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> PrimedStream:
        if call.operation is Operation.MESSAGES:
            return await self._upstream.open_stream(
                self._host.stream_url,
                native_payload(call, self._model, self._cache_points, self._host, stream=True),
                await self._host.headers(native_headers(self._headers, call.headers, self._betas)),
                call,
                self._native_events,
            )
        payload = self._payload(call, stream=True)
        headers = await self._host.headers(self._headers)
        return await self._upstream.open_stream(
            self._host.stream_url, payload, headers, call, self._chunks
        )

    async def count_tokens(
        self, body: dict[str, Any], headers: dict[str, str] | None, seconds: float
    ) -> bytes:
        payload = orjson.dumps({**body, "model": self._model})
        sent = await self._host.headers(native_headers(self._headers, headers, self._betas))
        raw, _ = await self._upstream.post_answer(self._host.count_url, payload, sent, seconds)
        return raw

    async def _send_native(self, call: UpstreamCall) -> UpstreamResult:
        raw, _ = await self._upstream.post_answer(
            self._host.message_url,
            native_payload(call, self._model, self._cache_points, self._host, stream=False),
            await self._host.headers(native_headers(self._headers, call.headers, self._betas)),
            call.timeout,
        )
        message = json_object(raw)
        if message is None:
            raise UpstreamServerError(
                "anthropic returned a body that is not a JSON object",
                deployment=self._upstream.deployment,
            )
        return UpstreamResult(body=message, usage=usage_of(message.get("usage")), raw=raw)

    def _native_events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamChunk, None]:
        return native_events(response.content, self._native_error, self._upstream.interrupted)

    def _native_error(self, data: bytes) -> UpstreamError:
        kind, message = read_error(data)
        return self._stream_error(kind, message)

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
            request = messages_request(call.body, self._model, self._max_tokens, self._thinking)
            request = with_breakpoints(request, self._cache_points)
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
        return orjson.dumps(self._host.body(request))

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
