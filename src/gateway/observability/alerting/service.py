"""Alerting, put together: the sender, the watchers, and the timer that drives them.

Built once at start-up (a config reload keeps it); each data plane gets a
router observer bound to its own deployments (``router_observer``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable

from gateway.config.model import DeploymentSpec
from gateway.ledger.service import SpendLedger
from gateway.observability.alerting.dispatch import Alerter
from gateway.observability.alerting.ops_alerts import LedgerAlerts, SpendReports
from gateway.observability.alerting.request_alerts import RequestAlerts
from gateway.observability.alerting.router_alerts import Placement, RouterAlerts
from gateway.providers.transport import host_of
from gateway.router.cooldown import CooldownStore
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.alerts")

# The timer's period: hanging requests and fallback shares are looked at this often
# (or at a quarter of alerting_threshold, when that is shorter).
TICK_S = 5.0
MIN_TICK_S = 0.25


class Alerting:
    def __init__(
        self, alerter: Alerter, ledger: SpendLedger, *, tasks: Supervisor | None = None
    ) -> None:
        self._supervisor = tasks if tasks is not None else Supervisor()
        self.alerter = alerter
        self.requests = RequestAlerts(alerter)
        self._ledger = LedgerAlerts(alerter, ledger)
        self._reports = SpendReports(alerter, ledger)
        self._endpoint_errors: dict[tuple[str, str], deque[float]] = {}
        settings = alerter.settings
        self._tick_s = max(MIN_TICK_S, min(TICK_S, settings.threshold_s / 4))
        self._tasks: list[asyncio.Task[None]] = []

    def router_observer(
        self,
        specs: Iterable[DeploymentSpec],
        members: Callable[[str], list[str]],
        cooldowns: CooldownStore,
    ) -> RouterAlerts:
        placements = {
            spec.id: Placement(spec.model_group, spec.provider, host_of(spec.params.api_base) or "")
            for spec in specs
        }
        return RouterAlerts(self.alerter, placements, members, cooldowns, self._endpoint_errors)

    def start(self) -> None:
        self.alerter.start()
        self._tasks = [
            self._supervisor.spawn(self._every(self._tick_s, self._tick), name="alert-watch"),
            self._supervisor.spawn(
                self._every(self.alerter.settings.args.report_check_interval, self._reports.check),
                name="alert-reports",
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel(task)
        self._tasks = []
        await self.alerter.stop()

    async def _tick(self) -> None:
        self.requests.tick()
        self._ledger.check()

    @staticmethod
    async def _every(seconds: float, check: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = check()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("alert check failed")
