"""Alerts from the requests themselves: slow, hanging, rescued by fallbacks, over budget.

On the request path this costs a dict insert and delete (the in-flight
registry) and a few counter additions per request; everything else runs on a
timer (``tick``) or after a charge.

- ``llm_too_slow``: a request that took longer than ``alerting_threshold``
  (for a stream, until its first chunk).
- ``llm_requests_hanging``: requests still without a first byte after
  ``alerting_threshold``, found by the timer while they are still waiting.
- ``fallback_reports``: a group whose requests were served by a fallback more
  than ``fallback_share`` of the time over ``fallback_window``.
- ``budget_alerts``: a key or team whose period spend crossed 50%, 80% or 100%
  of ``max_budget`` (once per level and period, fleet-wide).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

from gateway.keys.durations import iso
from gateway.keys.gate import BudgetStanding
from gateway.ledger.record import SpendRecord
from gateway.observability.alerting.alert import Alert
from gateway.observability.alerting.dispatch import Alerter

BUDGET_LEVELS = (0.5, 0.8, 1.0)
MAX_BUDGET_PERIODS = 50_000
# The fallback window is counted in this many buckets.
BUCKETS = 10


class InFlight(Protocol):
    """What the registry reads of a request still running (an ``Exchange``)."""

    request_id: str
    arrived: float  # monotonic
    model: str
    first_sent_at: float | None


@dataclass(slots=True)
class _GroupCounts:
    """One group's requests and fallback rescues, in time buckets."""

    starts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    requests: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    rescued: list[int] = field(default_factory=lambda: [0] * BUCKETS)


