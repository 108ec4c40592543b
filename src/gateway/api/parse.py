"""Read a request body: parse once with orjson, check only what the gateway reads.

The rest of the body passes through to the provider untouched, so no schema
validation of whole bodies runs on the hot path.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.api.http import RequestHeaders
from gateway.errors import InvalidRequest, UnsupportedMediaType
from gateway.providers.base import Operation

# Fields that steer the gateway itself and never reach a provider.
GATEWAY_FIELDS = ("fallbacks", "disable_fallbacks", "metadata", "timeout", "num_retries", "tags")


def check_content_type(headers: RequestHeaders) -> None:
    content_type = headers.content_type
    if content_type is None:
        return
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != b"application/json" and not media.endswith(b"+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {media.decode('latin-1')!r}"
        )


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"The request body must be a JSON object, not a JSON {json_type(body)}."
        )
    return body


REQUIRED_INPUT = {
    Operation.CHAT: "messages",
    Operation.COMPLETION: "prompt",
    Operation.EMBEDDING: "input",
}


def check_body(operation: Operation, body: dict[str, Any]) -> tuple[str, bool]:
    """Validate the fields the gateway reads; return (model, stream)."""
    model = body.get("model")
    if model is None:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            f"Invalid type for 'model': expected a non-empty string, got {json_type(model)}.",
            param="model",
        )
    field = REQUIRED_INPUT[operation]
    value = body.get(field)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{field}'.", param=field)
    if operation is Operation.CHAT:
        _check_messages(value)
    elif operation is Operation.EMBEDDING:
        if not isinstance(value, (str, list)) or (isinstance(value, list) and not value):
            raise InvalidRequest(
                "Invalid 'input': expected a string or a non-empty array.", param="input"
            )
    elif not isinstance(value, (str, list)):
        raise InvalidRequest(
            f"Invalid type for 'prompt': expected a string or an array, got {json_type(value)}.",
            param="prompt",
        )
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest(
            f"Invalid type for 'stream': expected a boolean, got {json_type(stream)}.",
            param="stream",
        )
    if stream and operation is Operation.EMBEDDING:
        raise InvalidRequest("Embeddings cannot be streamed.", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(
            f"Invalid type for 'stream_options': expected an object, got {json_type(options)}.",
            param="stream_options",
        )
    return model, stream


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise InvalidRequest(
            f"Invalid type for 'messages': expected an array, got {json_type(messages)}.",
            param="messages",
        )
    if not messages:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(
                f"Invalid type for 'messages[{index}]': expected an object, "
                f"got {json_type(message)}.",
                param=f"messages[{index}]",
            )
        role = message.get("role")
        if not isinstance(role, str):
            raise InvalidRequest(
                f"Missing required parameter: 'messages[{index}].role'.",
                param=f"messages[{index}].role",
            )


def pop_request_tags(body: dict[str, Any]) -> tuple[str, ...] | None:
    """The request's routing tags: the body's ``tags`` (taken out: no provider takes it),
    else ``metadata.tags`` (LiteLLM reads both)."""
    tags = body.pop("tags", None)
    if tags is None:
        metadata = body.get("metadata")
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidRequest("Invalid 'tags': expected an array of strings.", param="tags")
    return tuple(tags)


# Longer session ids are cut (they are hashed into a pin's name anyway).
MAX_SESSION_ID = 1024


def session_of(headers: RequestHeaders, body: dict[str, Any], end_user: object) -> str | None:
    """The session a request belongs to, for session affinity: the first of the
    ``x-session-id`` header, ``x-claude-code-session-id``, the body's
    ``prompt_cache_key``, ``metadata.session_id`` and the end user (the body's ``user``;
    ``metadata.user_id`` on Anthropic's Messages API). Read before the gateway's own
    fields leave the body."""
    raw = headers.session_id or headers.agent_session_id
    if raw:
        return raw[:MAX_SESSION_ID].decode("latin-1")
    metadata = body.get("metadata")
    for value in (
        body.get("prompt_cache_key"),
        metadata.get("session_id") if isinstance(metadata, dict) else None,
        end_user,
    ):
        if isinstance(value, str) and value:
            return value[:MAX_SESSION_ID]
    return None


def pop_gateway_options(body: dict[str, Any]) -> tuple[list[str] | None, bool, float | None]:
    """Take the gateway's own fields out of the body: (fallbacks, disable, timeout)."""
    body.pop("metadata", None)
    return pop_routing_options(body)


def pop_routing_options(body: dict[str, Any]) -> tuple[list[str] | None, bool, float | None]:
    """Take the routing fields out of the body (``metadata`` stays: the Responses API
    stores and echoes it): (fallbacks, disable, timeout)."""
    fallbacks = body.pop("fallbacks", None)
    disable = body.pop("disable_fallbacks", False)
    timeout = body.pop("timeout", None)
    body.pop("num_retries", None)
    if fallbacks is not None and (
        not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks)
    ):
        raise InvalidRequest(
            "Invalid 'fallbacks': expected an array of model names.", param="fallbacks"
        )
    if not isinstance(disable, bool):
        raise InvalidRequest(
            "Invalid type for 'disable_fallbacks': expected a boolean.", param="disable_fallbacks"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise InvalidRequest(
            "Invalid 'timeout': expected a positive number of seconds.", param="timeout"
        )
    return fallbacks, disable, float(timeout) if timeout is not None else None


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
