"""Amazon Bedrock (``bedrock/<model id>``, ``bedrock/converse/<model id>``) through the
Converse API, answering in OpenAI's format; embeddings through InvokeModel.

Every request is signed with AWS Signature Version 4 by AWS's own library
(botocore), with credentials from ``litellm_params`` (``aws_access_key_id``,
``aws_secret_access_key``, ``aws_session_token``), else ``aws_profile_name``,
else the environment's standard chain; ``aws_region_name`` (else ``AWS_REGION``
/ ``AWS_DEFAULT_REGION``) picks the regional endpoint, and cross-region
inference profile ids (``us.anthropic....``) are model ids like any other. The
stream is AWS's binary event stream, read with botocore's parser. Errors map to
the gateway's taxonomy: ``ThrottlingException`` is a 429 (cooldown, fallback),
"input is too long" a context-window error, a guardrail block a content-policy
violation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.eventstream import EventStreamBuffer, ParserError
from botocore.session import Session

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamBadRequest,
    UpstreamError,
    upstream_error_for_status,
)
from gateway.providers.base import Operation, StreamChunk, UpstreamCall, UpstreamResult, Usage
from gateway.providers.bedrock_embeddings import (
    COHERE,
    TOKEN_COUNT_HEADER,
    cohere_request,
    cohere_vectors,
    embedding_family,
    titan_request,
    titan_vector,
)
from gateway.providers.bedrock_embeddings import SUPPORTED_PARAMS as EMBED_PARAMS
from gateway.providers.bedrock_request import SUPPORTED_PARAMS, converse_request
from gateway.providers.bedrock_response import ConverseStreamTranslator, chat_completion
from gateway.providers.retry_after import parse_retry_after
from gateway.providers.translate import (
    TranslationError,
    check_params,
    embedding_inputs,
    embedding_list,
)
from gateway.providers.transport import UpstreamPool
from gateway.providers.upstream import PrimedStream, Upstream, json_object

SERVICE = "bedrock"
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_TOKENS = 4096
EVENT_STREAM = "application/vnd.amazon.eventstream"

_CONTEXT_WINDOW_HINTS = (
    "input is too long",
    "too many input tokens",
    "prompt is too long",
    "maximum context length",
    "context window",
    "exceeds the maximum",
)
# Exceptions inside an event stream, by name -> the HTTP status they stand for.
_STREAM_EXCEPTIONS = {
    "throttlingException": 429,
    "validationException": 400,
    "serviceUnavailableException": 503,
    "internalServerException": 500,
    "modelStreamErrorException": 500,
}


class CredentialsMissing(Exception):
    """No AWS credentials anywhere the deployment may take them from."""


def bedrock_model(model: str) -> str:
    """The model id of ``bedrock/<id>``, ``bedrock/converse/<id>`` or ``bedrock/invoke/<id>``
    (every chat goes through Converse, which serves the models InvokeModel does)."""
    for route in ("converse/", "invoke/"):
        if model.startswith(route):
            return model[len(route) :]
    return model


def resolve_credentials(
    access_key: str | None,
    secret_key: str | None,
    session_token: str | None,
    profile: str | None,
) -> Credentials:
    """Explicit keys, else the profile's, else the environment's standard chain."""
    if access_key and secret_key:
        return Credentials(access_key, secret_key, session_token)
    session = Session(profile=profile) if profile else Session()
    found = session.get_credentials()
    if found is None:
        raise CredentialsMissing(
            "no AWS credentials: set aws_access_key_id and aws_secret_access_key, "
            "aws_profile_name, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        )
    return found


class BedrockProvider:
    def __init__(
        self,
        *,
        model: str,
        region: str,
        endpoint: str | None,
        credentials: Credentials,
        extra_headers: Mapping[str, str] | None,
        default_max_tokens: int,
        pool: UpstreamPool,
        deployment_id: str,
        drop_params: bool,
    ) -> None:
        self._model = bedrock_model(model)
        self._region = region
        self._base = (endpoint or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        # The model id is one path segment: ``:`` and ``/`` in it are percent-encoded.
        root = f"{self._base}/model/{quote(self._model, safe='')}"
        self._url = root + "/converse"
        self._stream_url = root + "/converse-stream"
        self._invoke_url = root + "/invoke"
        self._credentials = credentials
        self._extra = dict(extra_headers or {})
        self._max_tokens = default_max_tokens
        self._drop = drop_params
        frozen = credentials.get_frozen_credentials()
        self._upstream = Upstream(
            provider=SERVICE,
            deployment=deployment_id,
            pool=pool,
            base=self._base,
            read_error=self._error,
            secrets=[s for s in (frozen.secret_key, frozen.token) if s],
        )

    @property
    def name(self) -> str:
        return SERVICE

    @property
    def api_base(self) -> str | None:
        return self._base

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        if call.operation is Operation.EMBEDDING:
            return await self._embed(call)
        payload = self._payload(call)
        answer = await self._upstream.post_json(
            self._url, payload, self._signed(self._url, payload), call.timeout
        )
        body, usage = chat_completion(answer, self._model, int(time.time()))
        return UpstreamResult(body=body, usage=usage)

    async def open_stream(self, call: UpstreamCall) -> PrimedStream:
        payload = self._payload(call)
        headers = self._signed(
            self._stream_url, payload, accept="application/vnd.amazon.eventstream"
        )
        return await self._upstream.open_stream(
            self._stream_url, payload, headers, call, self._chunks
        )

    async def _embed(self, call: UpstreamCall) -> UpstreamResult:
        family = embedding_family(self._model)
        try:
            if family is None:
                raise TranslationError(
                    f"bedrock embeddings are served for amazon.titan-embed-* and cohere.embed-* "
                    f"models, not {self._model!r}",
                    param="model",
                )
            check_params(call.body, EMBED_PARAMS, drop=self._drop, provider=SERVICE)
            texts = embedding_inputs(call.body)
            dimensions = call.body.get("dimensions")
            if family == COHERE:
                requests = [cohere_request(texts, dimensions)]
            else:
                requests = [titan_request(text, dimensions) for text in texts]
        except TranslationError as exc:
            raise UpstreamBadRequest(
                exc.message,
                upstream_status=400,
                deployment=self._upstream.deployment,
                param=exc.param,
                code="unsupported_parameter",
            ) from None
        answers = await asyncio.gather(*(self._invoke(request, call) for request in requests))
        if family == COHERE:
            ((answer, headers),) = answers
            vectors = cohere_vectors(answer)
            counted = str(headers.get(TOKEN_COUNT_HEADER) or "0")
            tokens = int(counted) if counted.isdigit() else 0
        else:
            pairs = [titan_vector(answer) for answer, _ in answers]
            vectors = [vector for vector, _ in pairs]
            tokens = sum(count for _, count in pairs)
        body = embedding_list(vectors, self._model, tokens, call.body.get("encoding_format"))
        return UpstreamResult(body=body, usage=Usage(prompt_tokens=tokens))

    async def _invoke(
        self, request: dict[str, Any], call: UpstreamCall
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        payload = orjson.dumps(request)
        raw, headers = await self._upstream.post_answer(
            self._invoke_url, payload, self._signed(self._invoke_url, payload), call.timeout
        )
        answer = json_object(raw)
        if answer is None:
            raise self._upstream.interrupted("the embeddings answer was not a JSON object")
        return answer, headers

    def _signed(self, url: str, payload: bytes, accept: str = "application/json") -> dict[str, str]:
        """The request's headers with its SigV4 signature (the time is part of it)."""
        request = AWSRequest(
            method="POST",
            url=url,
            data=payload,
            headers={"Content-Type": "application/json", "Accept": accept, **self._extra},
        )
        frozen: ReadOnlyCredentials = self._credentials.get_frozen_credentials()
        SigV4Auth(frozen, SERVICE, self._region).add_auth(request)
        return dict(request.headers.items())

    def _payload(self, call: UpstreamCall) -> bytes:
        if call.operation is not Operation.CHAT:
            raise UpstreamBadRequest(
                f"bedrock serves chat completions and embeddings, not {call.operation.value} "
                "requests",
                upstream_status=400,
                deployment=self._upstream.deployment,
                code="unsupported_operation",
            )
        try:
            check_params(call.body, SUPPORTED_PARAMS, drop=self._drop, provider=SERVICE)
            request = converse_request(call.body, self._max_tokens)
        except TranslationError as exc:
            raise UpstreamBadRequest(
                exc.message,
                upstream_status=400,
                deployment=self._upstream.deployment,
                param=exc.param,
                code="unsupported_parameter",
            ) from None
        return orjson.dumps(request)

    def _error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        body = json_object(raw) or {}
        message = str(body.get("message") or body.get("Message") or "")
        message = self._upstream.redact(message) or f"bedrock returned HTTP {status}"
        kind = (headers.get("x-amzn-ErrorType") or "").split(":", 1)[0] or None
        deployment = self._upstream.deployment
        lowered = message.lower()
        if status == 400:
            if any(hint in lowered for hint in _CONTEXT_WINDOW_HINTS):
                return ContextWindowExceeded(message, upstream_status=400, deployment=deployment)
            if "guardrail" in lowered or "content filter" in lowered:
                return ContentPolicyViolation(message, upstream_status=400, deployment=deployment)
        return upstream_error_for_status(
            status,
            message,
            deployment=deployment,
            code=kind,
            retry_after=parse_retry_after(headers),
        )

    async def _chunks(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamChunk, None]:
        translator = ConverseStreamTranslator(self._model, int(time.time()))
        events = EventStreamBuffer()
        try:
            async for data in response.content.iter_any():
                events.add_data(data)
                for message in events:
                    # botocore's stubs mistype the parsed message; it is an EventStreamMessage.
                    event = cast(Any, message)
                    headers: Mapping[str, Any] = event.headers
                    payload = json_object(event.payload) or {}
                    if headers.get(":message-type") == "exception":
                        kind = str(headers.get(":exception-type") or "")
                        text = str(payload.get("message") or kind or "stream exception")
                        status = _STREAM_EXCEPTIONS.get(kind, 500)
                        raise self._error(status, orjson.dumps({"message": text}), {})
                    for chunk in translator.feed(str(headers.get(":event-type") or ""), payload):
                        yield chunk
                    if translator.done:
                        return
        except ParserError as exc:
            raise self._upstream.interrupted(f"the event stream broke: {exc}") from None
        raise self._upstream.interrupted("the stream ended before its metadata event")


