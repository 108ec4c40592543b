"""The control API as a FastAPI application: routes, the admin dependency, ``/openapi.json``.

Every route needs the master key or a management key (``require_admin``, one
dependency for all of them); an unknown path is a 404 and a wrong method a 405
whatever the key, since routing comes first. Bodies are JSON objects of at most
1 MiB. Each route's handler is the resource module's own (``api/admin/*``), given
an ``AdminRequest``; FastAPI routes, authenticates, answers and describes.

The data plane never comes here: ``GatewayApp`` dispatches inference routes
before this application sees a request.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from gateway.api.admin import (
    audit,
    board,
    cache,
    catalog,
    health,
    key_fields,
    keys,
    overrides,
    reload,
    spend,
    teams,
)
from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest, query_params
from gateway.api.auth import Actor
from gateway.api.control.console import CONSOLE_ASSETS, CONSOLE_PAGE, console_router
from gateway.api.control.docs import DOCS_ASSETS, DOCS_PAGES, docs_router
from gateway.api.control.errors import error_body_bytes, install_error_handlers, request_id_of
from gateway.api.control.inference_docs import SECURITY_SCHEMES, inference_paths
from gateway.api.http import (
    JSON_HEADERS,
    ClientGone,
    Incoming,
    Scope,
    Send,
    new_request_id,
    read_body,
    read_headers,
    send_bytes,
)
from gateway.config.schema import ModelEntry
from gateway.errors import GatewayError, InternalError, InvalidRequest, RouteNotFound

log = logging.getLogger("gateway.admin")

Handler = Callable[[ControlPlane, AdminRequest], Awaitable[dict[str, Any]]]
# The control API as the composition root holds it (FastAPI stays inside this package).
ControlAPI = FastAPI
MAX_BODY_BYTES = 1024 * 1024
OPENAPI_PATH = "/openapi.json"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
            },
        }
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for status, description in (
        (400, "A field or parameter is invalid (``param`` names it)"),
        (401, "No key, or a key that is not valid"),
        (403, "A key without admin rights, or no master key configured"),
        (404, "Unknown path or object"),
        (413, "The body is larger than 1 MiB"),
    )
}


async def require_admin(request: Request) -> Actor:
    """The one auth policy of every control route: the master key or a management key."""
    control: ControlPlane = request.app.state.control
    return await control.auth.require_admin(read_headers(request.scope))


AdminActor = Annotated[Actor, Depends(require_admin)]


async def require_operator(request: Request) -> Actor:
    """The same policy for the routes that read or tidy what the data plane serves (spend,
    the response cache, deployment health, the API's description): an admin key, or anyone
    when no master key is set, since the gateway then serves every caller anyway (keys,
    teams and overrides still need the master key to exist)."""
    control: ControlPlane = request.app.state.control
    if not control.auth.enabled:
        return Actor("anonymous", master=False)
    return await require_admin(request)


OperatorActor = Annotated[Actor, Depends(require_operator)]
DocsReader = OperatorActor


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: bool = False  # POST/PUT/DELETE with a JSON object body
    # The body's model, for the document (None: described as a JSON object).
    model: type[BaseModel] | None = None
    # The answer's model, for the document (None: described as a JSON object).
    response: type[BaseModel] | None = None
    # Served to anyone when no master key is set (``require_operator``).
    open_without_master_key: bool = False


ROUTES: tuple[Route, ...] = (
    Route("GET", "/admin/overrides", overrides.list_overrides, "List overrides", "overrides"),
    Route(
        "GET", "/admin/overrides/{group:path}", overrides.get_override, "Get an override",
        "overrides",
    ),
    Route(
        "PUT", "/admin/overrides/{group:path}", overrides.put_override,
        "Redirect a group or replace its fallback chain, for a while", "overrides", body=True,
        model=overrides.OverridePut,
    ),
    Route(
        "DELETE", "/admin/overrides/{group:path}", overrides.delete_override,
        "End an override early", "overrides", body=True, model=overrides.OverrideDelete,
    ),
    Route("GET", "/admin/audit", audit.list_audit, "The audit trail", "audit"),
    Route(
        "GET", "/admin/board", board.board,
        "Every model group and deployment: state, recent success and latency, fallbacks",
        "board", response=board.Board,
    ),
    Route(
        "GET", "/admin/failures", board.failures,
        "The last failed attempts and requests, and whether a fallback rescued them",
        "board", response=board.Failures,
    ),
    Route(
        "POST", "/key/generate", keys.generate, "Create a virtual key", "keys", body=True,
        model=key_fields.KeyGenerate,
    ),
    Route(
        "POST", "/key/update", keys.update, "Change a key", "keys", body=True,
        model=key_fields.KeyUpdate,
    ),
    Route("POST", "/key/delete", keys.delete, "Delete keys", "keys", body=True),
    Route(
        "POST", "/key/regenerate", keys.regenerate, "Issue a new secret", "keys", body=True,
        model=key_fields.KeyRegenerate,
    ),
    Route(
        "POST", "/key/{key:path}/regenerate", keys.regenerate,
        "Issue a new secret (the key in the path)", "keys", body=True,
        model=key_fields.KeyRegenerateInPath,
    ),
    Route("GET", "/key/info", keys.info, "A key, its limits and spend", "keys"),
    Route("GET", "/key/list", keys.list_keys, "List keys", "keys"),
    Route(
        "POST", "/team/new", teams.new, "Create a team", "teams", body=True,
        model=key_fields.TeamNew,
    ),
    Route(
        "POST", "/team/update", teams.update, "Change a team", "teams", body=True,
        model=key_fields.TeamUpdate,
    ),
    Route("POST", "/team/delete", teams.delete, "Delete teams", "teams", body=True),
    Route("GET", "/team/info", teams.info, "A team, its limits and spend", "teams"),
    Route("GET", "/team/list", teams.list_teams, "List teams with their spend", "teams"),
    Route(
        "POST", "/model/new", catalog.new, "Add a runtime model", "models", body=True,
        model=ModelEntry,
    ),
    Route("POST", "/model/update", catalog.update, "Change a runtime model", "models", body=True),
    Route("POST", "/model/delete", catalog.delete, "Delete a runtime model", "models", body=True),
    Route("GET", "/model/info", catalog.info, "Models and where each comes from", "models"),
    Route(
        "POST", "/config/reload", reload.reload_config, "Reload the config file", "config",
        body=True, model=reload.ReloadBody,
    ),
    Route(
        "GET", "/spend/logs", spend.spend_logs, "Spend rows, newest first, a page at a time",
        "spend", open_without_master_key=True,
    ),
    Route(
        "GET", "/spend/report", spend.spend_report,
        "Spend summed by key, team, model group, provider or day", "spend",
        open_without_master_key=True,
    ),
    Route(
        "GET", "/cache/ping", cache.cache_ping, "Whether the response cache answers", "cache",
        open_without_master_key=True,
    ),
    Route(
        "POST", "/cache/flushall", cache.cache_flushall, "Drop every cached answer", "cache",
        open_without_master_key=True,
    ),
    Route(
        "POST", "/cache/delete", cache.cache_delete, "Drop cached answers by key", "cache",
        body=True, open_without_master_key=True,
    ),
    Route(
        "GET", "/health", health.deployment_health,
        "The latest background deployment checks (never a live call)", "health",
        open_without_master_key=True,
    ),
)  # fmt: skip


def build_control_api(control: ControlPlane, version: str) -> ControlAPI:
    app = FastAPI(
        title="gateway",
        version=version,
        description="The gateway: its inference routes (OpenAI's and Anthropic's formats, "
        "served by the data plane) and its control API (virtual keys, teams, runtime "
        "models, emergency overrides, the audit trail and config reload).",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.control = control
    install_error_handlers(app)
    router = APIRouter(responses=ERROR_RESPONSES)
    for route in ROUTES:
        router.add_api_route(
            route.path,
            _endpoint(control, route),
            methods=[route.method],
            summary=route.summary,
            tags=[route.tag],
            name=f"{route.method.lower()} {route.path}",
            openapi_extra=_described(route),
        )

    async def openapi_document(reader: DocsReader) -> Response:
        return Response(orjson.dumps(_openapi(app)), media_type="application/json")

    router.add_api_route(OPENAPI_PATH, openapi_document, methods=["GET"], include_in_schema=False)
    app.include_router(router)
    app.include_router(docs_router())
    app.include_router(console_router())
    return app


MISSING_PATH_PART = {
    "group": "Name the model group: /admin/overrides/{model_group}.",
    "key": "Name the key: /key/{key}/regenerate.",
}
# Paths the control API answers (GatewayApp sends them here; the rest is the data plane's).
STATIC_PATHS = frozenset(
    {route.path for route in ROUTES if "{" not in route.path}
    | {OPENAPI_PATH, *DOCS_PAGES, CONSOLE_PAGE, CONSOLE_PAGE + "/"}
)
OVERRIDES_PREFIX = "/admin/overrides/"
KEY_PREFIX = "/key/"
REGENERATE_SUFFIX = "/regenerate"


def is_control_path(path: str) -> bool:
    return (
        path in STATIC_PATHS
        or path.startswith(OVERRIDES_PREFIX)
        or path.startswith(DOCS_ASSETS)
        or path.startswith(CONSOLE_ASSETS)
        or (path.startswith(KEY_PREFIX) and path.endswith(REGENERATE_SUFFIX))
    )


async def send_not_served(scope: Scope, send: Send, message: str) -> None:
    """A 404 for a path this process does not serve (its role leaves it to another)."""
    error = RouteNotFound(message, code="not_served_here")
    status, body, headers = error_body_bytes(error)
    await send_bytes(
        send, status, body, [*JSON_HEADERS, (b"x-request-id", new_request_id().encode()), *headers]
    )


def _endpoint(control: ControlPlane, route: Route) -> Callable[..., Awaitable[Any]]:
    if route.open_without_master_key:

        async def operator_endpoint(request: Request, actor: OperatorActor) -> Response:
            return await _serve(control, route, request, actor)

        endpoint = operator_endpoint
    else:

        async def admin_endpoint(request: Request, actor: AdminActor) -> Response:
            return await _serve(control, route, request, actor)

        endpoint = admin_endpoint
    endpoint.__name__ = f"{route.method.lower()}_{route.path.strip('/').replace('/', '_')}"
    endpoint.__doc__ = route.summary
    return endpoint


async def _serve(control: ControlPlane, route: Route, request: Request, actor: Actor) -> Response:
    handler = route.handler
    request_id = request_id_of(request)
    scope = request.scope
    headers = read_headers(scope)
    body: dict[str, Any] = {}
    if route.body:
        body = _json_object(
            await read_body(request.receive, MAX_BODY_BYTES, headers.content_length)
        )
    path_arg = next(iter(request.path_params.values()), "")
    if request.path_params and not path_arg.strip("/"):
        raise RouteNotFound(MISSING_PATH_PART[next(iter(request.path_params))])
    incoming = Incoming(scope, headers, request_id, 0.0, request.receive, _no_send)
    admin_request = AdminRequest(
        incoming, actor, path_arg, query_params(scope.get("query_string", b"")), body
    )
    try:
        answer = await handler(control, admin_request)
    except (GatewayError, ClientGone):
        raise
    except Exception as exc:
        # Logged here with its traceback; the caller gets the gateway's error shape.
        log.exception("admin request failed", extra={"request_id": request_id})
        raise InternalError("The admin request failed; see the gateway's logs.") from exc
    return Response(
        orjson.dumps(answer),
        media_type="application/json",
        headers={"x-request-id": request_id},
    )


async def _no_send(message: Any) -> None:
    raise RuntimeError("admin handlers answer through their return value")


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


def _described(route: Route) -> dict[str, Any]:
    """What FastAPI cannot see in the endpoint's signature: the path's variable part (read
    by the handler), the JSON body (read by the resource's own field checks) and the
    answer's model (the handler returns plain JSON)."""
    extra: dict[str, Any] = {}
    names = re.findall(r"{(\w+)(?::path)?}", route.path)
    if names:
        extra["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ]
    if route.response is not None:
        extra["responses"] = {
            "200": {
                "description": "Successful Response",
                "content": {"application/json": {"schema": _schema(route.response)}},
            }
        }
    if route.body:
        schema: dict[str, Any] = {"type": "object"}
        if route.model is not None:
            schema = _schema(route.model)
        extra["requestBody"] = {
            "required": route.model is not None and bool(schema.get("required")),
            "content": {"application/json": {"schema": schema}},
        }
    return extra


# Models nested in the routes' bodies and answers, for the document's components.
_NESTED: dict[str, Any] = {}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its nested models as document components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    _NESTED.update(schema.pop("$defs", {}))
    return schema


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = app.openapi()
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.update(_NESTED)
        schemas["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = SECURITY_SCHEMES
        document["security"] = [{"bearer": []}]
        document["paths"] = {**inference_paths(), **document["paths"]}
        with contextlib.suppress(KeyError):
            # FastAPI adds its 422 shape to routes with parameters; the gateway answers 400.
            for methods in document["paths"].values():
                for operation in methods.values():
                    operation.get("responses", {}).pop("422", None)
        app.openapi_schema = document
    return app.openapi_schema
