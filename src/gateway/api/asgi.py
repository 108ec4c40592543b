"""The data plane's ASGI entry: route by path, attach a request id, turn errors into JSON.

A dict lookup dispatches the hot routes, with no framework in between; every
response, error or not, carries ``x-request-id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from urllib.parse import unquote

from gateway.api.access import visible
from gateway.api.errors import error_body, error_headers, error_status
from gateway.api.http import (
    JSON_HEADERS,
    ClientGone,
    Incoming,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    new_request_id,
    read_headers,
    send_bytes,
)
from gateway.api.inference import handle_inference
from gateway.api.messages import handle_count_tokens, handle_messages
from gateway.api.messages import send_error as send_anthropic_error
from gateway.api.metrics_route import serve_metrics
from gateway.api.models import anthropic_page
from gateway.api.responses import handle_responses
from gateway.api.responses_stored import PREFIXES as STORED_RESPONSES
from gateway.api.responses_stored import handle_stored_response
from gateway.api.services import DataPlane
from gateway.errors import (
    GatewayError,
    InternalError,
    MethodNotAllowed,
    ModelNotFound,
    RouteNotFound,
)
from gateway.providers.base import Operation

log = logging.getLogger(__name__)

Handler = Callable[[DataPlane, Incoming], Awaitable[None]]

MODELS_PREFIXES = ("/v1/models/", "/models/")
# Routes whose callers read errors in Anthropic's shape (Anthropic SDKs, Claude Code).
ANTHROPIC_ROUTES = frozenset(
    {"/messages", "/v1/messages", "/messages/count_tokens", "/v1/messages/count_tokens"}
)
# Azure OpenAI's paths, with the model (Azure's deployment) in the path, as code written
# for ``AzureOpenAI`` sends them: /openai/deployments/{model}/chat/completions, and the
# older /engines/{model}/... form.
AZURE_PREFIXES = ("/openai/deployments/", "/deployments/", "/openai/engines/", "/engines/")
AZURE_OPERATIONS = {
    "chat/completions": Operation.CHAT,
    "completions": Operation.COMPLETION,
    "embeddings": Operation.EMBEDDING,
}


class DataPlaneApp:
    """ASGI app for the data plane. ``plane`` is replaced whole on config reload."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._post: dict[str, Handler] = {}
        for path, operation in (
            ("/chat/completions", Operation.CHAT),
            ("/completions", Operation.COMPLETION),
            ("/embeddings", Operation.EMBEDDING),
        ):
            handler: Handler = partial(handle_inference, operation)
            self._post[path] = handler
            self._post["/v1" + path] = handler
        for path, handler in (
            ("/messages", handle_messages),
            ("/messages/count_tokens", handle_count_tokens),
            ("/responses", handle_responses),
        ):
            self._post[path] = handler
            self._post["/v1" + path] = handler
        self._get: dict[str, Handler] = {
            "/v1/models": _list_models,
            "/models": _list_models,
            "/metrics": serve_metrics,
            "/metrics/": serve_metrics,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.monotonic()
        request_id = ""
        try:
            headers = read_headers(scope)
            request_id = headers.request_id or new_request_id()
            handler = self._handler(scope["method"], scope["path"])
            in_flight = self.plane.metrics.in_flight
            in_flight.inc()
            try:
                incoming = Incoming(scope, headers, request_id, arrived, receive, send)
                await handler(self.plane, incoming)
            finally:
                in_flight.dec()
        except ClientGone:
            return  # nobody to answer; the request's accounting scope recorded it
        except GatewayError as exc:
            await _send_error(scope, send, exc, request_id or new_request_id())
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            error = InternalError("The gateway failed to handle this request; see its logs.")
            await _send_error(scope, send, error, request_id or new_request_id())

    def _handler(self, method: str, path: str) -> Handler:
        if method == "POST":
            handler = self._post.get(path)
            if handler is not None:
                return handler
        elif method == "GET":
            handler = self._get.get(path)
            if handler is not None:
                return handler
            if path.startswith(MODELS_PREFIXES):
                return _get_model
        if method == "POST" and path.startswith(AZURE_PREFIXES):
            azure = _azure_handler(path)
            if azure is not None:
                return azure
        if path.startswith(STORED_RESPONSES) and method in ("GET", "DELETE"):
            return handle_stored_response
        if (
            path in self._post
            or path in self._get
            or path.startswith(MODELS_PREFIXES)
            or path.startswith(STORED_RESPONSES)
        ):
            raise MethodNotAllowed(f"Method {method} is not allowed on {path}.")
        raise RouteNotFound(f"Unknown path {path}.")


def _azure_handler(path: str) -> Handler | None:
    """The handler of an Azure-style path, the model taken from it; None when it is not one."""
    prefix = next(p for p in AZURE_PREFIXES if path.startswith(p))
    model, _, rest = path[len(prefix) :].partition("/")
    operation = AZURE_OPERATIONS.get(rest)
    if not model or operation is None:
        return None
    return partial(handle_inference, operation, path_model=unquote(model))


def wants_anthropic(headers: RequestHeaders) -> bool:
    """An Anthropic client: it sends ``anthropic-version``, or ``x-api-key`` alone."""
    return headers.anthropic_version is not None or (
        headers.api_key is not None and headers.authorization is None
    )


async def _list_models(plane: DataPlane, request: Incoming) -> None:
    caller = await plane.auth.authenticate(request.headers)
    if wants_anthropic(request.headers):
        ids = [n for n in plane.anthropic_models if visible(plane, caller, n)]
        page = anthropic_page(ids, plane.anthropic_models, request.scope.get("query_string", b""))
        headers = [*JSON_HEADERS, *_ids(request.request_id)]
        await send_bytes(request.send, 200, page, headers)
        return
    listing = plane.models_list
    if caller.grant is not None:
        # A virtual key sees the models it may use (LiteLLM lists them the same way).
        entries = [doc for name, doc in plane.models_by_id.items() if visible(plane, caller, name)]
        if len(entries) < len(plane.models_by_id):
            listing = b'{"object":"list","data":[' + b",".join(entries) + b"]}"
    await send_bytes(
        request.send,
        200,
        listing,
        [*JSON_HEADERS, (b"x-request-id", request.request_id.encode())],
    )


async def _get_model(plane: DataPlane, request: Incoming) -> None:
    caller = await plane.auth.authenticate(request.headers)
    path: str = request.scope["path"]
    # Ids may hold slashes (``openai/gpt-5.5``): everything after the prefix is the id.
    prefix = next(p for p in MODELS_PREFIXES if path.startswith(p))
    model_id = path[len(prefix) :]
    document = plane.models_by_id.get(model_id)
    if document is None or not visible(plane, caller, model_id):
        available = ", ".join(n for n in plane.models_by_id if visible(plane, caller, n))
        hidden = document is not None
        raise ModelNotFound(
            f"The model {model_id!r} does not exist"
            + (" or this API key may not use it" if hidden else "")
            + f". Available models: {available}",
            param="model",
        )
    if wants_anthropic(request.headers):
        document = plane.anthropic_models.get(model_id, document)
    await send_bytes(request.send, 200, document, [*JSON_HEADERS, *_ids(request.request_id)])


def _ids(request_id: str) -> list[tuple[bytes, bytes]]:
    """The request id, as OpenAI's SDKs read it and as Anthropic's do."""
    encoded = request_id.encode()
    return [(b"x-request-id", encoded), (b"request-id", encoded)]


async def _send_error(scope: Scope, send: Send, error: GatewayError, request_id: str) -> None:
    try:
        path = scope.get("path", "")
        if path in ANTHROPIC_ROUTES or (
            path.startswith(("/v1/models", "/models")) and wants_anthropic(read_headers(scope))
        ):
            await send_anthropic_error(send, error, request_id)
            return
        headers = [*JSON_HEADERS, (b"x-request-id", request_id.encode()), *error_headers(error)]
        await send_bytes(send, error_status(error), error_body(error), headers)
    except RuntimeError:
        # The response had already started (a stream); nothing more can be said.
        log.debug("could not send error response: response already started")
