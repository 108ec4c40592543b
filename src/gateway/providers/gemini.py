"""Google's Gemini models: AI Studio (``gemini/...``) and Vertex AI (``vertex_ai/...``).

Both speak ``generateContent`` / ``streamGenerateContent?alt=sse``; they differ
only in where requests go and how they are authorised (an API key, or an OAuth
token from ``vertex_auth``). Everything about the format lives here: messages
to ``contents``, tools to function declarations, candidates to choices,
``usageMetadata`` to usage, safety blocks to ``ContentPolicyViolation`` (so
``content_policy_fallbacks`` apply), and embeddings (``embedContent``,
``batchEmbedContents``, Vertex ``predict``).
"""

from __future__ import annotations

import enum
import time
import uuid
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
from gateway.providers.retry_after import parse_retry_after
from gateway.providers.sse import sse_events
from gateway.providers.translate import (
    TranslationError,
    as_int,
    call_function,
    check_params,
    conversation,
    embedding_inputs,
    embedding_list,
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

AI_STUDIO_BASE = "https://generativelanguage.googleapis.com/v1beta"
KEY_ENV = "GEMINI_API_KEY"

SUPPORTED_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
    }
)
SUPPORTED_EMBEDDING_PARAMS = frozenset({"model", "input", "dimensions", "encoding_format"})

SAFETY_FINISH = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(SAFETY_FINISH, "content_filter"),
}
# Gemini's function parameter schema is a subset of OpenAPI 3.0; other keys are refused upstream.
SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
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
            return orjson.dumps(generate_request(call.body))
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
        async for event in sse_events(response.content):
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


def blocked_reason(answer: Mapping[str, Any], *, whole: bool) -> str | None:
    """Why Gemini refused to answer, or None. ``whole``: a complete (non-streamed) answer."""
    feedback = answer.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        detail = feedback.get("blockReasonMessage")
        return f"prompt blocked ({feedback['blockReason']})" + (f": {detail}" if detail else "")
    candidates = answer.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        return None
    reasons = [c.get("finishReason") for c in candidates if isinstance(c, dict)]
    if all(reason in SAFETY_FINISH for reason in reasons) and (
        whole or not any(_parts(c) for c in candidates)
    ):
        return f"answer blocked ({reasons[0]})"
    return None


# --- the request: OpenAI chat -> generateContent --------------------------------------


def generate_request(body: Mapping[str, Any]) -> dict[str, Any]:
    system, contents = _contents(body.get("messages"))
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    config = _generation_config(body)
    if config:
        request["generationConfig"] = config
    tools = _tools(body.get("tools"))
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
        choice = _tool_config(body.get("tool_choice"))
        if choice is not None:
            request["toolConfig"] = {"functionCallingConfig": choice}
    return request


def _contents(raw: Any) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for function responses
    for where, role, message in conversation(raw, system):
        if role == "user":
            _append(contents, "user", _user_parts(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, where, names))
        else:
            _append(contents, "user", [_function_response(message, where, names)])
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}: expected a string or an array of parts", param=where)
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise TranslationError(f"{where}[{index}].image_url.url: expected a string")
            inline = parse_data_url(url)
            if inline is not None:
                parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            else:
                parts.append({"fileData": {"mimeType": _guess_image_type(url), "fileUri": url}})
        else:
            raise TranslationError(
                f"{where}[{index}]: content parts of type {kind!r} are not supported by gemini",
                param=where,
            )
    return parts


