"""The API docs pages, offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

Their scripts and styles come from the ``fastapi-offline`` package (no CDN: a host
without internet shows them too), served under ``/docs/assets/`` with the
gateway's own sign-in script. The pages hold no secret and no inline script;
they ask for an admin key, keep it in the tab's ``sessionStorage`` and send it as
a header to fetch ``/openapi.json``. Every page and asset carries a strict
Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.errors import RouteNotFound

DOCS_ASSETS = "/docs/assets/"
DOCS_PAGES = {"/docs": "docs.html", "/redoc": "redoc.html"}
# Swagger UI and ReDoc set styles inline (style attributes, generated <style>): allowed
# for styles only; scripts come from this origin alone.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


def ours(name: str) -> Traversable:
    return resources.files("gateway.api.control") / "static" / name


def _vendored(name: str) -> Traversable:
    return resources.files("fastapi_offline") / "static" / name


# Asset name -> where it is read from: a fixed list, so no path can reach another file.
ASSETS: dict[str, Traversable] = {
    "docs.js": ours("docs.js"),
    "docs.css": ours("docs.css"),
    "swagger-ui-bundle.js": _vendored("swagger-ui-bundle.js"),
    "swagger-ui.css": _vendored("swagger-ui.css"),
    "redoc.standalone.js": _vendored("redoc.standalone.js"),
    "favicon.png": _vendored("favicon.png"),
}


def _read(file: Traversable, name: str) -> tuple[bytes, str]:
    return file.read_bytes(), MEDIA_TYPES[name[name.rfind(".") :]]


def _response(content: tuple[bytes, str]) -> Response:
    body, media_type = content
    return Response(body, media_type=media_type, headers=SECURITY_HEADERS)


def docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    # Read once: a few MB, served from memory.
    assets = {name: _read(file, name) for name, file in ASSETS.items()}
    pages = {path: _read(ours(name), name) for path, name in DOCS_PAGES.items()}

    async def asset(name: str) -> Response:
        content = assets.get(name)
        if content is None:
            raise RouteNotFound(f"Unknown path {DOCS_ASSETS}{name}.")
        return _response(content)

    router.add_api_route(DOCS_ASSETS + "{name}", asset, methods=["GET"])
    for path, content in pages.items():
        router.add_api_route(path, _page(content), methods=["GET"], name=path)
    return router


def _page(content: tuple[bytes, str]) -> Callable[[], Awaitable[Response]]:
    async def page() -> Response:
        return _response(content)

    return page
