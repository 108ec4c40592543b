"""OpenAI-compatible upstreams: OpenAI itself, xAI, Groq, DeepSeek, vLLM, Ollama, ...

Everything about that wire format lives here: where each vendor listens, how a
request is sent, how a response, a stream and an error are read. The caller's
body passes through as it is (unknown fields kept); only ``model`` is replaced
and, when streaming, usage is requested so the ledger can meter the stream.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamError,
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
from gateway.providers.sse import sse_event_batches
from gateway.providers.transport import UpstreamPool
from gateway.providers.upstream import PrimedStream, Upstream, json_object


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
    Operation.RESPONSES: "/responses",
}
# The Responses stream's last event: one of these, or the stream broke off.
RESPONSES_TERMINAL = frozenset(
    {b"response.completed", b"response.incomplete", b"response.failed", b"error"}
)

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
    """One deployment on an OpenAI-compatible upstream (Azure OpenAI too: see ``azure``)."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        api_base: str,
        urls: Mapping[Operation, str],
        headers: Mapping[str, str],
        secret: str | None,
        pool: UpstreamPool,
        deployment_id: str,
    ) -> None:
        self._provider = provider
        self._model = model
        self._base = api_base
        self._urls = dict(urls)
        self._headers = dict(headers)
        self._upstream = Upstream(
            provider=provider,
            deployment=deployment_id,
            pool=pool,
            base=api_base,
            read_error=self._error,
            secrets=[secret] if secret else [],
        )

    @property
    def name(self) -> str:
        return self._provider

    @property
    def api_base(self) -> str | None:
        return self._base

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        body = await self._upstream.post_json(
            self._urls[call.operation],
            self._payload(call, stream=False),
            self._headers,
            call.timeout,
        )
        if call.operation is Operation.RESPONSES:
            usage = Usage.from_responses(body.get("usage"), body.get("service_tier"))
            return UpstreamResult(body=body, usage=usage)
        usage = Usage.from_openai(body.get("usage"), body.get("service_tier"))
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> PrimedStream:
        reader = self._events if call.operation is Operation.RESPONSES else self._chunks
        return await self._upstream.open_stream(
            self._urls[call.operation],
            self._payload(call, stream=True),
            self._headers,
            call,
            reader,
        )

    def _payload(self, call: UpstreamCall, *, stream: bool) -> bytes:
        body = dict(call.body)
        body["model"] = self._model
        if stream and call.operation is not Operation.RESPONSES:
            options = body.get("stream_options")
            options = dict(options) if isinstance(options, dict) else {}
            options["include_usage"] = True
            body["stream_options"] = options
        return orjson.dumps(body)

    def _error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        message, code, param = read_openai_error(raw)
        message = self._upstream.redact(message) or f"{self._provider} returned HTTP {status}"
        deployment = self._upstream.deployment
        text = f"{code or ''} {message}".lower()
        if status in (400, 413, 422):
            if any(hint in text for hint in _CONTEXT_WINDOW_HINTS):
                return ContextWindowExceeded(
                    message, upstream_status=400, deployment=deployment, code=code, param=param
                )
            if any(hint in text for hint in _CONTENT_POLICY_HINTS):
                return ContentPolicyViolation(
                    message, upstream_status=400, deployment=deployment, code=code, param=param
                )
        return upstream_error_for_status(
            status,
            message,
            deployment=deployment,
            code=code,
            param=param,
            retry_after=parse_retry_after(headers),
        )

    async def _chunks(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamChunk, None]:
        """One chunk per event; the stream must end with ``[DONE]`` or a finished choice."""
        finished = False
        # Events come in the batches each socket read completed: one async step per read,
        # while each chunk is still handed on by itself, at once.
        async for events in sse_event_batches(response.content):
            # The chunks of one read are in hand together: each but the read's last is
            # marked ``follows``, so the relay sends them in one write.
            held: StreamChunk | None = None
            for event in events:
                payload = event.data
                if payload == b"[DONE]":
                    if held is not None:
                        yield held
                    return
                if b'"error"' in payload:
                    if held is not None:  # what came before the error is still relayed
                        yield held
                        held = None
                    self._raise_if_error(payload)
                if not finished and _FINISHED.search(payload):
                    finished = True
                chunk = self._chunk(payload)
                if chunk.usage is not None:
                    finished = True
                if chunk.data:
                    if held is not None:
                        held.follows = True
                        yield held
                    held = chunk
            if held is not None:
                yield held
        if not finished:
            raise self._upstream.interrupted("the upstream closed the stream before it finished")

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamChunk, None]:
        """A Responses stream, event by event as it came; usage read from the terminal event.

        An ``error`` event is raised (before the first event the router can still
        retry); a stream that ends without a terminal event broke off.
        """
        async for events in sse_event_batches(response.content):
            last = events[-1]
            for event in events:
                kind = event.event or _event_type(event.data)
                if kind not in RESPONSES_TERMINAL:
                    yield StreamChunk(data=event.data, event=kind, follows=event is not last)
                    continue
                if kind == b"error":
                    message, code, _ = read_openai_error(event.data)
                    raise self._upstream.stream_failed(message, code=code)
                parsed = json_object(event.data) or {}
                answer = parsed.get("response")
                usage = (
                    Usage.from_responses(answer.get("usage"), answer.get("service_tier"))
                    if isinstance(answer, dict)
                    else None
                )
                yield StreamChunk(data=event.data, event=kind, usage=usage)
                return
        raise self._upstream.interrupted("the upstream closed the stream before it finished")

    def _raise_if_error(self, payload: bytes) -> None:
        parsed = json_object(payload)
        if parsed is not None and "error" in parsed and not parsed.get("choices"):
            message, code, _ = read_openai_error(payload)
            raise self._upstream.stream_failed(message, code=code)

    def _chunk(self, payload: bytes) -> StreamChunk:
        if b'"usage"' not in payload and b"prompt_filter_results" not in payload:
            return StreamChunk(data=payload)
        parsed = json_object(payload)
        if parsed is None:
            raise self._upstream.interrupted("a chunk was not valid JSON")
        if not parsed.get("choices") and "prompt_filter_results" in parsed:
            # Azure's content-filter preamble: no choice, no usage, not part of OpenAI's shape.
            return StreamChunk(data=b"")
        usage = Usage.from_openai(parsed.get("usage"), parsed.get("service_tier"))
        if usage is None:
            return StreamChunk(data=payload)
        return StreamChunk(data=payload, usage=usage, usage_only=not parsed.get("choices"))


_TYPE = re.compile(rb'"type"\s*:\s*"([^"]+)"')


def _event_type(data: bytes) -> bytes:
    """An event's ``type`` when the upstream sent no ``event:`` line (the first one in it)."""
    found = _TYPE.search(data)
    return found.group(1) if found else b""


def openai_headers(
    api_key: str | None, organization: str | None, extra_headers: Mapping[str, str] | None
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if organization:
        headers["OpenAI-Organization"] = organization
    headers.update(extra_headers or {})
    return headers


def read_openai_error(raw: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI-shaped error body, tolerating others."""
    body = json_object(raw)
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
