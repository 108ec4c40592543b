"""The cooldown circuit breaker, per deployment.

States::

    closed --(allowed_fails + 1 failures within the window, or an at-once error)--> cooling
    cooling --(until passes)--> probe ready
    probe ready --(the next real request claims it)--> probing (others keep away)
    probing --success--> closed          probing --failure--> cooling again

A failed probe cools for the longer of ``cooldown_time`` and the upstream's
``Retry-After``, doubled for each probe failed in a row before it (up to
``max_cooldown_time``); the first success forgets them.

Re-cooling a cooling deployment extends its deadline, never shortens it.
Times are wall-clock seconds so that a shared store means the same thing on
every instance. State goes through ``CooldownStore``: in process here, on Redis
when the fleet shares state.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol


class Health(enum.Enum):
    OK = "ok"
    COOLING = "cooling"
    PROBE_READY = "probe_ready"


@dataclass(frozen=True, slots=True)
class Cooling:
    until: float
    reason: str


class CooldownStore(Protocol):
    def health(self, deployment_id: str, now: float) -> tuple[Health, Cooling | None]:
        """Whether the deployment may take traffic now."""

    def claim_probe(self, deployment_id: str, now: float) -> bool:
        """Take the single half-open probe; False when another request has it."""

    def release_probe(self, deployment_id: str) -> None:
        """The probe ended without a verdict (the caller went away): free it again."""

    def record_failure(
        self, deployment_id: str, error_class: str, allowed: int, window: float, now: float
    ) -> bool:
        """Count a failure; True when it is one more than ``allowed`` within ``window``."""

    def cool(
        self, deployment_id: str, until: float, reason: str, *, probe_failed: bool = False
    ) -> Cooling:
        """Cool the deployment down until ``until`` (extending a longer one is a no-op);
        ``probe_failed`` counts one more failed probe in a row."""

    def failed_probes(self, deployment_id: str) -> int:
        """Probes failed in a row since the deployment last served (0 when healthy)."""

    def record_success(self, deployment_id: str) -> bool:
        """A request succeeded; True when this closed a half-open breaker."""

    def cooling_all(self, now: float) -> dict[str, Cooling]:
        """Every deployment cooling now (for health and admin views)."""


@dataclass(slots=True)
class _Breaker:
    until: float = 0.0
    reason: str = ""
    probing: bool = False
    failed_probes: int = 0
    failures: dict[str, deque[float]] = field(default_factory=dict)


# Past this many breakers, those with nothing left to say are dropped: a wildcard's
# concrete deployments are per requested name, and made-up names must not pile up.
MAX_BREAKERS = 4096


class InProcessCooldowns:
    """A ``CooldownStore`` for one process (the single-node default)."""

    def __init__(self) -> None:
        self._breakers: dict[str, _Breaker] = {}

    def _make_room(self, now: float) -> None:
        """Drop breakers whose cooldown is over, with no probe in flight and no failure
        within the last minute (dropping one reads as healthy, as it would be)."""
        if len(self._breakers) < MAX_BREAKERS:
            return
        recent = now - 60.0
        spent = [
            deployment_id
            for deployment_id, breaker in self._breakers.items()
            if not breaker.probing
            and breaker.until < now
            and not any(times and times[-1] > recent for times in breaker.failures.values())
        ]
        for deployment_id in spent:
            del self._breakers[deployment_id]

    def health(self, deployment_id: str, now: float) -> tuple[Health, Cooling | None]:
        breaker = self._breakers.get(deployment_id)
        if breaker is None or breaker.until == 0.0:
            return Health.OK, None
        if breaker.probing:
            return Health.COOLING, Cooling(breaker.until, "a probe request is in flight")
        if now < breaker.until:
            return Health.COOLING, Cooling(breaker.until, breaker.reason)
        return Health.PROBE_READY, Cooling(breaker.until, breaker.reason)

    def claim_probe(self, deployment_id: str, now: float) -> bool:
        breaker = self._breakers.get(deployment_id)
        if breaker is None or breaker.until == 0.0:
            return True
        if breaker.probing or now < breaker.until:
            return False
        breaker.probing = True
        return True

    def release_probe(self, deployment_id: str) -> None:
        breaker = self._breakers.get(deployment_id)
        if breaker is not None:
            breaker.probing = False

    def record_failure(
        self, deployment_id: str, error_class: str, allowed: int, window: float, now: float
    ) -> bool:
        if deployment_id not in self._breakers:
            self._make_room(now)
        breaker = self._breakers.setdefault(deployment_id, _Breaker())
        times = breaker.failures.setdefault(error_class, deque())
        times.append(now)
        horizon = now - window
        while times and times[0] <= horizon:
            times.popleft()
        return len(times) > allowed

    def cool(
        self, deployment_id: str, until: float, reason: str, *, probe_failed: bool = False
    ) -> Cooling:
        if deployment_id not in self._breakers:
            self._make_room(time.time())
        breaker = self._breakers.setdefault(deployment_id, _Breaker())
        breaker.probing = False
        if probe_failed:
            breaker.failed_probes += 1
        if until > breaker.until:
            breaker.until = until
            breaker.reason = reason
        # The failures that tripped the breaker are spent.
        breaker.failures.clear()
        return Cooling(breaker.until, breaker.reason)

    def failed_probes(self, deployment_id: str) -> int:
        breaker = self._breakers.get(deployment_id)
        return breaker.failed_probes if breaker is not None else 0

    def record_success(self, deployment_id: str) -> bool:
        breaker = self._breakers.get(deployment_id)
        if breaker is None or breaker.until == 0.0:
            return False
        if breaker.probing:
            del self._breakers[deployment_id]
            return True
        return False

    def cooling_all(self, now: float) -> dict[str, Cooling]:
        return {
            deployment_id: Cooling(breaker.until, breaker.reason)
            for deployment_id, breaker in self._breakers.items()
            if breaker.until and (breaker.probing or now < breaker.until)
        }
