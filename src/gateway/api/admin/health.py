"""``GET /health`` (admin): the latest background deployment checks, never a live call.

The health process probes every deployment each ``health_check_interval`` and
writes the results to the run directory; this route only reads them, so it
costs no provider quota however often it is polled.
"""

from __future__ import annotations

from typing import Any

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest
from gateway.observability.status import read_json


async def deployment_health(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    plane = control.runtime.plane
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
    return body
