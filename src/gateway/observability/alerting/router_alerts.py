"""The router's events as alerts: cooldowns and recoveries, and outages.

An outage is a model group whose every deployment is cooling, or a provider
endpoint (provider and host) that failed ``minor_outage_alert_threshold`` (and
then ``major_outage_alert_threshold``) times with a server-side error within
``outage_alert_ttl`` seconds. Client errors (4xx other than timeouts) say
nothing about an outage and are not counted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import UpstreamError
from gateway.observability.alerting.alert import Alert
from gateway.observability.alerting.dispatch import Alerter
from gateway.router.cooldown import CooldownStore, Cooling, Health

# An upstream status that says the provider (not the request) is in trouble.
SERVER_SIDE = frozenset({408, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a deployment is, as alerts name it."""

    group: str
    provider: str
    host: str


class RouterAlerts:
    """A ``RouterObserver`` that raises alerts; one per data plane (its topology)."""

    def __init__(
        self,
        alerter: Alerter,
        placements: dict[str, Placement],
        members: Callable[[str], list[str]],
        cooldowns: CooldownStore,
        endpoint_errors: dict[tuple[str, str], deque[float]],
    ) -> None:
        self._alerter = alerter
        self._settings = alerter.settings
        self._placements = placements
        self._members = members
        self._cooldowns = cooldowns
        # (provider, host) -> recent failure times; outlives a reload (the caller's dict).
        self._errors = endpoint_errors

    def _where(self, group: str, deployment_id: str) -> dict[str, str]:
        placed = self._placements.get(deployment_id)
        where = {"model_group": group, "deployment": deployment_id}
        if placed is not None:
            where["provider"] = placed.provider
            if placed.host:
                where["api_base"] = placed.host
        return where

    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None:
        if not self._settings.wants("outage_alerts"):
            return
        status = error.upstream_status
        if status is not None and status not in SERVER_SIDE:
            return
        placed = self._placements.get(deployment_id)
        if placed is None:
            return
        args = self._settings.args
        endpoint = (placed.provider, placed.host)
        now = time.time()
        seen = self._errors.get(endpoint)
        if seen is None:
            if len(self._errors) >= args.max_outage_alert_list_size:
                return
            seen = self._errors[endpoint] = deque(maxlen=args.major_outage_alert_threshold)
        seen.append(now)
        while seen and seen[0] < now - args.outage_alert_ttl:
            seen.popleft()
        count = len(seen)
        if count in (args.minor_outage_alert_threshold, args.major_outage_alert_threshold):
            major = count >= args.major_outage_alert_threshold
            level = "major" if major else "minor"
            name = f"{placed.provider} at {placed.host}" if placed.host else placed.provider
            self._alerter.raise_alert(
                Alert(
                    type="outage_alerts",
                    subject=f"{placed.provider}|{placed.host}",
                    severity="critical" if major else "warning",
                    title=f"{level.capitalize()} outage: {name}",
                    summary=(
                        f"{count} server-side failures within {args.outage_alert_ttl:g}s; "
                        f"last: {error.label}"
                        + (f" (HTTP {status})" if status is not None else "")
                        + f" on deployment {deployment_id}."
                    ),
                    action=(
                        "Check the provider's status page; the router cools failing "
                        "deployments on its own. To move a group's traffic now: "
                        "PUT /admin/overrides/<group> with redirect_to."
                    ),
                    since=seen[0],
                    where={"provider": placed.provider, "api_base": placed.host or "-"},
                    figures={"failures": count, "window_s": args.outage_alert_ttl},
                    link=self._settings.link("/admin/overrides"),
                    dedup_key=f"outage_alerts:{level}:{placed.provider}|{placed.host}",
                    ttl_s=args.outage_alert_ttl,
                )
            )

    def retried(
        self,
        request_id: str,
        group: str,
        deployment_id: str,
        error: UpstreamError,
        waited: float,
    ) -> None:
        return None

    def cooled_down(self, group: str, deployment_id: str, cooling: Cooling) -> None:
        settings = self._settings
        now = time.time()
        if settings.wants("cooldown_deployment"):
            self._alerter.raise_alert(
                Alert(
                    type="cooldown_deployment",
                    subject=deployment_id,
                    severity="warning",
                    title=f"Deployment {deployment_id} cooling down",
                    summary=(
                        f"Taken out of rotation in group {group} for "
                        f"{max(0.0, cooling.until - now):.0f}s: {cooling.reason}."
                    ),
                    action=(
                        "The other deployments of the group take its traffic; a probe request "
                        "brings it back when it answers. GET /health shows every deployment."
                    ),
                    since=now,
                    where=self._where(group, deployment_id),
                    figures={"cooling_s": round(max(0.0, cooling.until - now), 1)},
                    link=settings.link("/health"),
                    ttl_s=settings.args.alert_ttl,
                )
            )
        if settings.wants("outage_alerts"):
            self._check_group(group, now)

    def _check_group(self, group: str, now: float) -> None:
        members = self._members(group)
        if not members:
            return
        cooling = [m for m in members if self._cooldowns.health(m, now)[0] is not Health.OK]
        if len(cooling) < len(members):
            return
        self._alerter.raise_alert(
            Alert(
                type="outage_alerts",
                subject=group,
                severity="critical",
                title=f"Outage: every deployment of {group} is cooling",
                summary=(
                    f"All {len(members)} deployment(s) of {group} are out of rotation: its "
                    "requests go to its fallbacks, or fail with 503 where it has none."
                ),
                action=(
                    "Send the group's traffic elsewhere while the provider recovers: "
                    "PUT /admin/overrides/" + group + ' {"redirect_to": ..., "ttl_seconds": '
                    '..., "reason": ...}.'
                ),
                since=now,
                where={"model_group": group, "deployments": ", ".join(members)[:500]},
                figures={"cooling": len(cooling), "deployments": len(members)},
                link=self._settings.link("/admin/overrides"),
                dedup_key=f"outage_alerts:group:{group}",
                ttl_s=self._settings.args.alert_ttl,
            )
        )

    def recovered(self, group: str, deployment_id: str) -> None:
        if not self._settings.wants("cooldown_deployment"):
            return
        self._alerter.raise_alert(
            Alert(
                type="cooldown_deployment",
                subject=deployment_id,
                severity="info",
                state="resolved",
                title=f"Deployment {deployment_id} recovered",
                summary=f"It answered its probe request and is back in rotation in {group}.",
                action="Nothing to do.",
                since=time.time(),
                where=self._where(group, deployment_id),
                link=self._settings.link("/health"),
                ttl_s=self._settings.args.alert_ttl,
            )
        )

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None:
        return None

    def session_routed(self, group: str, deployment_id: str, outcome: str) -> None:
        return None

    def hedged(
        self, request_id: str, group: str, slow_id: str, hedge_id: str, outcome: str
    ) -> None:
        return None
