"""OpenAI-compatible upstreams: OpenAI itself, xAI, Groq, DeepSeek, vLLM, Ollama, ...

Everything about that wire format lives here: where each vendor listens, how a
request is sent, how a response, a stream and an error are read. The caller's
body passes through as it is (unknown fields kept); only ``model`` is replaced
and, when streaming, usage is requested so the ledger can meter the stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamServerError,
    UpstreamTimeout,
    upstream_error_for_status,
)
from gateway.providers.base import (
    Operation,
    StreamChunk,
    UpstreamCall,
    UpstreamResult,
    Usage,
)
from gateway.providers.retry_after import parse_retry_after
from gateway.providers.transport import UpstreamPool


@dataclass(frozen=True, slots=True)
class Vendor:
    default_base: str | None
    key_env: str | None
    needs_v1_suffix: bool = False


# Where each OpenAI-compatible vendor listens and which variable holds its key
# when ``api_key`` is not in the config (LiteLLM reads the same variables).
VENDORS: dict[str, Vendor] = {
    "openai": Vendor("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "text-completion-openai": Vendor("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "custom_openai": Vendor(None, None),
    "openai_like": Vendor(None, None),
    "xai": Vendor("https://api.x.ai/v1", "XAI_API_KEY"),
    "groq": Vendor("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "deepseek": Vendor("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "together_ai": Vendor("https://api.together.xyz/v1", "TOGETHERAI_API_KEY"),
    "fireworks_ai": Vendor("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "mistral": Vendor("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "openrouter": Vendor("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "perplexity": Vendor("https://api.perplexity.ai", "PERPLEXITYAI_API_KEY"),
    "deepinfra": Vendor("https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"),
    "cerebras": Vendor("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "nvidia_nim": Vendor("https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY"),
    "hosted_vllm": Vendor(None, "HOSTED_VLLM_API_KEY"),
    "vllm": Vendor(None, None),
    "lm_studio": Vendor("http://localhost:1234/v1", "LM_STUDIO_API_KEY"),
    "ollama": Vendor("http://localhost:11434", None, needs_v1_suffix=True),
    "ollama_chat": Vendor("http://localhost:11434", None, needs_v1_suffix=True),
}

PATHS = {
    Operation.CHAT: "/chat/completions",
    Operation.COMPLETION: "/completions",
    Operation.EMBEDDING: "/embeddings",
}

READ_BUFFER_BYTES = 1 << 20
_FINISHED = re.compile(rb'"finish_reason"\s*:\s*"')
_CONTEXT_WINDOW_HINTS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "context length",
    "too many tokens",
    "prompt is too long",
    "input is too long",
)
_CONTENT_POLICY_HINTS = ("content_policy_violation", "content_filter", "content management policy")


def resolve_base(provider: str, api_base: str | None) -> str | None:
    vendor = VENDORS[provider]
    base = (api_base or vendor.default_base or "").rstrip("/")
    if not base:
        return None
    if vendor.needs_v1_suffix and not base.endswith("/v1"):
        base += "/v1"
    return base


class OpenAICompatibleProvider:
    """One deployment on an OpenAI-compatible upstream."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        api_base: str,
        api_key: str | None,
        organization: str | None,
        extra_headers: dict[str, str] | None,
        pool: UpstreamPool,
        deployment_id: str,
    ) -> None:
        self._provider = provider
        self._model = model
        self._base = api_base
        self._key = api_key
        self._pool = pool
        self._deployment = deployment_id
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if organization:
            headers["OpenAI-Organization"] = organization
        headers.update(extra_headers or {})
        self._headers = headers
        self._urls = {op: api_base + path for op, path in PATHS.items()}

    @property
    def name(self) -> str:
        return self._provider

    @property
    def api_base(self) -> str | None:
        return self._base

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        session = self._pool.session_for(self._base)
        payload = self._payload(call, stream=False)
        try:
            async with asyncio.timeout(call.timeout):
                async with session.post(
                    self._urls[call.operation],
                    data=payload,
                    headers=self._headers,
                    read_bufsize=READ_BUFFER_BYTES,
                ) as response:
                    raw = await response.read()
                    if response.status >= 400:
                        raise self._error(response.status, raw, response.headers)
        except UpstreamError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"no answer from {self._provider} within {call.timeout:.1f}s",
                deployment=self._deployment,
            ) from exc
        except aiohttp.ClientError as exc:
            raise self._transport_error(exc) from exc
        body = _json_object(raw)
        if body is None:
            raise UpstreamServerError(
                f"{self._provider} returned a body that is not a JSON object",
                deployment=self._deployment,
            )
        return UpstreamResult(body=body, usage=Usage.from_openai(body.get("usage")))

    async def open_stream(self, call: UpstreamCall) -> OpenAIStream:
        session = self._pool.session_for(self._base)
        payload = self._payload(call, stream=True)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(call.timeout, 10.0), sock_read=call.stream_timeout
        )
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(call.timeout):
                response = await session.post(
                    self._urls[call.operation],
                    data=payload,
                    headers=self._headers,
                    timeout=timeout,
                    read_bufsize=READ_BUFFER_BYTES,
                )
                if response.status >= 400:
                    raw = await response.read()
                    raise self._error(response.status, raw, response.headers)
                stream = OpenAIStream(response, self)
                await stream.prime()
                return stream
        except BaseException as exc:
            if response is not None:
                response.close()
            if isinstance(exc, UpstreamError):
                raise
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(
                    f"no first chunk from {self._provider} within the time left",
                    deployment=self._deployment,
                ) from exc
            if isinstance(exc, aiohttp.ClientError):
                raise self._transport_error(exc) from exc
            raise

    def _payload(self, call: UpstreamCall, *, stream: bool) -> bytes:
        body = dict(call.body)
        body["model"] = self._model
        if stream:
            options = body.get("stream_options")
            options = dict(options) if isinstance(options, dict) else {}
            options["include_usage"] = True
            body["stream_options"] = options
        return orjson.dumps(body)

    def _error(self, status: int, raw: bytes, headers: Any) -> UpstreamError:
        message, code, param = _read_error(raw)
        message = self._redact(message) or f"{self._provider} returned HTTP {status}"
        retry_after = parse_retry_after(headers)
        text = f"{code or ''} {message}".lower()
        if status in (400, 413, 422):
            if any(hint in text for hint in _CONTEXT_WINDOW_HINTS):
                return ContextWindowExceeded(
                    message,
                    upstream_status=400,
                    deployment=self._deployment,
                    code=code or None,
                    param=param,
                )
            if any(hint in text for hint in _CONTENT_POLICY_HINTS):
                return ContentPolicyViolation(
                    message,
                    upstream_status=400,
                    deployment=self._deployment,
                    code=code or None,
                    param=param,
                )
        return upstream_error_for_status(
            status,
            message,
            deployment=self._deployment,
            code=code,
            param=param,
            retry_after=retry_after,
        )

    def _transport_error(self, exc: aiohttp.ClientError) -> UpstreamError:
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return UpstreamTimeout(
                f"{self._provider} stopped sending data", deployment=self._deployment
            )
        reason = type(exc).__name__
        return UpstreamConnectionError(
            f"could not talk to {self._provider} ({reason})", deployment=self._deployment
        )

    def _redact(self, message: str) -> str:
        if self._key and self._key in message:
            return message.replace(self._key, "***")
        return message

    def stream_error(self, raw: bytes) -> UpstreamError:
        """An error event sent inside an otherwise successful stream."""
        message, code, param = _read_error(raw)
        return UpstreamServerError(
            self._redact(message) or f"{self._provider} sent an error mid-stream",
            deployment=self._deployment,
            code=code,
            param=param,
        )

    def interrupted(self, why: str) -> UpstreamError:
        return UpstreamConnectionError(
            f"{self._provider} stream broke off: {why}", deployment=self._deployment
        )


