"""A mock of Amazon Bedrock's Converse API, strict about what it accepts.

``POST /model/{modelId}/converse`` and ``/converse-stream``. Each request must
carry a SigV4 ``Authorization`` header of the right shape, its credential scope
naming the mock's access key, the day of ``x-amz-date``, the region and the
``bedrock`` service, with ``host`` and ``x-amz-date`` among the signed headers
(``x-amz-security-token`` too when a session token is used). The body is checked
against Converse's shapes (alternating turns starting with the user, one kind
per content block, ``toolUse`` answered by ``toolResult``, known
``inferenceConfig`` and ``toolConfig`` fields). Streams are AWS's binary event
stream (prelude, headers, payload, CRC32s), as the real service writes them.
"""

from __future__ import annotations

import binascii
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from support.mock_server import MockServer

ACCESS_KEY = "AKIAMOCKBEDROCK00001"
SECRET_KEY = "mock/bedrock/secret/key/for/tests/only00"
REGION = "us-west-2"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"
EMBEDDING_DIMENSIONS = 8
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<day>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=[0-9a-f]{64}$"
)
_BLOCK_KINDS = {"text", "image", "document", "toolUse", "toolResult", "reasoningContent"}
_REQUEST_FIELDS = {
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
    "additionalModelRequestFields", "additionalModelResponseFieldPaths", "requestMetadata",
    "performanceConfig", "promptVariables",
}  # fmt: skip
_INFERENCE_FIELDS = {"maxTokens", "temperature", "topP", "stopSequences"}


@dataclass(frozen=True)
class Text:
    content: str = "Hello from Bedrock."
    input_tokens: int = 21
    output_tokens: int = 6
    cache_read: int = 0
    stop_reason: str = "end_turn"
    chunks: int = 3


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str = "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    input_tokens: int = 300
    output_tokens: int = 40


@dataclass(frozen=True)
class Fail:
    status: int
    kind: str  # e.g. ThrottlingException, ValidationException
    message: str = "Too many requests, please wait before trying again."
    # Streaming: the exception comes inside the event stream, after the first text delta.
    in_stream: bool = False


@dataclass
class Expect:
    """What a request must carry (a session token, when the deployment has one)."""

    session_token: str | None = None
    models: set[str] = field(default_factory=lambda: {MODEL, TITAN, COHERE})


class MockBedrock(MockServer):
    name = "mock-bedrock"

    def __init__(self) -> None:
        super().__init__()
        self.expect = Expect()

    def default_behaviour(self) -> Any:
        return Text()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model_id}/converse", self._converse)
        app.router.add_post("/model/{model_id}/converse-stream", self._converse_stream)
        app.router.add_post("/model/{model_id}/invoke", self._invoke)

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        """InvokeModel for the embedding models: Titan (one text) and Cohere (texts)."""
        recorded, behaviour = await self.record(request)
        problems = self._signature_problems(recorded.headers)
        model, body = request.match_info["model_id"], recorded.body
        if model == TITAN:
            if not isinstance(body, dict) or not isinstance(body.get("inputText"), str):
                problems.append("titan: inputText (a string) is required")
            elif set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}:
                problems.append(f"titan: unknown fields {sorted(set(body) - {'inputText'})}")
        elif model == COHERE:
            if not isinstance(body, dict) or not isinstance(body.get("texts"), list):
                problems.append("cohere: texts (an array) is required")
            elif body.get("input_type") not in ("search_document", "search_query"):
                problems.append("cohere: input_type is required")
        else:
            problems.append(f"invoke: {model!r} is not an embedding model of the mock")
        if self.violated(problems):
            return _fail(Fail(400, "ValidationException", "; ".join(problems)))
        if isinstance(behaviour, Fail):
            return _fail(behaviour)
        if model == TITAN:
            size = body.get("dimensions") or EMBEDDING_DIMENSIONS
            answer = {
                "embedding": embedding_for(body["inputText"], size),
                "inputTextTokenCount": len(body["inputText"].split()),
            }
            return web.json_response(answer)
        texts = body["texts"]
        answer = {"embeddings": [embedding_for(t) for t in texts], "texts": texts, "id": "e1"}
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response(answer, headers={"X-Amzn-Bedrock-Input-Token-Count": str(tokens)})

    async def _converse(self, request: web.Request) -> web.StreamResponse:
        refused, behaviour = await self._checked(request)
        if refused is not None:
            return refused
        if isinstance(behaviour, Fail):
            return _fail(behaviour)
        return web.json_response(_answer(behaviour))

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        refused, behaviour = await self._checked(request)
        if refused is not None:
            return refused
        if isinstance(behaviour, Fail) and not behaviour.in_stream:
            return _fail(behaviour)
        response = web.StreamResponse(
            headers={"Content-Type": "application/vnd.amazon.eventstream"}
        )
        await response.prepare(request)
        for message in _stream_events(behaviour):
            await response.write(message)
        await response.write_eof()
        return response

    async def _checked(self, request: web.Request) -> tuple[web.Response | None, Any]:
        recorded, behaviour = await self.record(request)
        problems = self._signature_problems(recorded.headers)
        model = request.match_info["model_id"]
        if model not in self.expect.models:
            problems.append(f"model id {model!r} is not one of {sorted(self.expect.models)}")
        problems.extend(_body_problems(recorded.body))
        if self.violated(problems):
            status = 403 if any("Authorization" in p or "x-amz" in p for p in problems) else 400
            kind = "AccessDeniedException" if status == 403 else "ValidationException"
            return _fail(Fail(status, kind, "; ".join(problems))), behaviour
        return None, behaviour

    def _signature_problems(self, headers: dict[str, str]) -> list[str]:
        found = _AUTH.match(headers.get("authorization", ""))
        if found is None:
            return [f"Authorization: not a SigV4 header: {headers.get('authorization')!r}"]
        problems = []
        amz_date = headers.get("x-amz-date", "")
        if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
            problems.append(f"x-amz-date: {amz_date!r}")
        if found["key"] != ACCESS_KEY:
            problems.append(f"Authorization: credential {found['key']!r} is not the mock's")
        if found["day"] != amz_date[:8]:
            problems.append("Authorization: the scope's day is not x-amz-date's")
        if found["region"] != REGION or found["service"] != "bedrock":
            problems.append(f"Authorization: scope {found['region']}/{found['service']}")
        signed = found["signed"].split(";")
        for needed in ("host", "x-amz-date"):
            if needed not in signed:
                problems.append(f"Authorization: {needed} is not signed")
        if self.expect.session_token is not None:
            if headers.get("x-amz-security-token") != self.expect.session_token:
                problems.append("x-amz-security-token: missing or wrong")
            elif "x-amz-security-token" not in signed:
                problems.append("Authorization: x-amz-security-token is not signed")
        return problems


