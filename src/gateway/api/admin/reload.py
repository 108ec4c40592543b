"""``POST /config/reload``: re-read the config file and swap the data plane, on every process.

The file is validated first: a bad file is refused with every problem listed,
and the running config stays. A good one is swapped in here, recorded in the
audit trail, and announced, so every other worker and instance re-reads its
own file too; each process builds fresh providers (so fresh credentials) and
drops its cached keys. ``SIGHUP`` does the same for one process.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest
from gateway.api.control.bodies import Body, parse, text
from gateway.config.loader import ConfigError
from gateway.errors import InvalidRequest


class ReloadBody(Body):
    reason: text(500) | None = Field(  # type: ignore[valid-type]
        default=None, description="Why, for the audit trail."
    )


async def reload_config(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    reason = parse(ReloadBody, request.body).reason
    try:
        report = await control.runtime.reload(request.actor.name, reason)
    except ConfigError as exc:
        count = len(exc.problems)
        raise InvalidRequest(
            f"The config file was not reloaded ({count} problem{'s' if count != 1 else ''}; "
            "the running config stays): " + "; ".join(exc.problems),
            code="invalid_config",
        ) from None
    control.note(request.actor.name, "reload", "config", report.source)
    return {
        "reloaded": True,
        "source": report.source,
        "deployments": report.deployments,
        "model_groups": report.model_groups,
        "warnings": report.warnings,
    }
