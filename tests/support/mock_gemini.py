"""A mock of Google's Gemini API (AI Studio) and Vertex AI, plus an OAuth token endpoint.

Requests are checked against the documented ``GenerateContentRequest`` schema
(``contents`` of ``parts`` that are each exactly one kind, function
declarations in Gemini's OpenAPI schema subset, ``generationConfig`` fields,
function calls answered by as many function responses next turn) and against
the embedding endpoints' schemas. AI Studio wants ``x-goog-api-key``; Vertex
wants a bearer token this server's ``/token`` endpoint issued for a JWT it
verified (RS256 signature, issuer, audience, scope, lifetime).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from support.mock_server import MockServer, split, wait_event, write_sse
from support.schema import (
    Check,
    any_object,
    array,
    boolean,
    integer,
    number,
    obj,
    one_key,
    string,
    validate,
)

API_KEY = "AIzaSy-mock-gemini-key-for-tests"
PROJECT = "mock-project-42"
LOCATION = "us-central1"
CLIENT_EMAIL = "gateway@mock-project-42.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class Text:
    content: str = "Hello from Gemini."
    prompt_tokens: int = 8
    completion_tokens: int = 6
    cached_tokens: int = 0
    thoughts_tokens: int = 0
    # A thought summary (a part with ``thought: true``) ahead of the answer.
    thought: str | None = None
    chunks: int = 3
    finish: str = "STOP"
    candidates: int = 1


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]
    # Gemini 3 signs each function call; the next request must send the signature back.
    thought_signature: str | None = None


@dataclass(frozen=True)
class Blocked:
    """A safety block: of the prompt (``promptFeedback``) or of the answer (``finishReason``)."""

    prompt: bool = True
    reason: str = "SAFETY"


@dataclass(frozen=True)
class Error:
    status: int
    code: str
    message: str
    details: tuple[dict[str, Any], ...] = ()


# --- the documented request schema -------------------------------------------------------

_SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
}  # fmt: skip
_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def _schema(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: expected a schema object")
        return
    for key, child in value.items():
        if key not in _SCHEMA_KEYS:
            problems.append(f"{path}.{key}: unknown field (not in Gemini's Schema)")
        elif key == "type" and (not isinstance(child, str) or child.lower() not in _TYPES):
            problems.append(f"{path}.type: {child!r} is not a Schema type")
        elif key == "properties":
            if not isinstance(child, dict) or not child:
                problems.append(f"{path}.properties: should be non-empty for OBJECT type")
            else:
                for name, sub in child.items():
                    _schema(sub, f"{path}.properties.{name}", problems)
        elif key == "items":
            _schema(child, f"{path}.items", problems)


_PART = one_key(
    {
        "text": string(),
        "inlineData": obj({"mimeType": string(non_empty=True), "data": string(non_empty=True)}),
        "fileData": obj({"fileUri": string(non_empty=True)}, {"mimeType": string()}),
        "functionCall": obj(
            {"name": string(non_empty=True)}, {"args": any_object(), "id": string()}
        ),
        "functionResponse": obj(
            {"name": string(non_empty=True), "response": any_object()}, {"id": string()}
        ),
    },
    common={"thought": boolean(), "thoughtSignature": string()},
)
_CONTENT = obj({"parts": array(_PART, min_items=1)}, {"role": string(enum=("user", "model"))})
_GENERATION = obj(
    {},
    {
        "stopSequences": array(string(), min_items=1),
        "responseMimeType": string(enum=("text/plain", "application/json", "text/x.enum")),
        "responseSchema": _schema,
        "candidateCount": integer(minimum=1),
        "maxOutputTokens": integer(minimum=1),
        "temperature": number(minimum=0, maximum=2),
        "topP": number(minimum=0, maximum=1),
        "topK": integer(minimum=1),
        "seed": integer(),
        "presencePenalty": number(),
        "frequencyPenalty": number(),
        "thinkingConfig": obj(
            {},
            {
                "thinkingBudget": integer(minimum=-1),
                "thinkingLevel": string(enum=("minimal", "low", "medium", "high")),
                "includeThoughts": boolean(),
            },
        ),
    },
)
REQUEST: Check = obj(
    {"contents": array(_CONTENT, min_items=1)},
    {
        "systemInstruction": _CONTENT,
        "tools": array(
            obj(
                {},
                {
                    "functionDeclarations": array(
                        obj(
                            {"name": string(non_empty=True)},
                            {"description": string(), "parameters": _schema},
                        ),
                        min_items=1,
                    )
                },
            )
        ),
        "toolConfig": obj(
            {},
            {
                "functionCallingConfig": obj(
                    {},
                    {
                        "mode": string(enum=("AUTO", "ANY", "NONE", "VALIDATED")),
                        "allowedFunctionNames": array(string()),
                    },
                )
            },
        ),
        "safetySettings": array(obj({"category": string(), "threshold": string()})),
        "generationConfig": _GENERATION,
        "cachedContent": string(),
    },
)
_EMBED_CONTENT = obj(
    {"content": _CONTENT},
    {"taskType": string(), "title": string(), "outputDimensionality": integer(minimum=1)},
)
EMBED: Check = _EMBED_CONTENT
BATCH_EMBED: Check = obj(
    {
        "requests": array(
            obj(
                {"model": string(prefix="models/"), "content": _CONTENT},
                {
                    "taskType": string(),
                    "title": string(),
                    "outputDimensionality": integer(minimum=1),
                },
            ),
            min_items=1,
        )
    }
)
PREDICT: Check = obj(
    {
        "instances": array(
            obj({"content": string()}, {"task_type": string(), "title": string()}), min_items=1
        )
    },
    {
        "parameters": obj(
            {}, {"autoTruncate": boolean(), "outputDimensionality": integer(minimum=1)}
        )
    },
)


def turn_problems(body: dict[str, Any]) -> list[str]:
    """Turns alternate, and a function-call turn is answered by as many function responses."""
    problems = []
    contents = body.get("contents") or []
    for index, content in enumerate(contents):
        if index and content.get("role") == contents[index - 1].get("role"):
            problems.append(f"contents[{index}]: consecutive turns with the same role")
        calls = [p["functionCall"]["name"] for p in content.get("parts", []) if "functionCall" in p]
        if not calls or index + 1 >= len(contents):
            continue
        following = contents[index + 1].get("parts", [])
        answers = [p["functionResponse"]["name"] for p in following if "functionResponse" in p]
        if sorted(answers) != sorted(calls):
            problems.append(
                f"contents[{index + 1}]: the number of function response parts must equal the "
                f"number of function call parts of the function call turn ({calls} vs {answers})"
            )
    return problems


# --- service account keys and tokens ----------------------------------------------------------


def service_account(token_uri: str) -> tuple[dict[str, Any], rsa.RSAPublicKey]:
    """A fresh service account key (JSON as Google issues it) and its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "5f1c0de5a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "104628939811736400000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    return info, key.public_key()


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- the server --------------------------------------------------------------------------