def embedding_for(text: str, size: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic vector per text (exactly representable in float32)."""
    seed = sum(text.encode())
    return [((seed * (i + 3)) % 97) / 64.0 for i in range(size)]


def _body_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = [f"unknown field {name!r}" for name in body if name not in _REQUEST_FIELDS]
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages: a non-empty array is required"]
    expected_role = "user"
    pending_tools: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") != expected_role:
            problems.append(f"{where}.role: expected {expected_role!r} (turns alternate)")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or not content:
            problems.append(f"{where}.content: a non-empty array is required")
            continue
        for position, block in enumerate(content):
            kinds = set(block) if isinstance(block, dict) else set()
            if len(kinds) != 1 or not kinds <= _BLOCK_KINDS:
                problems.append(f"{where}.content[{position}]: one of {sorted(_BLOCK_KINDS)}")
                continue
            if "toolUse" in block:
                use = block["toolUse"]
                if not {"toolUseId", "name", "input"} <= set(use):
                    problems.append(f"{where}.content[{position}].toolUse: missing fields")
                pending_tools.add(use.get("toolUseId"))
            if "toolResult" in block:
                pending_tools.discard(block["toolResult"].get("toolUseId"))
        if expected_role == "user" and index > 0 and pending_tools:
            problems.append(f"{where}: toolUse {sorted(pending_tools)} has no toolResult")
        expected_role = "assistant" if expected_role == "user" else "user"
    inference = body.get("inferenceConfig") or {}
    problems += [f"inferenceConfig.{k}: unknown" for k in inference if k not in _INFERENCE_FIELDS]
    tools = (body.get("toolConfig") or {}).get("tools")
    for index, tool in enumerate(tools or []):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or "json" not in (spec.get("inputSchema") or {}):
            problems.append(f"toolConfig.tools[{index}]: toolSpec with inputSchema.json needed")
    return problems


def _usage(behaviour: Any) -> dict[str, int]:
    usage = {
        "inputTokens": behaviour.input_tokens,
        "outputTokens": behaviour.output_tokens,
        "totalTokens": behaviour.input_tokens + behaviour.output_tokens,
    }
    if getattr(behaviour, "cache_read", 0):
        usage["cacheReadInputTokens"] = behaviour.cache_read
    return usage


def _answer(behaviour: Any) -> dict[str, Any]:
    if isinstance(behaviour, ToolUse):
        content: list[Any] = [
            {
                "toolUse": {
                    "toolUseId": behaviour.id,
                    "name": behaviour.name,
                    "input": behaviour.input,
                }
            }
        ]
        stop = "tool_use"
    else:
        content, stop = [{"text": behaviour.content}], behaviour.stop_reason
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": _usage(behaviour),
        "metrics": {"latencyMs": 120},
    }


def _fail(failure: Fail) -> web.Response:
    return web.json_response(
        {"message": failure.message},
        status=failure.status,
        headers={"x-amzn-ErrorType": f"{failure.kind}:http://internal.amazon.com/coral/"},
    )


def _stream_events(behaviour: Any) -> list[bytes]:
    events = [event_message("messageStart", {"role": "assistant"})]
    if isinstance(behaviour, ToolUse):
        start = {"toolUse": {"toolUseId": behaviour.id, "name": behaviour.name}}
        events.append(event_message("contentBlockStart", {"start": start, "contentBlockIndex": 0}))
        arguments = json.dumps(behaviour.input)
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            delta = {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": 0}
            events.append(event_message("contentBlockDelta", delta))
        stop = "tool_use"
    elif isinstance(behaviour, Fail):
        delta = {"delta": {"text": "Partial"}, "contentBlockIndex": 0}
        events.append(event_message("contentBlockDelta", delta))
        events.append(
            exception_message(behaviour.kind[0].lower() + behaviour.kind[1:], behaviour.message)
        )
        return events
    else:
        size = max(1, -(-len(behaviour.content) // behaviour.chunks))
        for start_at in range(0, len(behaviour.content), size):
            piece = behaviour.content[start_at : start_at + size]
            delta = {"delta": {"text": piece}, "contentBlockIndex": 0}
            events.append(event_message("contentBlockDelta", delta))
        stop = behaviour.stop_reason
    events.append(event_message("contentBlockStop", {"contentBlockIndex": 0}))
    events.append(event_message("messageStop", {"stopReason": stop}))
    events.append(
        event_message("metadata", {"usage": _usage(behaviour), "metrics": {"latencyMs": 90}})
    )
    return events


def event_message(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload).encode())


def exception_message(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths, CRC32), string headers, payload, CRC32."""
    encoded = b"".join(
        bytes([len(name)])
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", binascii.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack(">I", binascii.crc32(body))
