"""The Redis breaker blames Redis for slow answers, not for its own process being busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from gateway.state.guard import RedisGuard, StateUnavailable

BUDGET_S = 0.05
BACKGROUND_BUDGET_S = 0.2


async def answers_at_once() -> None:
    return None


async def never_answers() -> None:
    await asyncio.sleep(60)


def guard(ping: Callable[[], Awaitable[None]]) -> RedisGuard:
    return RedisGuard(
        ping,
        where="test",
        budget_s=BUDGET_S,
        background_budget_s=BACKGROUND_BUDGET_S,
        open_after=1,
        failure_window_s=10.0,
        close_after=1,
        probe_interval_s=1.0,
        heartbeat_interval_s=60.0,
    )


async def miss_a_budget(breaker: RedisGuard) -> None:
    with pytest.raises(StateUnavailable):
        await breaker.run(never_answers)


def test_missed_budgets_open_the_breaker_when_a_ping_confirms_redis_is_slow() -> None:
    async def scenario() -> bool:
        breaker = guard(never_answers)
        await miss_a_budget(breaker)
        async with asyncio.timeout(BACKGROUND_BUDGET_S * 10):
            await breaker.wait_opened()
        return breaker.usable

    assert asyncio.run(scenario()) is False


def test_missed_budgets_with_redis_answering_a_ping_in_time_leave_it_closed() -> None:
    """A busy process reads Redis's answers late; Redis itself answers the check."""

    async def scenario() -> bool:
        breaker = guard(answers_at_once)
        await miss_a_budget(breaker)
        await asyncio.sleep(BACKGROUND_BUDGET_S * 2)
        return breaker.usable

    assert asyncio.run(scenario()) is True


def test_a_budget_noticed_late_by_a_busy_loop_does_not_count_at_all() -> None:
    async def scenario() -> bool:
        breaker = guard(never_answers)

        async def busy_process() -> None:
            time.sleep(BUDGET_S * 4)  # the loop is held: the budget is noticed late
            await asyncio.sleep(1.0)

        with pytest.raises(StateUnavailable):
            await breaker.run(busy_process)
        await asyncio.sleep(BACKGROUND_BUDGET_S * 2)  # no check was started either
        return breaker.usable

    assert asyncio.run(scenario()) is True


def test_a_refused_connection_opens_the_breaker_at_once() -> None:
    async def scenario() -> bool:
        breaker = guard(answers_at_once)

        async def refused() -> None:
            raise ConnectionRefusedError("connection refused")

        with pytest.raises(StateUnavailable):
            await breaker.run(refused)
        return breaker.usable

    assert asyncio.run(scenario()) is False


def test_while_the_check_is_out_the_hot_path_does_not_wait_on_redis() -> None:
    async def scenario() -> tuple[bool, bool]:
        breaker = guard(never_answers)
        await miss_a_budget(breaker)
        with pytest.raises(StateUnavailable, match="being checked"):
            await breaker.run(answers_at_once)
        background_ran = await breaker.run(answers_at_once, background=True) is None
        return breaker.usable, background_ran

    assert asyncio.run(scenario()) == (True, True)