class MockGemini(MockServer):
    name = "mock-gemini"

    def __init__(self) -> None:
        super().__init__()
        self._public_key: rsa.RSAPublicKey | None = None
        self._tokens: dict[str, float] = {}  # issued token -> expiry
        self._issued: list[str] = []  # since the last reset, in order
        self._serial = itertools.count(1)
        self.token_lifetime = 3600
        # The n-th token grant (1-based) waits for the event; see ``hold_token``.
        self._held: dict[int, threading.Event] = {}
        self._grants = 0
        self._signatures: set[str] = set()  # thought signatures issued

    def default_behaviour(self) -> Any:
        return Text()

    def reset(self) -> None:
        super().reset()
        self.token_lifetime = 3600
        self._held.clear()
        self._issued.clear()
        self._grants = 0

    @property
    def ai_studio_base(self) -> str:
        return self.origin + "/v1beta"

    @property
    def vertex_base(self) -> str:
        return self.origin + "/v1"

    @property
    def token_uri(self) -> str:
        return self.origin + "/token"

    def new_service_account(self) -> dict[str, Any]:
        info, public = service_account(self.token_uri)
        self._public_key = public
        return info

    def valid_token(self, token: str) -> bool:
        """Whether ``token`` is an access token this mock issued and that has not expired
        (another mock on Vertex AI, such as Claude's, checks its callers with it)."""
        return self._tokens.get(token, 0) >= time.time()

    def hold_token(self, grant: int, event: threading.Event) -> None:
        self._held[grant] = event

    @property
    def issued(self) -> list[str]:
        """Tokens issued since the last reset, in order."""
        return list(self._issued)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{action}", self._ai_studio)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{action}",
            self._vertex,
        )
        app.router.add_post("/token", self._token)

    # --- OAuth ---------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        recorded, _ = await self.record(request, take=False)
        form = recorded.body or {}
        problem = self._assertion_problem(form)
        if problem:
            self.violation(f"/token: {problem}")
            return web.json_response(
                {"error": "invalid_grant", "error_description": problem}, status=400
            )
        self._grants += 1
        if not await wait_event(self._held.get(self._grants)):
            return web.json_response({"error": "internal_failure"}, status=503)
        token = f"ya29.mock-access-token-{next(self._serial)}"
        self._tokens[token] = time.time() + self.token_lifetime
        self._issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    def _assertion_problem(self, form: dict[str, str]) -> str | None:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return f"grant_type {form.get('grant_type')!r}"
        parts = str(form.get("assertion", "")).split(".")
        if len(parts) != 3:
            return "the assertion is not a JWT"
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except ValueError:
            return "the assertion is not valid base64url JSON"
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            return f"JWT header {header}"
        if self._public_key is None:
            return "no service account was issued"
        try:
            self._public_key.verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return "invalid JWT signature"
        now = time.time()
        if claims.get("iss") != CLIENT_EMAIL:
            return f"iss {claims.get('iss')!r}"
        if claims.get("aud") != self.token_uri:
            return f"aud {claims.get('aud')!r}"
        if SCOPE not in str(claims.get("scope", "")).split():
            return f"scope {claims.get('scope')!r}"
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return "iat and exp must be integers"
        if abs(iat - now) > 300 or not 0 < exp - iat <= 3600:
            return f"bad lifetime iat={iat} exp={exp}"
        return None

    # --- generateContent ----------------------------------------------------------------

    def _thinking_problems(self, model: str, body: dict[str, Any]) -> list[str]:
        """Gemini 3: thinkingLevel (never with thinkingBudget), and every function call
        sent back with the signature issued for it. Gemini 2.5: thinkingBudget only."""
        config = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        problems = []
        gemini3 = model.startswith("gemini-3")
        if "thinkingLevel" in config and not gemini3:
            problems.append("thinkingLevel is not supported by this model")
        if "thinkingLevel" in config and "thinkingBudget" in config:
            problems.append("thinking_budget and thinking_level are not supported together")
        if gemini3:
            with self._lock:
                signed = set(self._signatures)
            for index, content in enumerate(body.get("contents") or []):
                for position, part in enumerate(content.get("parts") or []):
                    if "functionCall" in part and part.get("thoughtSignature") not in signed:
                        problems.append(
                            f"contents[{index}].parts[{position}]: Function call is missing a "
                            "thought_signature in functionCall parts"
                        )
        return problems

    async def _ai_studio(self, request: web.Request) -> web.StreamResponse:
        recorded, behaviour = await self.record(request)
        if (
            recorded.headers.get("x-goog-api-key") != API_KEY
            and recorded.query.get("key") != API_KEY
        ):
            self.violation("AI Studio request without the deployment's API key")
            details = (
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
            )
            return _error(
                Error(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    details,
                )
            )
        return await self._answer(
            request, recorded.body, request.match_info["action"], behaviour, vertex=False
        )

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        recorded, behaviour = await self.record(request)
        auth = recorded.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self._tokens.get(token, 0) < time.time():
            self.violation(f"Vertex request without a valid access token: {auth[:30]!r}")
            return _error(
                Error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            )
        if (request.match_info["project"], request.match_info["location"]) != (PROJECT, LOCATION):
            self.violation(
                f"Vertex path: {request.match_info['project']}, {request.match_info['location']}"
            )
        return await self._answer(
            request, recorded.body, request.match_info["action"], behaviour, vertex=True
        )

    async def _answer(
        self, request: web.Request, body: Any, action: str, behaviour: Any, *, vertex: bool
    ) -> web.StreamResponse:
        model, _, method = action.partition(":")
        checks = {"generateContent": REQUEST, "streamGenerateContent": REQUEST}
        checks.update(
            {"predict": PREDICT}
            if vertex
            else {"embedContent": EMBED, "batchEmbedContents": BATCH_EMBED}
        )
        if method not in checks:
            self.violation(f"unknown method {method!r}")
            return _error(Error(404, "NOT_FOUND", f"Method {method} not found"))
        problems = validate(checks[method], body)
        if not problems and checks[method] is REQUEST:
            problems = turn_problems(body) + self._thinking_problems(model, body)
        if method == "batchEmbedContents" and not problems:
            problems = [
                f"requests[{i}].model: {r['model']!r} differs from models/{model}"
                for i, r in enumerate(body["requests"])
                if r["model"] != f"models/{model}"
            ]
        if method == "streamGenerateContent" and request.query.get("alt") != "sse":
            problems.append("streamGenerateContent without alt=sse")
        if self.violated(problems):
            return _error(Error(400, "INVALID_ARGUMENT", "; ".join(problems)))
        if isinstance(behaviour, Error):
            return _error(behaviour)
        if method in ("embedContent", "batchEmbedContents", "predict"):
            return web.json_response(_embeddings(method, body))
        serial = next(self._serial)
        if isinstance(behaviour, Call) and behaviour.thought_signature is not None:
            with self._lock:
                self._signatures.add(behaviour.thought_signature)
        if method == "streamGenerateContent":
            return await self._stream(request, behaviour, model, serial, vertex)
        return web.json_response(_answer_body(behaviour, model, serial, vertex))

    async def _stream(
        self, request: web.Request, behaviour: Any, model: str, serial: int, vertex: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in _stream_events(behaviour, model, serial, vertex):
            await write_sse(response, event)
        await response.write_eof()
        return response


def _usage(reply: Text) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens + reply.thoughts_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
    }
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    if reply.thoughts_tokens:
        usage["thoughtsTokenCount"] = reply.thoughts_tokens
    return usage


