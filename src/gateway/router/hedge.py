"""Hedged requests: a second attempt for a request still unanswered after a delay.

With ``hedge_after_ms`` (``router_settings``, or a group's ``model_info``), an
attempt that has not answered (a stream: not produced its first chunk) within
the delay is joined by a second attempt on another healthy deployment of the
group, chosen as any retry would be. The first answer wins; the other attempt
is cancelled, which closes its upstream connection. An attempt that fails
while the other still runs is counted against its deployment (cooldowns) and
the race goes on; only when both have failed does the walk go on with its
retries and fallbacks. A request error (a 400) ends the race at once: the
other attempt would fail the same way.

A hedge is a retry spent early: it is drawn from the same retry budget, so a
slow provider cannot make hedging multiply the load, and a request is hedged
at most once per attempt. Each attempt that lost is reported in the trace for
its own ledger row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from gateway.errors import UpstreamError
from gateway.providers.base import UpstreamResult, Usage
from gateway.router.budget import RetryBudget
from gateway.router.classify import Retry, classify
from gateway.router.cooldown import CooldownStore
from gateway.router.failures import Failures
from gateway.router.groups import Deployment, ModelGroup
from gateway.router.observer import RouterObserver
from gateway.router.request import HedgeLoss
from gateway.router.selection import Selector
from gateway.router.stats import RoutingStats
from gateway.router.walk import AttemptFailed, Unavailable, Walk

T = TypeVar("T")
Start = Callable[[Deployment], Awaitable[T]]

PRIMARY = "primary"
HEDGE = "hedge"


class _Runner(Generic[T]):
    """One attempt of the race."""

    __slots__ = ("deployment", "probing", "role", "started", "task")

    def __init__(self, deployment: Deployment, probing: bool, role: str, start: Start[T]) -> None:
        self.deployment = deployment
        self.probing = probing
        self.role = role
        self.started = time.monotonic()
        self.task: asyncio.Future[T] = asyncio.ensure_future(start(deployment))


class Hedger:
    def __init__(
        self,
        selector: Selector,
        failures: Failures,
        *,
        budget: RetryBudget,
        cooldowns: CooldownStore,
        stats: RoutingStats,
        observer: RouterObserver,
        charge_tokens: Callable[[Deployment, Usage | None], None],
    ) -> None:
        self._selector = selector
        self._failures = failures
        self._budget = budget
        self._cooldowns = cooldowns
        self._stats = stats
        self._observer = observer
        self._charge_tokens = charge_tokens

    async def race(
        self,
        group: ModelGroup,
        walk: Walk,
        chosen: tuple[Deployment, bool],
        start: Start[T],
        *,
        tried: set[str],
        delay: float,
    ) -> tuple[T, Deployment]:
        """The first answer of ``chosen`` (a deployment, and whether it is a probe) and,
        past ``delay``, of a hedge; ``AttemptFailed`` for the attempt whose failure ends
        the race."""
        first, probing = chosen
        trace = walk.trace
        upstream_before = trace.upstream_seconds
        began = time.monotonic()
        runners = [_Runner(first, probing, PRIMARY, start)]
        primary = runners[0].task
        try:
            done, _ = await asyncio.wait((primary,), timeout=delay)
            if done:  # answered (or failed) within the delay: no race, as if unhedged
                error = primary.exception()
                if error is None:
                    return primary.result(), first
                if isinstance(error, UpstreamError):
                    raise AttemptFailed(first, probing, error) from error
                raise error
            hedge = await self._hedge_target(group, first, walk, tried)
            if hedge is not None:
                runners.append(_Runner(hedge[0], hedge[1], HEDGE, start))
                if walk.request.spans is not None:
                    walk.request.spans.event(
                        "gateway.hedge",
                        {"gateway.deployment": first.id, "gateway.hedge_deployment": hedge[0].id},
                    )
            return await self._first_answer(group, runners, walk, tried)
        finally:
            await self._stop_losers(runners, walk)
            if len(runners) > 1:
                # The attempts overlapped: the upstream time is the race's, not their sum.
                trace.upstream_seconds = upstream_before + (time.monotonic() - began)
                self._observer.hedged(
                    walk.request.request_id,
                    group.name,
                    first.id,
                    runners[1].deployment.id,
                    trace.hedge or "failed",
                )

    async def _hedge_target(
        self, group: ModelGroup, first: Deployment, walk: Walk, tried: set[str]
    ) -> tuple[Deployment, bool] | None:
        exclude = tried | {first.id}
        if not self._selector.any_available(group, walk, exclude=exclude):
            return None
        if time.monotonic() >= walk.request.deadline:
            return None
        # A hedge is a retry spent early, from the same budget.
        if not self._budget.try_spend(first.id, time.time()):
            return None
        chosen = await self._selector.choose(group, walk, exclude, time.time(), untried_only=True)
        return None if isinstance(chosen, Unavailable) else chosen

    async def _first_answer(
        self, group: ModelGroup, runners: list[_Runner[T]], walk: Walk, tried: set[str]
    ) -> tuple[T, Deployment]:
        running = {runner.task: runner for runner in runners}
        while True:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            finished = [running.pop(task) for task in done]
            # An answer wins over a failure that came in the same instant.
            finished.sort(key=lambda runner: runner.task.exception() is not None)
            for runner in finished:
                error = runner.task.exception()
                if error is None:
                    self._won(runner, runners, walk)
                    return runner.task.result(), runner.deployment
                if not isinstance(error, UpstreamError):
                    raise error
                verdict = classify(error)
                if not running or verdict.retry is Retry.NEVER:
                    raise AttemptFailed(runner.deployment, runner.probing, error)
                # The other attempt may still answer: count this one, and wait.
                self._failures.on_failure(
                    group, runner.deployment, error, verdict, probing=runner.probing, walk=walk
                )
                tried.add(runner.deployment.id)

    def _won(self, winner: _Runner[Any], runners: list[_Runner[Any]], walk: Walk) -> None:
        trace = walk.trace
        deployment = winner.deployment
        trace.deployment_id = deployment.id
        trace.provider = deployment.provider.name
        trace.api_base = deployment.provider.api_base
        if len(runners) > 1:
            trace.hedge = "won" if winner.role == HEDGE else "lost"

    async def _stop_losers(self, runners: list[_Runner[T]], walk: Walk) -> None:
        """Cancel what still runs (closing its upstream connection) and report each
        attempt that lost to an answer."""
        losers = [runner for runner in runners if not runner.task.done()]
        for runner in losers:
            runner.task.cancel()
        if losers:
            await asyncio.wait([runner.task for runner in losers])
        for runner in losers:
            if runner.probing:  # a probe cut short has no verdict: the next request probes
                self._cooldowns.release_probe(runner.deployment.id)
        if walk.trace.hedge is None:
            return  # no race was won: the failures are the walk's to report
        winner_id = walk.trace.deployment_id
        for runner in runners:
            if runner.deployment.id == winner_id or _failed(runner.task):
                continue
            usage = await self._discard(runner) if not runner.task.cancelled() else None
            provider = runner.deployment.provider
            walk.trace.hedge_losses.append(
                HedgeLoss(
                    role=runner.role,
                    deployment_id=runner.deployment.id,
                    provider=provider.name,
                    api_base=provider.api_base,
                    seconds=time.monotonic() - runner.started,
                    usage=usage,
                )
            )

    async def _discard(self, runner: _Runner[Any]) -> Usage | None:
        """An answer that came after the winner's: billed if whole, closed if a stream."""
        result = runner.task.result()
        if isinstance(result, UpstreamResult):
            self._charge_tokens(runner.deployment, result.usage)
            return result.usage
        close = getattr(result, "aclose", None)
        if close is not None:
            await close()
            self._stats.ended(runner.deployment.id)  # an open stream ends here, unread
        return None


def _failed(task: asyncio.Future[Any]) -> bool:
    return not task.cancelled() and task.exception() is not None
