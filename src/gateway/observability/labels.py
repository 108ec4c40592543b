"""Metric label values from what the config names, never from what a caller sends.

A request for a model no group serves, or for a name a wildcard made up, would
otherwise mint a series per name and grow ``/metrics`` (and Prometheus) without
bound. Groups outside the config are counted under ``UNKNOWN``, and a wildcard's
concrete deployments under the configured deployment.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config.wildcards import WildcardIds

UNKNOWN = "unknown"


class MetricLabels:
    def __init__(self, groups: Iterable[str], wildcards: WildcardIds) -> None:
        self._groups = frozenset(groups)
        self.wildcards = wildcards

    def group(self, name: str) -> str:
        return name if name in self._groups else UNKNOWN

    def deployment(self, deployment_id: str | None) -> str | None:
        return self.wildcards.configured(deployment_id) if deployment_id else None
