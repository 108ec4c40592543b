"""The router's events as metrics."""

from __future__ import annotations

from gateway.config.wildcards import WildcardIds
from gateway.errors import UpstreamError
from gateway.observability.metrics import Metrics
from gateway.router.cooldown import Cooling


class MetricsObserver:
    def __init__(
        self, metrics: Metrics, providers: dict[str, str], wildcards: WildcardIds | None = None
    ) -> None:
        self._metrics = metrics
        # deployment id -> provider, for labels (known at start-up).
        self._providers = providers
        # A wildcard's concrete deployments are labelled as the configured one.
        self._label = wildcards.configured if wildcards is not None else str

    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None:
        deployment = self._label(deployment_id)
        self._metrics.upstream_failures.labels(
            group, deployment, self._providers.get(deployment, "unknown"), error.label
        ).inc()

    def retried(
        self,
        request_id: str,
        group: str,
        deployment_id: str,
        error: UpstreamError,
        waited: float,
    ) -> None:
        self._metrics.retries.labels(group, self._label(deployment_id), error.label).inc()

    def cooled_down(self, group: str, deployment_id: str, cooling: Cooling) -> None:
        deployment = self._label(deployment_id)
        self._metrics.cooldowns.labels(group, deployment).inc()
        if deployment == deployment_id:  # a wildcard's state is per model, not one series
            self._metrics.deployment_state.labels(group, deployment).set(1)

    def recovered(self, group: str, deployment_id: str) -> None:
        if self._label(deployment_id) == deployment_id:
            self._metrics.deployment_state.labels(group, deployment_id).set(0)

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None:
        return None

    def session_routed(self, group: str, deployment_id: str, outcome: str) -> None:
        self._metrics.session_affinity.labels(group, outcome).inc()

    def hedged(
        self, request_id: str, group: str, slow_id: str, hedge_id: str, outcome: str
    ) -> None:
        self._metrics.hedges.labels(group, self._label(slow_id), outcome).inc()