class RequestAlerts:
    def __init__(self, alerter: Alerter) -> None:
        self._alerter = alerter
        self._settings = settings = alerter.settings
        self._threshold = settings.threshold_s
        self._slow = settings.wants("llm_too_slow")
        self._hanging = settings.wants("llm_requests_hanging")
        self._fallbacks = settings.wants("fallback_reports")
        self._budgets = settings.wants("budget_alerts")
        self._bucket_s = settings.args.fallback_window / BUCKETS
        self._in_flight: dict[int, InFlight] = {}
        self._groups: dict[str, _GroupCounts] = {}
        # (ident, period start) -> the highest budget level alerted here.
        self._budget_levels: dict[tuple[str, float], float] = {}

    # --- on the request path ------------------------------------------------------------

    def started(self, request: InFlight) -> None:
        if self._hanging:
            self._in_flight[id(request)] = request

    def finished(
        self,
        request: InFlight,
        spend: SpendRecord,
        group: str,
        requested_group: str,
        deployment: str | None,
    ) -> None:
        """A request ended; ``group``s are metric labels (never a caller's made-up name)."""
        self._in_flight.pop(id(request), None)
        status = spend.status
        if self._fallbacks and requested_group:
            rescued = status < 400 and group != requested_group
            self._count(requested_group, spend.ended_at, rescued)
        if not self._slow or status >= 400:
            return
        ttft = spend.ttft_ms
        waited = (ttft if spend.stream and ttft is not None else spend.latency_ms) / 1000.0
        if waited > self._threshold:
            self._slow_alert(request, group, deployment, waited, spend.stream)

    def budget(self, standing: BudgetStanding) -> None:
        """After a charge (``KeyGate.on_spend``): alert once per level crossed, per period."""
        if not self._budgets or standing.max_budget <= 0:
            return
        ratio = standing.spent / standing.max_budget
        level = max((lv for lv in BUDGET_LEVELS if ratio >= lv), default=0.0)
        if level == 0.0:
            return
        period = (standing.ident, standing.period_start)
        if self._budget_levels.get(period, 0.0) >= level:
            return
        if len(self._budget_levels) >= MAX_BUDGET_PERIODS:
            # Forgetting re-alerts nothing: the sender's TTLs (and the fleet's) still hold.
            self._budget_levels.clear()
        self._budget_levels[period] = level
        self._budget_alert(standing, level, ratio)

    # --- on the timer -------------------------------------------------------------------

    def tick(self) -> None:
        if self._hanging:
            self._look_for_hanging()
        if self._fallbacks:
            self._check_fallback_shares()

    def _look_for_hanging(self) -> None:
        now = time.monotonic()
        by_group: dict[str, list[float]] = {}
        for request in list(self._in_flight.values()):
            if request.first_sent_at is not None:
                continue
            waited = now - request.arrived
            if waited > self._threshold:
                by_group.setdefault((request.model or "unknown")[:100], []).append(waited)
        for model, waits in by_group.items():
            longest = max(waits)
            self._alerter.raise_alert(
                Alert(
                    type="llm_requests_hanging",
                    subject=model,
                    severity="warning",
                    title=f"{len(waits)} request(s) to {model} hanging past {self._threshold:g}s",
                    summary=(
                        f"{len(waits)} request(s) for {model} have had no answer for more than "
                        f"{self._threshold:g}s (the longest {longest:.0f}s)."
                    ),
                    action=(
                        "Check the provider's latency; lower request_timeout or add a fallback "
                        "so that callers are not held. GET /health shows the deployments."
                    ),
                    since=time.time() - longest,
                    where={"model": model},
                    figures={"hanging": len(waits), "longest_s": round(longest, 1)},
                    link=self._settings.link("/health"),
                    ttl_s=self._settings.args.alert_ttl,
                )
            )

    def _count(self, group: str, now: float, rescued: bool) -> None:
        counts = self._groups.get(group)
        if counts is None:
            counts = self._groups[group] = _GroupCounts()
        start = int(now // self._bucket_s)
        index = start % BUCKETS
        if counts.starts[index] != start:
            counts.starts[index] = start
            counts.requests[index] = 0
            counts.rescued[index] = 0
        counts.requests[index] += 1
        if rescued:
            counts.rescued[index] += 1

    def _check_fallback_shares(self) -> None:
        args = self._settings.args
        oldest = int(time.time() // self._bucket_s) - BUCKETS + 1
        for group, counts in self._groups.items():
            live = [i for i in range(BUCKETS) if counts.starts[i] >= oldest]
            requests = sum(counts.requests[i] for i in live)
            rescued = sum(counts.rescued[i] for i in live)
            if requests < args.fallback_min_requests or rescued / requests <= args.fallback_share:
                continue
            share = rescued / requests
            self._alerter.raise_alert(
                Alert(
                    type="fallback_reports",
                    subject=group,
                    severity="warning",
                    title=f"Fallbacks serve {share:.0%} of {group}'s requests",
                    summary=(
                        f"{rescued} of {requests} requests for {group} in the last "
                        f"{args.fallback_window:g}s were served by a fallback group: its own "
                        "deployments are failing or cooling."
                    ),
                    action=(
                        "GET /health for the group's deployments; if the fallback should carry "
                        "the traffic for now, PUT /admin/overrides/" + group + " with "
                        "redirect_to saves each request its failed first attempt."
                    ),
                    since=time.time() - args.fallback_window,
                    where={"model_group": group},
                    figures={"requests": requests, "rescued": rescued, "share": round(share, 3)},
                    link=self._settings.link("/admin/overrides"),
                    ttl_s=args.alert_ttl,
                )
            )

    # --- building alerts ----------------------------------------------------------------

    def _slow_alert(
        self,
        request: InFlight,
        group: str,
        deployment: str | None,
        waited: float,
        stream: bool,
    ) -> None:
        what = "first chunk" if stream else "answer"
        where = {"model_group": group}
        if deployment:
            where["deployment"] = deployment
        self._alerter.raise_alert(
            Alert(
                type="llm_too_slow",
                subject=deployment or group,
                severity="warning",
                title=f"Slow responses from {deployment or group}",
                summary=(
                    f"A request's {what} took {waited:.1f}s, past alerting_threshold "
                    f"{self._threshold:g}s (request {request.request_id})."
                ),
                action=(
                    "Compare gateway_upstream_duration_seconds across the group's deployments; "
                    "a latency-based routing_strategy or hedging steers around a slow one."
                ),
                since=time.time() - waited,
                where=where,
                figures={"seconds": round(waited, 2), "threshold_s": self._threshold},
                link=self._settings.link("/metrics"),
                ttl_s=self._settings.args.alert_ttl,
            )
        )

    def _budget_alert(self, standing: BudgetStanding, level: float, ratio: float) -> None:
        holder = f"{standing.kind} {standing.label}"
        resets = (
            f"it resets at {iso(standing.period_end)}"
            if standing.period_end != math.inf
            else "it does not reset"
        )
        over = level >= 1.0
        route = "/key/update" if standing.kind == "key" else "/team/update"
        self._alerter.raise_alert(
            Alert(
                type="budget_alerts",
                subject=f"{standing.kind}:{standing.label}",
                severity="critical" if over else "warning",
                title=f"Budget {'spent' if over else f'{level:.0%} used'}: {holder}",
                summary=(
                    f"The {holder} has spent ${standing.spent:.4f} of its "
                    f"${standing.max_budget:.4f} budget ({ratio:.0%}); {resets}."
                    + (" Its requests are refused with budget_exceeded." if over else "")
                ),
                action=f"Raise max_budget with POST {route} if the spend is expected.",
                since=standing.period_start,
                where={standing.kind: standing.label},
                figures={
                    "spent_usd": round(standing.spent, 6),
                    "max_budget_usd": standing.max_budget,
                    "used": round(ratio, 3),
                },
                link=self._settings.link(route),
                dedup_key=f"budget_alerts:{standing.ident}:{standing.period_start:.0f}:{level}",
                ttl_s=self._settings.args.budget_alert_ttl,
            )
        )
