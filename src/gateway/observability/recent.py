"""What each deployment did in the last minutes, and the last failures: the console's board.

Prometheus keeps totals since start; the engineer on call asks what is happening
now. ``RecentActivity`` keeps, per deployment, the requests it served (with
their latency) and its failed attempts within ``WINDOW_S``, and the last
``FAILURES_KEPT`` failures with whether a fallback or a retry rescued the
request. It is fed after each response (``finished``) and by the router's
failure events (it is a ``RouterObserver``); the request path pays a deque
append and a dict lookup (about 0.3 µs).

The workers of one ``gateway serve`` each keep their own; each writes a summary
to its status file in the run directory with its heartbeat, and ``merged`` adds
them up, so the board counts the whole serve whichever worker answers it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gateway.errors import UpstreamError
from gateway.ledger.record import SpendRecord
from gateway.router.cooldown import Cooling

WINDOW_S = 300.0
SAMPLES_KEPT = 512  # per deployment: the latest successes (and failed attempts)
FAILURES_KEPT = 100
# Failed attempts of requests still being served, awaiting their outcome.
OPEN_KEPT = 1000
# A request failing with one of these without any failed attempt is the gateway's own
# refusal of the caller (bad input, auth, limits): not the board's business.
CALLER_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 422, 499})


@dataclass(slots=True)
class Failure:
    at: float  # epoch seconds
    request_id: str
    model_group: str
    deployment: str | None
    error_type: str
    upstream_status: int | None
    status: int | None = None  # what the caller got, once the request ended
    rescued: bool | None = None  # None: still being served
    served_by: str | None = None


@dataclass(frozen=True, slots=True)
class DeploymentActivity:
    served: int
    failed: int
    latencies_ms: tuple[float, ...]  # of the requests served, any order

    @property
    def success_rate(self) -> float | None:
        total = self.served + self.failed
        return None if total == 0 else self.served / total

    def percentile(self, share: float) -> float | None:
        """Nearest-rank percentile of the served requests' latency."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(share * len(ordered)))
        return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    deployments: Mapping[str, DeploymentActivity]
    in_flight: Mapping[str, int]
    failures: tuple[Failure, ...]  # newest first
    workers: int

    def to_json(self) -> dict[str, Any]:
        return {
            "deployments": {
                name: {"served": a.served, "failed": a.failed, "latencies_ms": a.latencies_ms}
                for name, a in self.deployments.items()
            },
            "in_flight": dict(self.in_flight),
            "failures": [asdict(f) for f in self.failures],
        }


class RecentActivity:
    """One process's recent requests per deployment, and its last failures."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._served: dict[str, deque[tuple[float, float]]] = {}
        self._failed: dict[str, deque[float]] = {}
        self._failures: deque[Failure] = deque(maxlen=FAILURES_KEPT)
        self._open: dict[str, list[Failure]] = {}

    # --- fed by the request path ------------------------------------------------------

    def finished(self, record: SpendRecord) -> None:
        """A request ended (after its response was sent)."""
        deployment = record.deployment_id
        ok = record.status < 400
        if ok and deployment is not None:
            served = self._served.get(deployment)
            if served is None:
                served = self._served[deployment] = deque(maxlen=SAMPLES_KEPT)
            served.append((record.ended_at, record.latency_ms))
        attempts = self._open.pop(record.request_id, None) if self._open else None
        if attempts is not None:
            for failure in attempts:
                failure.status = record.status
                failure.rescued = ok
                failure.served_by = deployment if ok else None
        elif not ok and record.status not in CALLER_STATUSES:
            self._failures.append(
                Failure(
                    at=record.ended_at,
                    request_id=record.request_id,
                    model_group=record.model_group,
                    deployment=deployment,
                    error_type=record.error_type or "error",
                    upstream_status=None,
                    status=record.status,
                    rescued=False,
                )
            )

    # --- RouterObserver ---------------------------------------------------------------

    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None:
        now = self._clock()
        failed = self._failed.get(deployment_id)
        if failed is None:
            failed = self._failed[deployment_id] = deque(maxlen=SAMPLES_KEPT)
        failed.append(now)
        failure = Failure(now, request_id, group, deployment_id, error.label, error.upstream_status)
        self._failures.append(failure)
        if len(self._open) >= OPEN_KEPT:
            self._open.pop(next(iter(self._open)))
        self._open.setdefault(request_id, []).append(failure)

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
        return None

    def recovered(self, group: str, deployment_id: str) -> None:
        return None

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None:
        return None

    def session_routed(self, group: str, deployment_id: str, outcome: str) -> None:
        return None

    def hedged(
        self, request_id: str, group: str, slow_id: str, hedge_id: str, outcome: str
    ) -> None:
        return None

    # --- read by the board ------------------------------------------------------------

    def summary(self, in_flight: Mapping[str, int]) -> ActivitySummary:
        since = self._clock() - WINDOW_S
        deployments: dict[str, DeploymentActivity] = {}
        for name in {*self._served, *self._failed}:
            latencies = tuple(ms for at, ms in self._served.get(name, ()) if at >= since)
            failed = sum(1 for at in self._failed.get(name, ()) if at >= since)
            if latencies or failed:
                deployments[name] = DeploymentActivity(len(latencies), failed, latencies)
        failures = tuple(reversed(self._failures))
        return ActivitySummary(deployments, dict(in_flight), failures, workers=1)


def merged(own: ActivitySummary, others: Iterable[Mapping[str, Any]]) -> ActivitySummary:
    """``own`` with the summaries other workers wrote (``ActivitySummary.to_json``)."""
    served: dict[str, int] = {}
    failed: dict[str, int] = {}
    latencies: dict[str, list[float]] = {}
    in_flight: dict[str, int] = dict(own.in_flight)
    failures = list(own.failures)
    workers = 1
    for name, activity in own.deployments.items():
        served[name] = activity.served
        failed[name] = activity.failed
        latencies[name] = list(activity.latencies_ms)
    for other in others:
        workers += 1
        for name, raw in (other.get("deployments") or {}).items():
            served[name] = served.get(name, 0) + int(raw.get("served", 0))
            failed[name] = failed.get(name, 0) + int(raw.get("failed", 0))
            latencies.setdefault(name, []).extend(float(ms) for ms in raw.get("latencies_ms", ()))
        for name, count in (other.get("in_flight") or {}).items():
            in_flight[name] = in_flight.get(name, 0) + int(count)
        for raw in other.get("failures", ()):
            with contextlib.suppress(TypeError):  # a worker of another version: skipped
                failures.append(Failure(**raw))
    failures.sort(key=lambda f: f.at, reverse=True)
    deployments = {
        name: DeploymentActivity(served.get(name, 0), failed.get(name, 0), tuple(values))
        for name, values in latencies.items()
    }
    for name in failed.keys() - deployments.keys():
        deployments[name] = DeploymentActivity(0, failed[name], ())
    return ActivitySummary(deployments, in_flight, tuple(failures[:FAILURES_KEPT]), workers)