def _meta(model: str, serial: int, vertex: bool) -> dict[str, Any]:
    meta = {"modelVersion": model, "responseId": f"mockResp{serial:04d}"}
    if vertex:
        meta["createTime"] = "2025-06-01T12:00:00.000000Z"
    return meta


def _ratings(blocked: bool = False) -> list[dict[str, Any]]:
    ratings = [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
        {
            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
            "probability": "HIGH" if blocked else "NEGLIGIBLE",
        },
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    ]
    if blocked:
        ratings[1]["blocked"] = True
    return ratings


def _answer_body(behaviour: Any, model: str, serial: int, vertex: bool) -> dict[str, Any]:
    meta = _meta(model, serial, vertex)
    if isinstance(behaviour, Blocked):
        usage = {"promptTokenCount": 9, "totalTokenCount": 9}
        if behaviour.prompt:
            return {
                "promptFeedback": {
                    "blockReason": behaviour.reason,
                    "safetyRatings": _ratings(True),
                },
                "usageMetadata": usage,
                **meta,
            }
        candidate = {"finishReason": behaviour.reason, "index": 0, "safetyRatings": _ratings(True)}
        return {"candidates": [candidate], "usageMetadata": usage, **meta}
    if isinstance(behaviour, Call):
        part: dict[str, Any] = {"functionCall": {"name": behaviour.name, "args": behaviour.args}}
        if behaviour.thought_signature is not None:
            part["thoughtSignature"] = behaviour.thought_signature
        candidate = {
            "content": {"role": "model", "parts": [part]},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": _ratings(),
        }
        usage = _usage(Text(prompt_tokens=61, completion_tokens=18))
        return {"candidates": [candidate], "usageMetadata": usage, **meta}
    candidates = [
        {
            "content": {
                "role": "model",
                "parts": [
                    *([{"text": behaviour.thought, "thought": True}] if behaviour.thought else []),
                    {"text": behaviour.content if i == 0 else f"{behaviour.content} ({i})"},
                ],
            },
            "finishReason": behaviour.finish,
            "index": i,
            "safetyRatings": _ratings(),
            "avgLogprobs": -0.0412,
        }
        for i in range(behaviour.candidates)
    ]
    return {"candidates": candidates, "usageMetadata": _usage(behaviour), **meta}


