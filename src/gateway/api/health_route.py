"""``GET /health`` (admin): the latest background deployment checks, never a live call.

The health process probes every deployment each ``health_check_interval`` and
writes the results to the run directory; this route only reads them, so it
costs no provider quota however often it is polled.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.api.http import JSON_HEADERS, Incoming, send_bytes
from gateway.api.services import DataPlane
from gateway.observability.status import read_json


async def deployment_health(plane: DataPlane, request: Incoming) -> None:
    plane.auth.check(request.headers)
    body: dict[str, Any]
    if plane.health_checks_file is None:
        body = {
            "background_health_checks": False,
            "message": "Background checks are off: set general_settings.background_health_checks.",
            "healthy_endpoints": [],
            "unhealthy_endpoints": [],
        }
    else:
        latest = read_json(plane.health_checks_file) or {}
        results = latest.get("results", [])
        healthy = [r for r in results if r.get("healthy")]
        unhealthy = [r for r in results if not r.get("healthy")]
        body = {
            "background_health_checks": True,
            "checked_at": latest.get("checked_at"),
            "interval": latest.get("interval"),
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
            "healthy_endpoints": healthy,
            "unhealthy_endpoints": unhealthy,
        }
    await send_bytes(
        request.send,
        200,
        orjson.dumps(body),
        [*JSON_HEADERS, (b"x-request-id", request.request_id.encode())],
    )
