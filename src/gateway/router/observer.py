"""What the router tells the rest of the gateway (metrics, logs) as it works."""

from __future__ import annotations

import logging
from typing import Protocol

from gateway.errors import UpstreamError
from gateway.router.cooldown import Cooling

log = logging.getLogger("gateway.router")


class RouterObserver(Protocol):
    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None: ...

    def retried(
        self,
        request_id: str,
        group: str,
        deployment_id: str,
        error: UpstreamError,
        waited: float,
    ) -> None: ...

    def cooled_down(self, group: str, deployment_id: str, cooling: Cooling) -> None: ...

    def recovered(self, group: str, deployment_id: str) -> None: ...

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None: ...

    def session_routed(self, group: str, deployment_id: str, outcome: str) -> None:
        """A request with a session was served (``affinity.Outcome`` says how)."""

    def hedged(
        self, request_id: str, group: str, slow_id: str, hedge_id: str, outcome: str
    ) -> None:
        """A request unanswered by ``slow_id`` after the hedge delay was also sent to
        ``hedge_id``; ``outcome``: won (the hedge answered first), lost, or failed."""


class LoggingObserver:
    """Writes what an on-call engineer needs to see to the log."""

    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None:
        log.info(
            "upstream attempt failed",
            extra={
                "request_id": request_id,
                "model_group": group,
                "deployment": deployment_id,
                "error_type": error.label,
                "upstream_status": error.upstream_status,
            },
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
        log.warning(
            "deployment cooling down",
            extra={
                "model_group": group,
                "deployment": deployment_id,
                "until": cooling.until,
                "reason": cooling.reason,
            },
        )

    def recovered(self, group: str, deployment_id: str) -> None:
        log.warning(
            "deployment recovered", extra={"model_group": group, "deployment": deployment_id}
        )

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None:
        log.info(
            "fallback",
            extra={
                "request_id": request_id,
                "from_group": from_group,
                "to_group": to_group,
                "reason": reason,
            },
        )

    def session_routed(self, group: str, deployment_id: str, outcome: str) -> None:
        if outcome == "moved":
            log.info("session moved", extra={"model_group": group, "deployment": deployment_id})

    def hedged(
        self, request_id: str, group: str, slow_id: str, hedge_id: str, outcome: str
    ) -> None:
        log.info(
            "hedged",
            extra={
                "request_id": request_id,
                "model_group": group,
                "deployment": slow_id,
                "hedge_deployment": hedge_id,
                "outcome": outcome,
            },
        )


class FanOutObserver:
    """Tells several observers (the log, the metrics) the same things."""

    def __init__(self, *observers: RouterObserver) -> None:
        self._observers = observers

    def attempt_failed(
        self, request_id: str, group: str, deployment_id: str, error: UpstreamError
    ) -> None:
        for observer in self._observers:
            observer.attempt_failed(request_id, group, deployment_id, error)

    def retried(
        self,
        request_id: str,
        group: str,
        deployment_id: str,
        error: UpstreamError,
        waited: float,
    ) -> None:
        for observer in self._observers:
            observer.retried(request_id, group, deployment_id, error, waited)

    def cooled_down(self, group: str, deployment_id: str, cooling: Cooling) -> None:
        for observer in self._observers:
            observer.cooled_down(group, deployment_id, cooling)

    def recovered(self, group: str, deployment_id: str) -> None:
        for observer in self._observers:
            observer.recovered(group, deployment_id)

    def fell_back(self, request_id: str, from_group: str, to_group: str, reason: str) -> None:
        for observer in self._observers:
            observer.fell_back(request_id, from_group, to_group, reason)

    def session_routed(self, group: str, deployment_id: str, outcome: str) -> None:
        for observer in self._observers:
            observer.session_routed(group, deployment_id, outcome)

    def hedged(
        self, request_id: str, group: str, slow_id: str, hedge_id: str, outcome: str
    ) -> None:
        for observer in self._observers:
            observer.hedged(request_id, group, slow_id, hedge_id, outcome)