class OpenAIStream:
    """Server-sent events from an OpenAI-compatible upstream, one chunk per event.

    ``prime`` reads up to the first chunk so that a failure before any output
    is raised while the router can still retry or fall back.
    """

    def __init__(self, response: aiohttp.ClientResponse, owner: OpenAICompatibleProvider) -> None:
        self._response = response
        self._owner = owner
        self._events: AsyncGenerator[StreamChunk, None] = self._read_events()
        self._first: StreamChunk | None = None
        self._finished = False

    async def prime(self) -> None:
        self._first = await anext(self._events, None)
        if self._first is None:
            raise self._owner.interrupted("no chunk before the end of the stream")

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        try:
            async for chunk in self._events:
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{self._owner.name} sent no chunk within stream_timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            raise self._owner.interrupted(type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._events.aclose()
        self._response.close()

    async def _read_events(self) -> AsyncGenerator[StreamChunk, None]:
        data: list[bytes] = []
        done = False
        async for raw_line in self._response.content:
            line = raw_line.rstrip(b"\r\n")
            if line:
                if line.startswith(b"data:"):
                    data.append(line[5:].lstrip())
                continue
            if not data:
                continue
            payload = data[0] if len(data) == 1 else b"\n".join(data)
            data = []
            if payload == b"[DONE]":
                done = True
                break
            yield self._chunk(payload)
        else:
            if data and data[0] != b"[DONE]":
                yield self._chunk(b"\n".join(data))
            elif data:
                done = True
        self._response.release()
        if not done and not self._finished:
            raise self._owner.interrupted("the upstream closed the stream before it finished")

    def _chunk(self, payload: bytes) -> StreamChunk:
        if b'"error"' in payload:
            parsed = _json_object(payload)
            if parsed is not None and "error" in parsed and not parsed.get("choices"):
                raise self._owner.stream_error(payload)
        if _FINISHED.search(payload):
            self._finished = True
        if b'"usage"' not in payload:
            return StreamChunk(data=payload)
        parsed = _json_object(payload)
        if parsed is None:
            raise self._owner.interrupted("a chunk was not valid JSON")
        usage = Usage.from_openai(parsed.get("usage"))
        if usage is None:
            return StreamChunk(data=payload)
        self._finished = True
        return StreamChunk(data=payload, usage=usage, usage_only=not parsed.get("choices"))


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _read_error(raw: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI-shaped error body, tolerating others."""
    body = _json_object(raw)
    if body is None:
        return raw[:500].decode("utf-8", "replace").strip(), None, None
    error = body.get("error", body)
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return str(error)[:500], None, None
    message = error.get("message") or error.get("detail") or ""
    code = error.get("code") or error.get("type")
    param = error.get("param")
    return (
        str(message),
        str(code) if code is not None else None,
        str(param) if param is not None else None,
    )
