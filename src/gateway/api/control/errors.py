"""Every answer of the control API in the gateway's OpenAI error shape, never FastAPI's.

A ``GatewayError`` keeps its status and body; Starlette's 404 and 405 become
``RouteNotFound`` and ``MethodNotAllowed`` (naming the allowed methods); a
request FastAPI itself finds malformed is a 400 naming the field; anything else
is logged and answered 500 without details.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api.errors import error_body, error_headers, error_status
from gateway.api.http import new_request_id
from gateway.errors import (
    GatewayError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    RouteNotFound,
)

log = logging.getLogger("gateway.admin")
REQUEST_ID_STATE = "request_id"


def request_id_of(request: Request) -> str:
    known = getattr(request.state, REQUEST_ID_STATE, None)
    if isinstance(known, str):
        return known
    request_id = request.headers.get("x-request-id") or new_request_id()
    setattr(request.state, REQUEST_ID_STATE, request_id)
    return request_id


def error_body_bytes(error: GatewayError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return error_status(error), error_body(error), error_headers(error)


def error_response(request: Request, error: GatewayError) -> Response:
    headers = {"x-request-id": request_id_of(request)}
    headers.update({k.decode(): v.decode() for k, v in error_headers(error)})
    return Response(
        error_body(error),
        status_code=error_status(error),
        media_type="application/json",
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return error_response(
                request,
                MethodNotAllowed(
                    f"Method {request.method} is not allowed on {path}; use {allowed}."
                ),
            )
        if exc.status_code == 404:
            return error_response(request, RouteNotFound(f"Unknown path {path}."))
        return error_response(request, InvalidRequest(str(exc.detail)))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
        field = ".".join(where) or None
        message = first.get("msg", "invalid request")
        named = f"Invalid {field!r}: {message}." if field else f"Invalid request: {message}."
        return error_response(request, InvalidRequest(named, param=field))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("admin request failed", extra={"request_id": request_id_of(request)})
        return error_response(
            request, InternalError("The admin request failed; see the gateway's logs.")
        )

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)
