"""The router's events as metrics."""

from __future__ import annotations

from gateway.errors import UpstreamError
from gateway.observability.metrics import Metrics
from gateway.router.cooldown import Cooling


class MetricsObserver:
    def __init__(self, metrics: Metrics, providers: dict[str, str]) -> None:
        self._metrics = metrics
        # deployment id -> provider, for labels (known at start-up).
        self._providers = providers

    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None:
        self._metrics.upstream_failures.labels(
            group, deployment_id, self._providers.get(deployment_id, "unknown"), error.label
        ).inc()

    def retried(
        self,
        request_id: str,
        group: str,
        deployment_id: str,
        error: UpstreamError,
        waited: float,
    ) -> None:
        self._metrics.retries.labels(group, deployment_id, error.label).inc()

    def cooled_down(self, group: str, deployment_id: str, cooling: Cooling) -> None:
        self._metrics.cooldowns.labels(group, deployment_id).inc()
        self._metrics.deployment_state.labels(group, deployment_id).set(1)

    def recovered(self, group: str, deployment_id: str) -> None:
        self._metrics.deployment_state.labels(group, deployment_id).set(0)

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None:
        return None
