"""An upstream with OpenAI's Responses API (``POST /v1/responses``) beside chat completions.

Requests are checked as OpenAI checks them: bearer auth, ``model`` and ``input``
present, no parameter the API does not know (so a gateway that leaks its own
fields fails), and a ``previous_response_id`` must name a response *this*
server issued, or it answers OpenAI's 400 (so a follow-up sent to the wrong
deployment is caught). Answers are Response objects, or the event stream with
``event:`` lines and sequence numbers, as OpenAI sends them.

``MockChatOnly`` is an OpenAI-compatible server without the Responses API: it
answers 404 on ``/v1/responses``, as vLLM or an older proxy would.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from aiohttp import web

from support.mock_azure import Call, Error, Text
from support.mock_openai import API_KEY, MockOpenAI
from support.mock_server import split

KNOWN_FIELDS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs",
        "reasoning", "text", "stream", "stream_options", "store", "previous_response_id",
        "include", "prompt_cache_key", "prompt_cache_retention", "service_tier", "metadata",
        "user", "safety_identifier", "truncation", "background", "conversation", "prompt",
    }
)  # fmt: skip
SERVED_MODEL = "gpt-5-mini-2025-08-07"


class MockResponses(MockOpenAI):
    name = "mock-responses"

    def __init__(self) -> None:
        super().__init__()
        self._issued: set[str] = set()
        self._ids_lock = threading.Lock()
        self._serial = itertools.count(1)

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/v1/responses", self._responses)

    def issued(self, response_id: str) -> bool:
        with self._ids_lock:
            return response_id in self._issued

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        recorded, behaviour = await self.record(request)
        body = recorded.body
        problems = []
        if recorded.headers.get("authorization") != f"Bearer {API_KEY}":
            problems.append("Authorization: Bearer <key> missing or wrong")
        if not isinstance(body, dict):
            problems.append("body is not a JSON object")
            body = {}
        for name in body:
            if name not in KNOWN_FIELDS:
                problems.append(f"Unknown parameter: '{name}'.")
        if not isinstance(body.get("model"), str):
            problems.append("Missing required parameter: 'model'.")
        if body.get("input") is None:
            problems.append("Missing required parameter: 'input'.")
        if self.violated(problems):
            return _error(Error(400, "invalid_request_error", "; ".join(problems)))
        previous = body.get("previous_response_id")
        if previous is not None and not self.issued(previous):
            # Not a violation: the caller may test exactly this; OpenAI's own answer.
            return _error(
                Error(
                    400,
                    "previous_response_not_found",
                    f"Previous response with id '{previous}' not found.",
                )
            )
        if isinstance(behaviour, Error):
            return _error(behaviour)
        response_id = f"resp_mock{next(self._serial):06d}{id(self) % 10000:04d}"
        with self._ids_lock:
            self._issued.add(response_id)
        response = _response(response_id, body, behaviour)
        if body.get("stream"):
            return await _stream(request, response, behaviour)
        return web.json_response(response)


class MockChatOnly(MockOpenAI):
    """Chat completions only: ``/v1/responses`` is 404, as on servers without it."""

    name = "mock-chat-only"

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/v1/responses", self._no_responses)

    async def _no_responses(self, request: web.Request) -> web.Response:
        await self.record(request, take=False)
        return web.json_response({"detail": "Not Found"}, status=404)


def _usage(behaviour: Any) -> dict[str, Any]:
    prompt, completion = (80, 17) if isinstance(behaviour, Call) else (
        behaviour.prompt_tokens, behaviour.completion_tokens
    )  # fmt: skip
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _output(behaviour: Any) -> list[dict[str, Any]]:
    if isinstance(behaviour, Call):
        return [
            {
                "id": "fc_mock0001",
                "type": "function_call",
                "status": "completed",
                "call_id": behaviour.id,
                "name": behaviour.name,
                "arguments": json.dumps(behaviour.arguments),
            }
        ]
    return [
        {
            "id": "msg_mock0001",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": behaviour.content,
                    "annotations": [],
                    "logprobs": [],
                }
            ],
        }
    ]


def _response(response_id: str, body: dict[str, Any], behaviour: Any) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": SERVED_MODEL,
        "output": _output(behaviour),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _usage(behaviour),
        "user": None,
        "metadata": body.get("metadata", {}),
    }


async def _stream(
    request: web.Request, response: dict[str, Any], behaviour: Any
) -> web.StreamResponse:
    stream = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await stream.prepare(request)
    sequence = itertools.count()

    async def send(kind: str, payload: dict[str, Any]) -> None:
        event = {"type": kind, "sequence_number": next(sequence), **payload}
        await stream.write(f"event: {kind}\ndata: {json.dumps(event)}\n\n".encode())

    start = {**response, "status": "in_progress", "output": [], "usage": None}
    await send("response.created", {"response": start})
    await send("response.in_progress", {"response": start})
    item = response["output"][0]
    where = {"item_id": item["id"], "output_index": 0}
    if item["type"] == "function_call":
        await send(
            "response.output_item.added",
            {"output_index": 0, "item": {**item, "arguments": "", "status": "in_progress"}},
        )
        arguments = item["arguments"]
        for piece in split(arguments, 2):
            await send("response.function_call_arguments.delta", {**where, "delta": piece})
        await send("response.function_call_arguments.done", {**where, "arguments": arguments})
    else:
        text = item["content"][0]["text"]
        await send(
            "response.output_item.added",
            {"output_index": 0, "item": {**item, "content": [], "status": "in_progress"}},
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        await send("response.content_part.added", {**where, "content_index": 0, "part": part})
        for piece in split(text, behaviour.chunks):
            await send(
                "response.output_text.delta",
                {**where, "content_index": 0, "delta": piece, "logprobs": []},
            )
        await send(
            "response.output_text.done", {**where, "content_index": 0, "text": text, "logprobs": []}
        )
        await send(
            "response.content_part.done",
            {**where, "content_index": 0, "part": {**part, "text": text}},
        )
    await send("response.output_item.done", {"output_index": 0, "item": item})
    await send("response.completed", {"response": response})
    await stream.write_eof()
    return stream


def _error(error: Error) -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": error.message,
                "type": "invalid_request_error",
                "param": None,
                "code": error.code,
            }
        },
        status=error.status,
    )


__all__ = ["Call", "Error", "MockChatOnly", "MockResponses", "Text"]
