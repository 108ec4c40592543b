"""WebSocket upgrades are answered at once with a plain HTTP error, never left hanging.

Some clients (Codex) try a WebSocket on ``/v1/responses`` first and fall back to
HTTP streaming when the handshake is refused; an immediate refusal makes that
fallback instant. With the ASGI ``websocket.http.response`` extension (uvicorn
has it) the refusal is a JSON error body; otherwise the server's own 403.
"""

from __future__ import annotations

from gateway.api.errors import error_body
from gateway.api.http import Receive, Scope, Send
from gateway.errors import MethodNotAllowed

REFUSED_STATUS = 405


async def refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    path = scope.get("path", "")
    error = MethodNotAllowed(
        f"WebSocket connections are not served on {path}; use HTTP (POST with "
        "stream: true streams the answer as server-sent events)."
    )
    if "websocket.http.response" in scope.get("extensions", {}):
        body = error_body(error)
        await send(
            {
                "type": "websocket.http.response.start",
                "status": REFUSED_STATUS,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008})
