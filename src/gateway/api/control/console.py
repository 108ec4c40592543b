"""The ops console at ``/ui``: one page, its script and style, from the package (no build
step, no CDN).

The page holds no secret and no inline script: it asks for the master key or a
management key, keeps it in the tab's ``sessionStorage`` and sends it as a header
on every call to the control API, which checks it as for any admin call (there is
no cookie, so no request forgery can act in the operator's name). The page and its
assets carry the same strict Content-Security-Policy as the API docs, with no
inline style either.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.api.control.docs import MEDIA_TYPES, SECURITY_HEADERS, ours
from gateway.errors import RouteNotFound

CONSOLE_PAGE = "/ui"
CONSOLE_ASSETS = "/ui/assets/"
# The console draws its charts as SVG and styles from its own sheet: nothing inline.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
CONSOLE_HEADERS = {**SECURITY_HEADERS, "content-security-policy": CONSOLE_CSP}
ASSETS = ("console.js", "console.css")


def console_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    files = {name: ours(name).read_bytes() for name in (*ASSETS, "console.html")}

    def respond(name: str) -> Response:
        media_type = MEDIA_TYPES[name[name.rfind(".") :]]
        return Response(files[name], media_type=media_type, headers=CONSOLE_HEADERS)

    async def page() -> Response:
        return respond("console.html")

    async def asset(name: str) -> Response:
        if name not in ASSETS:
            raise RouteNotFound(f"Unknown path {CONSOLE_ASSETS}{name}.")
        return respond(name)

    router.add_api_route(CONSOLE_PAGE, page, methods=["GET"])
    router.add_api_route(CONSOLE_PAGE + "/", page, methods=["GET"])
    router.add_api_route(CONSOLE_ASSETS + "{name}", asset, methods=["GET"])
    return router
