"""What the API hands the router, and what the router hands back."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.errors import UpstreamError
from gateway.providers.base import Operation, Usage

if TYPE_CHECKING:
    from gateway.router.groups import Deployment


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
    # The request's distributed-trace context (None: tracing is off): each attempt
    # sends the upstream a ``traceparent`` and, when sampled, is noted for its span.
    spans: RequestSpans | None = None


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


@dataclass(slots=True)
class AttemptSpan:
    """One upstream attempt as its trace span will show it (times in ns since the epoch)."""

    span_id: int
    group: str
    deployment_id: str
    provider: str
    model: str
    api_base: str | None
    start_ns: int
    # 0 while it runs, and for a stream that opened (it ends with the request).
    end_ns: int = 0
    error: UpstreamError | None = None
    # Cut short: it lost a hedge race, or the client left.
    cancelled: bool = False


@dataclass(slots=True)
class RouteEvent:
    """A router decision, shown as an event on the request's span."""

    name: str
    at_ns: int
    attributes: dict[str, str | int | float | bool]


@dataclass(slots=True)
class RequestSpans:
    """A request's trace ids and, when it is sampled, what its spans will show.

    The ids are chosen when the request arrives so every attempt can tell its upstream
    who its parent is; the spans themselves are built after the response.
    """

    trace_id: int
    span_id: int  # the gateway's server span
    sampled: bool
    attempts: list[AttemptSpan] = field(default_factory=list)
    events: list[RouteEvent] = field(default_factory=list)

    def traceparent(self, span_id: int) -> str:
        """The W3C header an upstream call with parent ``span_id`` carries."""
        return f"00-{self.trace_id:032x}-{span_id:016x}-{'01' if self.sampled else '00'}"

    def open_attempt(self, group: str, deployment: Deployment) -> AttemptSpan:
        provider = deployment.provider
        attempt = AttemptSpan(
            span_id=new_span_id(),
            group=group,
            deployment_id=deployment.id,
            provider=provider.name,
            model=deployment.spec.model,
            api_base=provider.api_base,
            start_ns=time.time_ns(),
        )
        if self.sampled:
            self.attempts.append(attempt)
        return attempt

    def event(self, name: str, attributes: dict[str, str | int | float | bool]) -> None:
        if self.sampled:
            self.events.append(RouteEvent(name, time.time_ns(), attributes))


def new_span_id() -> int:
    # W3C: an all-zero id is invalid.
    return random.getrandbits(64) or 1
