"""The data plane's routes in the OpenAPI document.

They are served by the raw ASGI data plane, never by FastAPI, so they are described
here: each operation's path, the body's required fields and the common optional ones
(each body accepts the provider's other fields too: ``additionalProperties``), and the
gateway's error shape. The fuller wire formats are OpenAI's and Anthropic's own.
"""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}
MESSAGES = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string"},
            "content": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "null"}]},
        },
    },
}


def _body(required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **optional},
        "additionalProperties": True,
    }


STREAM = {"type": "boolean", "description": "Answer as server-sent events."}
MODEL = {"type": "string", "description": "A model group (or alias) the config serves."}
OPERATIONS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    (
        "/v1/chat/completions",
        "Chat completion (OpenAI's format)",
        "inference",
        _body(
            {"model": MODEL, "messages": MESSAGES},
            {
                "stream": STREAM,
                "max_tokens": {"type": "integer"},
                "temperature": {"type": "number"},
                "tools": {"type": "array"},
                "user": {"type": "string"},
                "fallbacks": {"type": "array", "items": {"type": "string"}},
            },
        ),
    ),
    (
        "/v1/completions",
        "Text completion (OpenAI's legacy format)",
        "inference",
        _body(
            {"model": MODEL, "prompt": {}}, {"stream": STREAM, "max_tokens": {"type": "integer"}}
        ),
    ),
    (
        "/v1/embeddings",
        "Embeddings",
        "inference",
        _body({"model": MODEL, "input": {}}, {"dimensions": {"type": "integer"}}),
    ),
    (
        "/v1/responses",
        "A response (OpenAI's Responses API)",
        "inference",
        _body(
            {"model": MODEL, "input": {}},
            {
                "stream": STREAM,
                "store": {"type": "boolean"},
                "previous_response_id": {"type": "string"},
                "instructions": {"type": "string"},
            },
        ),
    ),
    (
        "/v1/messages",
        "A message (Anthropic's Messages API, Anthropic-shaped errors)",
        "inference",
        _body(
            {"model": MODEL, "messages": MESSAGES, "max_tokens": {"type": "integer"}},
            {"stream": STREAM, "system": {}, "tools": {"type": "array"}},
        ),
    ),
    (
        "/v1/messages/count_tokens",
        "Count a Messages request's input tokens",
        "inference",
        _body({"model": MODEL, "messages": MESSAGES}, {"system": {}, "tools": {"type": "array"}}),
    ),
    ("/v1/models", "The model groups this key may use", "models", None),
]


def inference_paths() -> dict[str, Any]:
    """OpenAPI path items for the data plane's routes."""
    paths: dict[str, Any] = {}
    for path, summary, tag, body in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary,
            "tags": [tag],
            "operationId": path.strip("/").replace("/", "_"),
            "security": [{"bearer": []}],
            "responses": {
                "200": {
                    "description": "The answer (or, with stream: true, text/event-stream)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **{
                    status: {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    }
                    for status, description in (
                        ("400", "Invalid request (param names the field)"),
                        ("401", "No key, or not a valid key"),
                        ("404", "Unknown model"),
                        ("429", "Rate limited (Retry-After says when to retry)"),
                        ("502", "The upstream failed"),
                    )
                },
            },
        }
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
            paths[path] = {"post": operation}
        else:
            paths[path] = {"get": operation}
    return paths


SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The master key, or a virtual key (x-api-key works too).",
    }
}
