"""Google's Gemini models: AI Studio (``gemini/...``) and Vertex AI (``vertex_ai/...``).

Both speak ``generateContent`` / ``streamGenerateContent?alt=sse``; they differ
only in where requests go and how they are authorised (an API key, or an OAuth
token from ``vertex_auth``). This module holds the provider: the calls, the
error taxonomy (safety blocks are ``ContentPolicyViolation``, so
``content_policy_fallbacks`` apply) and embeddings (``embedContent``,
``batchEmbedContents``, Vertex ``predict``); ``gemini_request`` and
``gemini_response`` translate chat requests and answers.
"""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    upstream_error_for_status,
)
from gateway.providers.base import Operation, StreamChunk, UpstreamCall, UpstreamResult, Usage
from gateway.providers.gemini_request import SUPPORTED_PARAMS, generate_request
from gateway.providers.gemini_response import StreamTranslator, blocked_reason, chat_completion
from gateway.providers.retry_after import parse_retry_after
from gateway.providers.sse import sse_event_batches
from gateway.providers.translate import (
    TranslationError,
    as_int,
    check_params,
    embedding_inputs,
    embedding_list,
)
from gateway.providers.transport import UpstreamPool
from gateway.providers.upstream import PrimedStream, Upstream, json_object

AI_STUDIO_BASE = "https://generativelanguage.googleapis.com/v1beta"
KEY_ENV = "GEMINI_API_KEY"

SUPPORTED_EMBEDDING_PARAMS = frozenset({"model", "input", "dimensions", "encoding_format"})

_CONTEXT_WINDOW_HINTS = (
    "exceeds the maximum number of tokens",
    "input token count",
    "context window",
    "too many tokens",
    "prompt is too long",
)
_AUTH_REASONS = ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED")

# Extra request headers computed per call (Vertex: a fresh OAuth token).
AuthHeaders = Callable[[], Awaitable[Mapping[str, str]]]


class Flavor(enum.Enum):
    AI_STUDIO = "gemini"
    VERTEX = "vertex_ai"


