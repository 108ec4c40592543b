"""The Redis breaker blames Redis for slow answers, not for its own process being busy."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.state.guard import RedisGuard, StateUnavailable

BUDGET_S = 0.05


def guard() -> RedisGuard:
    async def ping() -> None:
        return None

    return RedisGuard(
        ping,
        where="test",
        budget_s=BUDGET_S,
        background_budget_s=1.0,
        open_after=1,
        failure_window_s=10.0,
        close_after=1,
        probe_interval_s=1.0,
        heartbeat_interval_s=60.0,
    )


def test_a_call_past_its_budget_counts_against_redis() -> None:
    async def scenario() -> bool:
        breaker = guard()

        async def slow_redis() -> None:
            await asyncio.sleep(1.0)

        with pytest.raises(StateUnavailable):
            await breaker.run(slow_redis)
        return breaker.usable

    assert asyncio.run(scenario()) is False


def test_a_budget_noticed_late_by_a_busy_loop_does_not_open_the_breaker() -> None:
    async def scenario() -> bool:
        breaker = guard()

        async def busy_process() -> None:
            time.sleep(BUDGET_S * 4)  # the loop is held: the budget is noticed late
            await asyncio.sleep(1.0)

        with pytest.raises(StateUnavailable):
            await breaker.run(busy_process)
        return breaker.usable

    assert asyncio.run(scenario()) is True
