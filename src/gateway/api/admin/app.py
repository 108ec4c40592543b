"""The admin API's ASGI entry: route, authenticate (master or management key), answer JSON.

Routes are matched before the key is checked, so an unknown path is a 404
whatever the key; every matched route needs the master key or a management
key. Bodies are JSON objects (1 MiB at most). Every answer, error or not, is
JSON and carries ``x-request-id``; a handler's ``GatewayError`` becomes the
OpenAI error shape with its status, and anything else is logged and answered
500 (no input is meant to get there).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.api.admin import audit, catalog, keys, overrides, reload, teams
from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest, query_params
from gateway.api.errors import error_body, error_headers, error_status
from gateway.api.http import (
    JSON_HEADERS,
    ClientGone,
    Incoming,
    Receive,
    Scope,
    Send,
    new_request_id,
    read_body,
    read_headers,
    send_bytes,
)
from gateway.errors import (
    GatewayError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
)

log = logging.getLogger("gateway.admin")

Handler = Callable[[ControlPlane, AdminRequest], Awaitable[dict[str, Any]]]
MAX_BODY_BYTES = 1024 * 1024

OVERRIDES_PREFIX = "/admin/overrides/"
KEY_PREFIX = "/key/"
REGENERATE_SUFFIX = "/regenerate"

ROUTES: dict[str, dict[str, Handler]] = {
    "/admin/overrides": {"GET": overrides.list_overrides},
    "/admin/audit": {"GET": audit.list_audit},
    "/key/generate": {"POST": keys.generate},
    "/key/update": {"POST": keys.update},
    "/key/delete": {"POST": keys.delete},
    "/key/regenerate": {"POST": keys.regenerate},
    "/key/info": {"GET": keys.info},
    "/key/list": {"GET": keys.list_keys},
    "/team/new": {"POST": teams.new},
    "/team/update": {"POST": teams.update},
    "/team/delete": {"POST": teams.delete},
    "/team/info": {"GET": teams.info},
    "/model/new": {"POST": catalog.new},
    "/model/update": {"POST": catalog.update},
    "/model/delete": {"POST": catalog.delete},
    "/model/info": {"GET": catalog.info},
    "/config/reload": {"POST": reload.reload_config},
}
# Routes with a variable part: a model group (which may hold slashes), a key.
OVERRIDE_ROUTES: dict[str, Handler] = {
    "PUT": overrides.put_override,
    "DELETE": overrides.delete_override,
    "GET": overrides.get_override,
}


def is_admin_path(path: str) -> bool:
    return (
        path in ROUTES
        or path.startswith(OVERRIDES_PREFIX)
        or (path.startswith(KEY_PREFIX) and path.endswith(REGENERATE_SUFFIX))
    )


class ControlPlaneApp:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        try:
            headers = read_headers(scope)
            request_id = headers.request_id or request_id
            handler, path_arg = _route(scope["method"], scope["path"])
            actor = await self.control.auth.require_admin(headers)
            body: dict[str, Any] = {}
            if scope["method"] in ("POST", "PUT", "DELETE"):
                body = _json_object(
                    await read_body(receive, MAX_BODY_BYTES, headers.content_length)
                )
            incoming = Incoming(scope, headers, request_id, 0.0, receive, send)
            request = AdminRequest(
                incoming, actor, path_arg, query_params(scope.get("query_string", b"")), body
            )
            answer = await handler(self.control, request)
            await send_bytes(send, 200, orjson.dumps(answer), _headers(request_id))
        except ClientGone:
            return
        except GatewayError as exc:
            await _send_error(send, exc, request_id)
        except Exception:
            log.exception("admin request failed", extra={"request_id": request_id})
            await _send_error(
                send, InternalError("The admin request failed; see the gateway's logs."), request_id
            )


async def send_not_served(scope: Scope, send: Send, message: str) -> None:
    """A 404 for a path this process does not serve (its role leaves it to another)."""
    await _send_error(send, RouteNotFound(message, code="not_served_here"), new_request_id())


def _route(method: str, path: str) -> tuple[Handler, str]:
    methods = ROUTES.get(path)
    arg = ""
    if methods is None and path.startswith(OVERRIDES_PREFIX):
        methods = OVERRIDE_ROUTES
        arg = path[len(OVERRIDES_PREFIX) :]
        if not arg:
            raise RouteNotFound("Name the model group: /admin/overrides/{model_group}.")
    elif methods is None and path.startswith(KEY_PREFIX) and path.endswith(REGENERATE_SUFFIX):
        methods = {"POST": keys.regenerate}
        arg = path[len(KEY_PREFIX) : -len(REGENERATE_SUFFIX)]
    if methods is None:
        raise RouteNotFound(f"Unknown path {path}.")
    handler = methods.get(method)
    if handler is None:
        raise MethodNotAllowed(
            f"Method {method} is not allowed on {path}; use {', '.join(methods)}."
        )
    return handler, arg


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"The body must be a JSON object, not {type(body).__name__}.")
    return body


def _headers(request_id: str) -> list[tuple[bytes, bytes]]:
    return [*JSON_HEADERS, (b"x-request-id", request_id.encode())]


async def _send_error(send: Send, error: GatewayError, request_id: str) -> None:
    headers = [*_headers(request_id), *error_headers(error)]
    try:
        await send_bytes(send, error_status(error), error_body(error), headers)
    except RuntimeError:
        log.debug("could not send the admin error response: response already started")