class GeminiProvider:
    """One deployment of a Gemini model, on AI Studio or Vertex AI."""

    def __init__(
        self,
        *,
        flavor: Flavor,
        model: str,
        api_base: str,
        model_url: str,
        headers: Mapping[str, str],
        auth: AuthHeaders | None,
        secrets: list[str],
        pool: UpstreamPool,
        deployment_id: str,
        drop_params: bool,
    ) -> None:
        self._flavor = flavor
        self._model = model
        self._base = api_base
        self._model_url = model_url
        self._headers = {"content-type": "application/json", **headers}
        self._auth = auth
        self._drop = drop_params
        self._upstream = Upstream(
            provider=flavor.value,
            deployment=deployment_id,
            pool=pool,
            base=model_url,
            read_error=self._error,
            secrets=secrets,
        )

    @property
    def name(self) -> str:
        return self._flavor.value

    @property
    def api_base(self) -> str | None:
        return self._base

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        if call.operation is Operation.EMBEDDING:
            return await self._embed(call)
        payload = self._payload(call)
        answer = await self._upstream.post_json(
            self._model_url + ":generateContent",
            payload,
            await self._request_headers(),
            call.timeout,
        )
        blocked = blocked_reason(answer, whole=True)
        if blocked is not None:
            raise self._blocked(blocked)
        body, usage = chat_completion(answer, self._model, int(time.time()))
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> PrimedStream:
        payload = self._payload(call)
        return await self._upstream.open_stream(
            self._model_url + ":streamGenerateContent?alt=sse",
            payload,
            await self._request_headers(),
            call,
            self._chunks,
        )

    async def _request_headers(self) -> Mapping[str, str]:
        if self._auth is None:
            return self._headers
        return {**self._headers, **await self._auth()}

    def _payload(self, call: UpstreamCall) -> bytes:
        if call.operation is not Operation.CHAT:
            raise self._bad_request(
                f"{self.name} serves chat completions and embeddings only, "
                f"not {call.operation.value} requests",
                None,
            )
        try:
            check_params(call.body, SUPPORTED_PARAMS, drop=self._drop, provider=self.name)
            return orjson.dumps(generate_request(call.body, self._model))
        except TranslationError as exc:
            raise self._bad_request(exc.message, exc.param) from None

    def _bad_request(self, message: str, param: str | None) -> UpstreamBadRequest:
        return UpstreamBadRequest(
            message,
            upstream_status=400,
            deployment=self._upstream.deployment,
            param=param,
            code="unsupported_parameter",
        )

    def _blocked(self, reason: str) -> ContentPolicyViolation:
        return ContentPolicyViolation(
            f"{self.name} blocked this request: {reason}",
            upstream_status=400,
            deployment=self._upstream.deployment,
        )

    async def _embed(self, call: UpstreamCall) -> UpstreamResult:
        try:
            check_params(call.body, SUPPORTED_EMBEDDING_PARAMS, drop=self._drop, provider=self.name)
            texts = embedding_inputs(call.body)
        except TranslationError as exc:
            raise self._bad_request(exc.message, exc.param) from None
        dimensions = call.body.get("dimensions")
        headers = await self._request_headers()
        if self._flavor is Flavor.VERTEX:
            url = self._model_url + ":predict"
            request: dict[str, Any] = {"instances": [{"content": text} for text in texts]}
            if dimensions is not None:
                request["parameters"] = {"outputDimensionality": dimensions}
        elif len(texts) == 1 and isinstance(call.body.get("input"), str):
            url = self._model_url + ":embedContent"
            request = _embed_content(texts[0], dimensions)
        else:
            url = self._model_url + ":batchEmbedContents"
            name = "models/" + self._model
            request = {
                "requests": [{"model": name, **_embed_content(text, dimensions)} for text in texts]
            }
        answer = await self._upstream.post_json(url, orjson.dumps(request), headers, call.timeout)
        vectors, tokens = _vectors(answer)
        if tokens is None:
            # AI Studio does not count embedding tokens; four characters a token is
            # the usual estimate, so budgets and rpm/tpm limits still see the traffic.
            tokens = max(1, sum(len(text) for text in texts) // 4)
        body = embedding_list(vectors, self._model, tokens, call.body.get("encoding_format"))
        return UpstreamResult(body=body, usage=Usage(prompt_tokens=tokens))

    def _error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        code, message, reasons, retry_delay = read_error(raw)
        message = self._upstream.redact(message) or f"{self.name} returned HTTP {status}"
        deployment = self._upstream.deployment
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = retry_delay
        if any(reason in _AUTH_REASONS for reason in reasons):
            return UpstreamAuthError(message, upstream_status=401, deployment=deployment, code=code)
        if status == 400:
            lowered = message.lower()
            if any(hint in lowered for hint in _CONTEXT_WINDOW_HINTS):
                return ContextWindowExceeded(message, upstream_status=400, deployment=deployment)
        return upstream_error_for_status(
            status, message, deployment=deployment, code=code, retry_after=retry_after
        )

    async def _chunks(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamChunk, None]:
        translator = StreamTranslator(self._model, int(time.time()))
        async for events in sse_event_batches(response.content):
            for event in events:
                answer = json_object(event.data)
                if answer is None:
                    raise self._upstream.interrupted("an event was not a JSON object")
                if "error" in answer and "candidates" not in answer:
                    code, message, _, _ = read_error(event.data)
                    raise self._upstream.stream_failed(message, code=code)
                blocked = blocked_reason(answer, whole=False)
                if blocked is not None and not translator.started:
                    raise self._blocked(blocked)
                for chunk in translator.feed(answer):
                    yield chunk
        if not translator.finished:
            raise self._upstream.interrupted("the stream ended before a finishReason")
        yield translator.usage_chunk()


def read_error(raw: bytes) -> tuple[str | None, str, list[str], float | None]:
    """(status, message, detail reasons, RetryInfo delay) of a Google API error body."""
    body = json_object(raw)
    if body is None:
        return None, raw[:500].decode("utf-8", "replace").strip(), [], None
    error = body.get("error")
    if isinstance(body, dict) and isinstance(error, list) and error:
        error = error[0].get("error") if isinstance(error[0], dict) else None
    if not isinstance(error, dict):
        return None, str(body)[:500], [], None
    reasons: list[str] = []
    delay: float | None = None
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("reason"):
            reasons.append(str(detail["reason"]))
        retry = detail.get("retryDelay")
        if isinstance(retry, str) and retry.endswith("s"):
            try:
                delay = float(retry[:-1])
            except ValueError:
                delay = None
    status = error.get("status")
    return (str(status) if status else None), str(error.get("message") or ""), reasons, delay


def _embed_content(text: str, dimensions: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if dimensions is not None:
        request["outputDimensionality"] = dimensions
    return request


def _vectors(answer: Mapping[str, Any]) -> tuple[list[list[float]], int | None]:
    """Vectors of an embedding answer, and the token count when the upstream gave one."""
    if "predictions" in answer:
        vectors, tokens = [], 0
        for prediction in answer.get("predictions") or []:
            embeddings = prediction.get("embeddings") or {}
            vectors.append(list(embeddings.get("values") or []))
            tokens += as_int((embeddings.get("statistics") or {}).get("token_count"))
        return vectors, tokens
    if "embedding" in answer:
        return [list(answer["embedding"].get("values") or [])], None
    return [list(e.get("values") or []) for e in answer.get("embeddings") or []], None
