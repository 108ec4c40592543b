"""``GET /admin/board`` and ``GET /admin/failures``: what is wrong now, for the engineer on call.

The board lists every model group with its deployments as the router sees them
(ok, cooling until when and why, or probing: its cooldown ended and the next
request tries it), each one's recent success rate, p50/p95 latency and requests
in flight, the group's routing strategy and the fallback chain in effect (a
runtime override first). Cooldowns are the fleet's (shared through Redis);
the recent figures are the whole serve's (this process and the other workers'
status files in the run directory), over the last ``WINDOW_S``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest, whole_number
from gateway.keys.durations import iso
from gateway.observability.recent import (
    FAILURES_KEPT,
    WINDOW_S,
    ActivitySummary,
    DeploymentActivity,
    merged,
)
from gateway.observability.status import STALE_AFTER_S, pid_alive
from gateway.router.cooldown import Health
from gateway.router.groups import Deployment

NO_ACTIVITY = DeploymentActivity(0, 0, ())
DeploymentStateName = Literal["ok", "cooling", "probing"]
GroupStateName = Literal["ok", "degraded", "down"]
STATE_NAMES: dict[Health, DeploymentStateName] = {
    Health.OK: "ok",
    Health.COOLING: "cooling",
    Health.PROBE_READY: "probing",
}


class DeploymentState(BaseModel):
    id: str
    model: str
    provider: str
    api_base_host: str | None
    state: DeploymentStateName = Field(
        description="ok; cooling (not sent traffic until cooling_until); probing (its "
        "cooldown ended: the next request tries it)"
    )
    cooling_until: str | None = None
    cooling_reason: str | None = None
    requests: int = Field(description="Requests it served within the window")
    failures: int = Field(description="Failed attempts within the window")
    success_rate: float | None = Field(description="requests / (requests + failures)")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    in_flight: int


class GroupState(BaseModel):
    name: str
    state: GroupStateName = Field(
        description="ok; degraded (some deployments cooling); down (none can serve now)"
    )
    routing_strategy: str
    aliases: list[str]
    redirect_to: str | None = Field(description="A runtime override sends its traffic here")
    fallbacks: list[str] = Field(description="The chain tried after the group fails")
    fallbacks_source: Literal["override", "config", "default", "none"]
    deployments: list[DeploymentState]


class Board(BaseModel):
    generated_at: str
    window_seconds: int
    workers: int = Field(description="Processes whose recent figures are counted")
    groups: list[GroupState]


class FailureView(BaseModel):
    at: str
    request_id: str
    model_group: str
    deployment: str | None
    error_type: str
    upstream_status: int | None
    status: int | None = Field(description="What the caller got (None: still being served)")
    rescued: bool | None = Field(description="A retry or fallback served the request")
    served_by: str | None


class Failures(BaseModel):
    data: list[FailureView]


async def board(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params()
    now = time.time()
    activity = serve_activity(control)
    router = control.runtime.plane.router
    config = control.runtime.config
    aliases: dict[str, list[str]] = {}
    for alias, target in config.aliases.items():
        aliases.setdefault(target, []).append(alias)
    groups = []
    for name in config.group_names():
        group = router.groups.get(name)
        if group is None:  # a wildcard pattern: served per name asked, no fixed members
            continue
        deployments = [
            _deployment(d, router.cooldowns.health(d.id, now), activity) for d in group.deployments
        ]
        redirect = control.overrides.redirect(name)
        chain, source = _chain(control, name)
        groups.append(
            GroupState(
                name=name,
                state=_group_state(deployments),
                routing_strategy=router.strategies.name_for(name),
                aliases=sorted(aliases.get(name, [])),
                redirect_to=redirect,
                fallbacks=list(chain),
                fallbacks_source=source,
                deployments=deployments,
            )
        )
    answer = Board(
        generated_at=iso(now),
        window_seconds=int(WINDOW_S),
        workers=activity.workers,
        groups=groups,
    )
    return answer.model_dump()


async def failures(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params("limit")
    limit = whole_number(
        dict(request.params), "limit", low=1, high=FAILURES_KEPT, default=FAILURES_KEPT
    )
    recent = serve_activity(control).failures[:limit]
    views = [
        FailureView(
            at=iso(f.at),
            request_id=f.request_id,
            model_group=f.model_group,
            deployment=f.deployment,
            error_type=f.error_type,
            upstream_status=f.upstream_status,
            status=f.status,
            rescued=f.rescued,
            served_by=f.served_by,
        )
        for f in recent
    ]
    return Failures(data=views).model_dump()


def serve_activity(control: ControlPlane) -> ActivitySummary:
    """This process's recent activity with the serve's other live workers' (their status
    files, rewritten every few seconds)."""
    own = control.activity() if control.activity is not None else ActivitySummary({}, {}, (), 1)
    if control.run_dir is None:
        return own
    return merged(own, _other_workers(control.run_dir.read_workers()))


def _other_workers(workers: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    me, now = os.getpid(), time.time()
    others = []
    for worker in workers:
        pid = worker.get("pid")
        if pid == me or not isinstance(pid, int) or not pid_alive(pid):
            continue
        if now - float(worker.get("heartbeat", 0)) > STALE_AFTER_S:
            continue
        activity = worker.get("activity")
        if isinstance(activity, Mapping):
            others.append(activity)
    return others


def _deployment(
    deployment: Deployment, health: tuple[Health, Any], activity: ActivitySummary
) -> DeploymentState:
    state, cooling = health
    spec = deployment.spec
    recent = activity.deployments.get(spec.id, NO_ACTIVITY)
    p50, p95 = recent.percentile(0.5), recent.percentile(0.95)
    return DeploymentState(
        id=spec.id,
        model=spec.model,
        provider=spec.provider,
        api_base_host=_host(spec.params.api_base),
        state=STATE_NAMES[state],
        cooling_until=iso(cooling.until) if cooling is not None else None,
        cooling_reason=cooling.reason if cooling is not None else None,
        requests=recent.served,
        failures=recent.failed,
        success_rate=None if recent.success_rate is None else round(recent.success_rate, 4),
        latency_p50_ms=None if p50 is None else round(p50, 1),
        latency_p95_ms=None if p95 is None else round(p95, 1),
        in_flight=activity.in_flight.get(spec.id, 0),
    )


def _group_state(deployments: list[DeploymentState]) -> GroupStateName:
    cooling = sum(1 for d in deployments if d.state == "cooling")
    if deployments and cooling == len(deployments):
        return "down"
    return "degraded" if cooling or any(d.state == "probing" for d in deployments) else "ok"


def _chain(
    control: ControlPlane, group: str
) -> tuple[tuple[str, ...], Literal["override", "config", "default", "none"]]:
    override = control.overrides.fallbacks(group)
    if override is not None:
        return override, "override"
    config = control.runtime.config
    if group in config.fallbacks:
        return config.fallbacks[group], "config"
    chain = control.runtime.plane.router.fallback_chain(group)
    return chain, "default" if chain else "none"


def _host(api_base: str | None) -> str | None:
    if not api_base:
        return None
    parts = urlsplit(api_base)
    return parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