def _guess_image_type(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for suffix, media in ((".png", "image/png"), (".webp", "image/webp"), (".gif", "image/gif")):
        if path.endswith(suffix):
            return media
    return "image/jpeg"


def _model_parts(
    message: Mapping[str, Any], where: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = text_of(message.get("content"), f"{where}.content")
    if text:
        parts.append({"text": text})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call_function(call, where, index)
        name = str(function.get("name", ""))
        if call.get("id"):
            names[str(call["id"])] = name
        parts.append({"functionCall": {"name": name, "args": _json_arguments(function, where)}})
    return parts


def _json_arguments(function: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw = function.get("arguments")
    if raw in (None, ""):
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise TranslationError(f"{where}: tool call arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where}: tool call arguments must be a JSON object")
    return value


def _function_response(
    message: Mapping[str, Any], where: str, names: dict[str, str]
) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = names.get(str(call_id)) if call_id else None
    if name is None:
        raise TranslationError(
            f"{where}.tool_call_id: no earlier assistant tool call has id {call_id!r}",
            param=f"{where}.tool_call_id",
        )
    text = text_of(message.get("content"), f"{where}.content")
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(source) is not None:
            config[target] = body[source]
    limit = max_output_tokens(body)
    if limit is not None:
        config["maxOutputTokens"] = limit
    stops = stop_list(body.get("stop"))
    if stops:
        config["stopSequences"] = stops
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        schema = response_format.get("json_schema")
        if kind == "json_schema" and isinstance(schema, dict) and schema.get("schema"):
            config["responseSchema"] = clean_schema(schema["schema"])
    return config


def _tools(raw: Any) -> list[dict[str, Any]]:
    declarations = []
    for function in function_tools(raw):
        declaration: dict[str, Any] = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        # Gemini refuses an object schema without properties: a function without arguments.
        if isinstance(parameters, dict) and parameters.get("properties"):
            declaration["parameters"] = clean_schema(parameters)
        declarations.append(declaration)
    return declarations


def clean_schema(schema: Any) -> Any:
    """A JSON schema reduced to the OpenAPI subset Gemini accepts."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if kinds else "string"
    if kind is not None:
        out["type"] = kind
    if "const" in schema and "enum" not in schema:
        out["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key not in SCHEMA_KEYS or key == "type":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(child) for name, child in value.items()}
        elif key == "items":
            out[key] = clean_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [clean_schema(child) for child in value]
        else:
            out[key] = value
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "required":
        return {"mode": "ANY"}
    if choice == "none":
        return {"mode": "NONE"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    raise TranslationError("'tool_choice' is not valid", param="tool_choice")


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


# --- the answer: GenerateContentResponse -> OpenAI ------------------------------------


def _parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or [] if isinstance(p, dict)]


def _text(parts: list[dict[str, Any]]) -> str:
    # Thought summaries are the model's reasoning, not its answer.
    return "".join(str(p["text"]) for p in parts if "text" in p and not p.get("thought"))


def _calls(parts: list[dict[str, Any]], first_index: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for part in parts:
        call = part.get("functionCall")
        if isinstance(call, dict):
            call_id = str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}")
            entry = tool_call(call_id, call.get("name"), call.get("args"))
            calls.append({"index": first_index + len(calls), **entry})
    return calls


def _finish(reason: Any, has_calls: bool) -> str:
    if has_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(str(reason), "stop")


def usage_of(raw: Any) -> Usage:
    usage = raw if isinstance(raw, dict) else {}
    return Usage(
        prompt_tokens=as_int(usage.get("promptTokenCount"))
        + as_int(usage.get("toolUsePromptTokenCount")),
        # Thinking tokens are billed as output, as OpenAI counts reasoning tokens.
        completion_tokens=as_int(usage.get("candidatesTokenCount"))
        + as_int(usage.get("thoughtsTokenCount")),
        cached_tokens=as_int(usage.get("cachedContentTokenCount")),
    )


def _usage_json(raw: Any, usage: Usage) -> dict[str, Any]:
    thoughts = as_int(raw.get("thoughtsTokenCount")) if isinstance(raw, dict) else 0
    return {
        **usage_json(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens),
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def chat_completion(
    answer: Mapping[str, Any], model: str, created: int
) -> tuple[dict[str, Any], Usage]:
    choices = []
    for position, candidate in enumerate(answer.get("candidates") or []):
        parts = _parts(candidate)
        calls = _calls(parts, 0)
        text = _text(parts)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not calls else None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        choices.append(
            {
                "index": as_int(candidate.get("index")) or position,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish(candidate.get("finishReason"), bool(calls)),
            }
        )
    raw_usage = answer.get("usageMetadata")
    usage = usage_of(raw_usage)
    body = {
        "id": "chatcmpl-" + str(answer.get("responseId") or uuid.uuid4().hex),
        "object": "chat.completion",
        "created": created,
        "model": str(answer.get("modelVersion") or model),
        "choices": choices,
        "usage": _usage_json(raw_usage, usage),
        "system_fingerprint": None,
    }
    return body, usage


class StreamTranslator:
    """Turns streamed ``GenerateContentResponse`` events into OpenAI chunks."""

    def __init__(self, model: str, created: int) -> None:
        self._base: dict[str, Any] = {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self._calls: dict[int, int] = {}  # candidate index -> tool calls so far
        self._roles_sent: set[int] = set()
        self._usage: Any = None
        self.started = False
        self.finished = False

    def feed(self, answer: Mapping[str, Any]) -> list[StreamChunk]:
        if not self.started:
            if answer.get("responseId"):
                self._base["id"] = "chatcmpl-" + str(answer["responseId"])
            if answer.get("modelVersion"):
                self._base["model"] = str(answer["modelVersion"])
        if answer.get("usageMetadata"):
            self._usage = answer["usageMetadata"]
        chunks = []
        for position, candidate in enumerate(answer.get("candidates") or []):
            index = as_int(candidate.get("index")) or position
            parts = _parts(candidate)
            delta: dict[str, Any] = {}
            if index not in self._roles_sent:
                self._roles_sent.add(index)
                delta["role"] = "assistant"
            text = _text(parts)
            if text or "role" in delta:
                delta["content"] = text
            seen = self._calls.get(index, 0)
            calls = _calls(parts, seen)
            if calls:
                self._calls[index] = seen + len(calls)
                delta["tool_calls"] = calls
            reason = candidate.get("finishReason")
            finish = _finish(reason, bool(self._calls.get(index))) if reason else None
            if finish is not None:
                self.finished = True
            if delta or finish is not None:
                chunks.append(self._chunk(index, delta, finish))
        if chunks:
            self.started = True
        return chunks

    def usage_chunk(self) -> StreamChunk:
        usage = usage_of(self._usage)
        body = {**self._base, "choices": [], "usage": _usage_json(self._usage, usage)}
        return StreamChunk(data=orjson.dumps(body), usage=usage, usage_only=True)

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> StreamChunk:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return StreamChunk(data=orjson.dumps({**self._base, "choices": [choice]}))