def region_of(params_region: str | None, env: Mapping[str, str]) -> str:
    if params_region:
        return params_region
    return next((env[name] for name in REGION_ENV if env.get(name)), DEFAULT_REGION)


def build_bedrock(
    *,
    model: str,
    params: Any,
    env: Mapping[str, str],
    pool: UpstreamPool,
    deployment_id: str,
    drop_params: bool,
    default_max_tokens: int,
) -> BedrockProvider:
    """A Bedrock provider for a deployment's ``litellm_params`` (raises CredentialsMissing)."""
    secret = params.aws_secret_access_key
    token = params.aws_session_token
    credentials = resolve_credentials(
        params.aws_access_key_id or env.get("AWS_ACCESS_KEY_ID"),
        (secret.get_secret_value() if secret else None) or env.get("AWS_SECRET_ACCESS_KEY"),
        (token.get_secret_value() if token else None) or env.get("AWS_SESSION_TOKEN"),
        params.aws_profile_name,
    )
    return BedrockProvider(
        model=model,
        region=region_of(params.aws_region_name, env),
        endpoint=params.api_base or params.aws_bedrock_runtime_endpoint,
        credentials=credentials,
        extra_headers=params.extra_headers,
        default_max_tokens=default_max_tokens,
        pool=pool,
        deployment_id=deployment_id,
        drop_params=drop_params,
    )
