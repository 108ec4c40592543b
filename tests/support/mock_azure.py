"""A mock of Azure OpenAI's data plane: per-deployment URLs, ``api-version``, ``api-key``.

Requests are checked against the chat-completions and embeddings schemas (Azure
refuses unknown request arguments); answers carry Azure's content-filter
annotations, and streams start with its ``prompt_filter_results`` chunk.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from support.mock_server import MockServer, write_sse
from support.mock_upstream import openai_usage
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

API_KEY = "0123456789abcdef0123456789abcdef"
API_VERSIONS = ("2024-02-01", "2024-06-01", "2024-10-21", "2025-01-01-preview")
FILTERED = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


@dataclass(frozen=True)
class Text:
    content: str = "Hello from Azure."
    prompt_tokens: int = 10
    completion_tokens: int = 4
    chunks: int = 3


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]
    id: str = "call_azure_0001"


@dataclass(frozen=True)
class Error:
    status: int
    code: str
    message: str


_TEXT_PART = obj({"type": string(enum=("text",)), "text": string()})
_PART = tagged(
    "type",
    {
        "text": _TEXT_PART,
        "image_url": obj(
            {"type": string(), "image_url": obj({"url": string()}, {"detail": string()})}
        ),
        # A file inline (file_data: a data URL, with its filename) or uploaded (file_id).
        "file": obj(
            {
                "type": string(),
                "file": obj(
                    {},
                    {
                        "file_data": string(prefix="data:"),
                        "file_id": string(),
                        "filename": string(),
                    },
                ),
            }
        ),
    },
)
_TOOL_CALL = obj(
    {
        "id": string(non_empty=True),
        "type": string(enum=("function",)),
        "function": obj({"name": string(non_empty=True), "arguments": string()}),
    }
)
_MESSAGE = tagged(
    "role",
    {
        "system": obj(
            {"role": string(), "content": either(string(), array(_TEXT_PART))}, {"name": string()}
        ),
        "developer": obj({"role": string(), "content": either(string(), array(_TEXT_PART))}),
        "user": obj(
            {"role": string(), "content": either(string(), array(_PART))}, {"name": string()}
        ),
        "assistant": obj(
            {"role": string()},
            {
                "content": either(
                    string(),
                    array(_TEXT_PART),
                    lambda v, p, e: None if v is None else e.append(f"{p}: invalid"),
                ),
                "tool_calls": array(_TOOL_CALL),
                "name": string(),
                "refusal": lambda v, p, e: None,
            },
        ),
        "tool": obj(
            {
                "role": string(),
                "content": either(string(), array(_TEXT_PART)),
                "tool_call_id": string(),
            }
        ),
    },
)
CHAT: Check = obj(
    {"messages": array(_MESSAGE, min_items=1)},
    {
        "model": string(),
        "frequency_penalty": number(minimum=-2, maximum=2),
        "presence_penalty": number(minimum=-2, maximum=2),
        "logit_bias": any_object(),
        "logprobs": boolean(),
        "top_logprobs": integer(minimum=0),
        "max_tokens": integer(minimum=1),
        "max_completion_tokens": integer(minimum=1),
        "n": integer(minimum=1),
        "response_format": any_object(),
        "seed": integer(),
        "stop": either(string(), array(string())),
        "stream": boolean(),
        "stream_options": obj({}, {"include_usage": boolean()}),
        "temperature": number(minimum=0, maximum=2),
        "top_p": number(minimum=0, maximum=1),
        "tools": array(
            obj(
                {
                    "type": string(enum=("function",)),
                    "function": obj(
                        {"name": string()},
                        {"description": string(), "parameters": any_object(), "strict": boolean()},
                    ),
                }
            )
        ),
        "tool_choice": either(string(enum=("none", "auto", "required")), any_object()),
        "parallel_tool_calls": boolean(),
        "user": string(),
    },
)
EMBEDDINGS: Check = obj(
    {"input": either(string(), array(string(), min_items=1))},
    {
        "model": string(),
        "encoding_format": string(enum=("float", "base64")),
        "dimensions": integer(minimum=1),
        "user": string(),
    },
)


class MockAzure(MockServer):
    name = "mock-azure"

    def default_behaviour(self) -> Any:
        return Text()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)

    def _problems(self, request: web.Request, recorded: Any, check: Check) -> list[str]:
        problems = []
        if request.query.get("api-version") not in API_VERSIONS:
            problems.append(f"api-version {request.query.get('api-version')!r} is not supported")
        if recorded.headers.get("api-key") != API_KEY:
            problems.append("api-key header missing or wrong")
        if "authorization" in recorded.headers:
            problems.append("an Authorization header was sent to Azure with api-key auth")
        problems.extend(validate(check, recorded.body))
        return problems

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded, behaviour = await self.record(request)
        problems = self._problems(request, recorded, CHAT)
        if self.violated(problems):
            return _error(Error(400, "BadRequest", "; ".join(problems)))
        if isinstance(behaviour, Error):
            return _error(behaviour)
        deployment = request.match_info.get("deployment", "")
        body = recorded.body
        if body.get("stream"):
            return await self._stream(request, body, behaviour, deployment)
        message: dict[str, Any] = {"role": "assistant", "refusal": None}
        if isinstance(behaviour, Call):
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": behaviour.id,
                    "type": "function",
                    "function": {
                        "name": behaviour.name,
                        "arguments": json.dumps(behaviour.arguments),
                    },
                }
            ]
            finish, usage = "tool_calls", openai_usage(80, 17)
        else:
            message["content"] = behaviour.content
            finish = "stop"
            usage = openai_usage(behaviour.prompt_tokens, behaviour.completion_tokens)
        return web.json_response(
            {
                "id": "chatcmpl-AzureMock0001",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4o-2024-11-20",
                "system_fingerprint": "fp_azure",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERED}],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish,
                        "content_filter_results": FILTERED,
                    }
                ],
                "usage": usage,
            },
            headers={"apim-request-id": "mock", "x-ms-region": "East US"},
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: Any, deployment: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await write_sse(
            response,
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERED}],
            },
        )
        base = {
            "id": "chatcmpl-AzureMockStream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "gpt-4o-2024-11-20",
            "system_fingerprint": "fp_azure",
        }

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            choice = {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish,
                "content_filter_results": {} if finish else FILTERED,
            }
            return {**base, "choices": [choice]}

        await write_sse(
            response, chunk({"role": "assistant", "content": "", "refusal": None}, None)
        )
        if isinstance(reply, Call):
            arguments = json.dumps(reply.arguments)
            await write_sse(
                response,
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": reply.id,
                                "type": "function",
                                "function": {"name": reply.name, "arguments": ""},
                            }
                        ]
                    },
                    None,
                ),
            )
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                await write_sse(
                    response,
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None),
                )
            finish, usage = "tool_calls", openai_usage(80, 17)
        else:
            size = max(1, len(reply.content) // reply.chunks)
            for start in range(0, len(reply.content), size):
                await write_sse(
                    response, chunk({"content": reply.content[start : start + size]}, None)
                )
            finish, usage = "stop", openai_usage(reply.prompt_tokens, reply.completion_tokens)
        await write_sse(response, chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            await write_sse(response, {**base, "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        recorded, _ = await self.record(request)
        problems = self._problems(request, recorded, EMBEDDINGS)
        if self.violated(problems):
            return _error(Error(400, "BadRequest", "; ".join(problems)))
        inputs = recorded.body["input"]
        items = inputs if isinstance(inputs, list) else [inputs]
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.25, -0.5, float(len(t))]}
                    for i, t in enumerate(items)
                ],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 3 * len(items), "total_tokens": 3 * len(items)},
            }
        )


def _error(error: Error) -> web.Response:
    body: dict[str, Any] = {
        "error": {"code": error.code, "message": error.message, "param": None, "type": None}
    }
    if error.code == "content_filter":
        body["error"].update(
            param="prompt",
            status=400,
            innererror={
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    **FILTERED,
                    "violence": {"filtered": True, "severity": "high"},
                },
            },
        )
    return web.json_response(body, status=error.status)