def _stream_events(behaviour: Any, model: str, serial: int, vertex: bool) -> list[dict[str, Any]]:
    if isinstance(behaviour, (Blocked, Call)):
        return [_answer_body(behaviour, model, serial, vertex)]
    meta = _meta(model, serial, vertex)
    pieces = split(behaviour.content, behaviour.chunks)
    events = []
    if behaviour.thought:
        thought = {
            "content": {"role": "model", "parts": [{"text": behaviour.thought, "thought": True}]},
            "index": 0,
        }
        events.append({"candidates": [thought], **meta})
    for index, piece in enumerate(pieces):
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": [{"text": piece}]},
            "index": 0,
        }
        event: dict[str, Any] = {"candidates": [candidate], **meta}
        if index == len(pieces) - 1:
            candidate["finishReason"] = behaviour.finish
            candidate["safetyRatings"] = _ratings()
            event["usageMetadata"] = _usage(behaviour)
        else:
            event["usageMetadata"] = {
                "promptTokenCount": behaviour.prompt_tokens,
                "totalTokenCount": behaviour.prompt_tokens,
            }
        events.append(event)
    return events


def vector_for(text: str, dimensions: int = 6) -> list[float]:
    """The mock's embedding of ``text``: exact in float32, so base64 round-trips."""
    return (
        [((ord(text[i % len(text)]) + i) % 64) / 64.0 for i in range(dimensions)]
        if text
        else [0.0] * dimensions
    )


def _embeddings(method: str, body: dict[str, Any]) -> dict[str, Any]:
    if method == "embedContent":
        return {
            "embedding": {
                "values": vector_for(
                    body["content"]["parts"][0]["text"], body.get("outputDimensionality", 6)
                )
            }
        }
    if method == "batchEmbedContents":
        return {
            "embeddings": [
                {
                    "values": vector_for(
                        r["content"]["parts"][0]["text"], r.get("outputDimensionality", 6)
                    )
                }
                for r in body["requests"]
            ]
        }
    dimensions = (body.get("parameters") or {}).get("outputDimensionality", 6)
    return {
        "predictions": [
            {
                "embeddings": {
                    "values": vector_for(i["content"], dimensions),
                    "statistics": {
                        "token_count": max(1, len(i["content"]) // 4),
                        "truncated": False,
                    },
                }
            }
            for i in body["instances"]
        ],
        "metadata": {"billableCharacterCount": sum(len(i["content"]) for i in body["instances"])},
    }


def _error(error: Error) -> web.Response:
    payload: dict[str, Any] = {"code": error.status, "message": error.message, "status": error.code}
    if error.details:
        payload["details"] = list(error.details)
    return web.json_response({"error": payload}, status=error.status)
