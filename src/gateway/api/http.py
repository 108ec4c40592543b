"""Small raw-ASGI helpers for the data plane (no framework on the hot path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from gateway.api.ids import random_hex
from gateway.errors import BodyTooLarge, InvalidRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_HEADERS: Headers = [(b"content-type", b"application/json")]
MAX_REQUEST_ID_LENGTH = 128


@dataclass(slots=True)
class RequestHeaders:
    """The few request headers the gateway reads, collected in one pass."""

    authorization: bytes | None = None
    api_key: bytes | None = None
    content_type: bytes | None = None
    content_length: int | None = None
    request_id: str | None = None
    # A session's id, for session affinity (x-session-id, else Claude Code's own).
    session_id: bytes | None = None
    agent_session_id: bytes | None = None
    # Anthropic's, forwarded on a Messages request passed through.
    anthropic_version: bytes | None = None
    anthropic_beta: bytes | None = None
    # The caller's W3C trace context (read only when tracing is on).
    traceparent: bytes | None = None
    tracestate: bytes | None = None


@dataclass(slots=True)
class Incoming:
    """One request as the handlers see it."""

    scope: Scope
    headers: RequestHeaders
    request_id: str
    arrived: float  # monotonic time the request reached the gateway
    receive: Receive
    send: Send


def read_headers(scope: Scope) -> RequestHeaders:
    found = RequestHeaders()
    for name, value in scope["headers"]:
        if name == b"authorization":
            found.authorization = value
        elif name in {b"x-api-key", b"api-key"}:
            found.api_key = value
        elif name == b"content-type":
            found.content_type = value
        elif name == b"content-length":
            try:
                found.content_length = int(value)
            except ValueError:
                raise InvalidRequest("Content-Length is not a number") from None
        elif name == b"x-request-id":
            found.request_id = _clean_request_id(value)
        elif name == b"x-session-id":
            found.session_id = value
        elif name == b"x-claude-code-session-id":
            found.agent_session_id = value
        elif name == b"anthropic-version":
            found.anthropic_version = value
        elif name == b"traceparent":
            found.traceparent = value
        elif name == b"tracestate":
            found.tracestate = value
        elif name == b"anthropic-beta":
            # Several anthropic-beta headers mean all of their betas.
            found.anthropic_beta = (
                value if found.anthropic_beta is None else found.anthropic_beta + b"," + value
            )
    return found


def _clean_request_id(value: bytes) -> str | None:
    if not value or len(value) > MAX_REQUEST_ID_LENGTH:
        return None
    text = value.decode("latin-1")
    return text if text.isprintable() and " " not in text else None


def new_request_id() -> str:
    return random_hex(16)


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    if declared is not None and declared > limit:
        raise BodyTooLarge(_too_large(limit))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(_too_large(limit))
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> str:
    return (
        f"Request body is larger than the limit of {limit / 1048576:g} MB "
        "(general_settings.max_request_size_mb)"
    )


class ClientGone(Exception):
    """The client disconnected before its answer could be sent."""


async def send_bytes(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
