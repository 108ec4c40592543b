"""What the API hands the router, and what the router hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.providers.base import Operation, Usage


@dataclass(slots=True)
class RouteRequest:
    operation: Operation
    model: str
    body: dict[str, Any]
    stream: bool
    request_id: str
    # Monotonic time by which the whole walk (retries and fallbacks) must end,
    # and the timeout it came from (for messages).
    deadline: float
    timeout: float
    # The body's own ``fallbacks`` (None: not given); ``disable_fallbacks`` turns them off.
    fallbacks: list[str] | None = None
    disable_fallbacks: bool = False
    # A deployment to try first when it is healthy (the one holding the request's
    # conversation state upstream); the others still serve when it cannot.
    prefer: str | None = None
    # The request's tags (body ``tags`` or ``metadata.tags``), for tag-based routing.
    tags: tuple[str, ...] | None = None
    # The session the request belongs to (for session affinity; None: none named).
    session: str | None = None
    # Filled in by the router as it walks, and kept by the caller even when the walk
    # fails, so a failed request is still accounted to the deployments it tried.
    trace: RouteTrace = field(default_factory=lambda: RouteTrace(model_group=""))


@dataclass(slots=True)
class RouteTrace:
    """What happened on the way: who served, how many attempts, which groups were walked."""

    model_group: str  # the group that served (the one asked for until something serves)
    deployment_id: str = ""
    provider: str = ""
    api_base: str | None = None
    attempts: int = 0
    fallbacks: list[str] = field(default_factory=list)
    # The group the request entered with (after aliases and redirects).
    requested_group: str = ""
    upstream_seconds: float = 0.0
    # A hedged request: "won" when the hedge answered first, "lost" when the first
    # attempt did; and the attempts that lost a race, for their own ledger rows.
    hedge: str | None = None
    hedge_losses: list[HedgeLoss] = field(default_factory=list)


@dataclass(slots=True)
class HedgeLoss:
    """An attempt that lost a hedge race: cancelled, or answered after the winner."""

    role: str  # "hedge" (the second attempt) or "primary" (the first)
    deployment_id: str
    provider: str
    api_base: str | None
    seconds: float
    # What the upstream reported, when it answered at all (a cancelled attempt did not).
    usage: Usage | None = None
