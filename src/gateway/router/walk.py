"""One request's walk through the groups: what was tried, and why a group gave up."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import GatewayError, UpstreamError
from gateway.router.classify import FallbackKind
from gateway.router.cooldown import Cooling
from gateway.router.groups import Deployment
from gateway.router.request import RouteRequest, RouteTrace


@dataclass(slots=True)
class Walk:
    """One request's journey: what was tried and how it went."""

    request: RouteRequest
    trace: RouteTrace
    trail: list[str] = field(default_factory=list)
    estimate: int | None = None
    # Unavailability seen in the group asked for (for the last-resort probe).
    primary_cooling: dict[str, Cooling] = field(default_factory=dict)
    primary_limited: bool = False
    # Per group, the deployments its tags allow (None: all), worked out once per walk.
    allowed: dict[str, frozenset[str] | None] = field(default_factory=dict)

    def note(self, group: str, deployment_id: str, error: GatewayError) -> None:
        status = getattr(error, "upstream_status", None) or error.http_status()
        self.trail.append(f"{group}/{deployment_id}: {error.label} ({status})")

    def describe(self) -> str:
        return "; ".join(self.trail) if self.trail else "nothing could be tried"


@dataclass(slots=True)
class GroupFailed:
    error: GatewayError
    kind: FallbackKind


@dataclass(slots=True)
class Unavailable:
    """Why a group had no deployment to offer."""

    cooling: dict[str, Cooling] = field(default_factory=dict)
    limited_for: float | None = None
    too_long: list[str] = field(default_factory=list)


class AttemptFailed(Exception):
    """An attempt on ``deployment`` failed with ``error``: what the walk's failure
    handling needs, whichever of a hedge race's attempts it was."""

    def __init__(self, deployment: Deployment, probing: bool, error: UpstreamError) -> None:
        super().__init__(error.message)
        self.deployment = deployment
        self.probing = probing
        self.error = error
