"""The background loops' supervisor: a crash is logged with the loop's name when it
happens, shutdown ends what its owners left running within the drain bound and names
it, and ``finish`` lets a loop end its own way before cancelling it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.supervisor import Supervisor, cancel


async def _crash() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("the loop broke")


async def _forever() -> None:
    await asyncio.Event().wait()


def test_a_crash_is_logged_with_the_loops_name(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[str]:
        tasks = Supervisor()
        task = tasks.spawn(_crash(), name="ledger-writer")
        await asyncio.wait([task])
        await asyncio.sleep(0)  # the done callback runs on the next turn
        return tasks.running()

    with caplog.at_level(logging.ERROR, logger="gateway.supervisor"):
        running = asyncio.run(scenario())
    assert running == []
    [entry] = [r for r in caplog.records if r.name == "gateway.supervisor"]
    assert entry.getMessage() == "background task ledger-writer stopped with an error"
    assert entry.exc_info is not None and "the loop broke" in str(entry.exc_info[1])


def test_close_cancels_what_was_left_running_and_names_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[list[str], list[str], bool]:
        tasks = Supervisor()
        stuck = tasks.spawn(_forever(), name="redis-guard")
        done = tasks.spawn(asyncio.sleep(0), name="quick")
        await done
        before = tasks.running()
        cancelled = await tasks.close(timeout_s=0.05)
        return before, cancelled, stuck.cancelled()

    with caplog.at_level(logging.WARNING, logger="gateway.supervisor"):
        before, cancelled, stuck_cancelled = asyncio.run(scenario())
    assert before == ["redis-guard"]
    assert cancelled == ["redis-guard"]
    assert stuck_cancelled
    assert "background tasks cancelled at shutdown: redis-guard" in caplog.text


def test_close_with_nothing_left_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[str]:
        tasks = Supervisor()
        task = tasks.spawn(_forever(), name="heartbeat")
        await cancel(task)  # its owner stopped it
        return await tasks.close(timeout_s=0.05)

    with caplog.at_level(logging.WARNING, logger="gateway.supervisor"):
        assert asyncio.run(scenario()) == []
    assert caplog.records == []


def test_finish_lets_a_loop_end_its_own_way_then_cancels() -> None:
    async def scenario() -> tuple[bool, bool]:
        tasks = Supervisor()
        stop = asyncio.Event()

        async def drains() -> None:
            await stop.wait()

        polite = tasks.spawn(drains(), name="outbox")
        stop.set()
        await tasks.finish(polite, timeout_s=1.0)
        stubborn = tasks.spawn(_forever(), name="drainer")
        await tasks.finish(stubborn, timeout_s=0.01)
        return polite.cancelled(), stubborn.cancelled()

    polite_cancelled, stubborn_cancelled = asyncio.run(scenario())
    assert not polite_cancelled
    assert stubborn_cancelled


def test_finish_swallows_the_loops_error_which_the_callback_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        tasks = Supervisor()
        await tasks.finish(tasks.spawn(_crash(), name="maintenance"), timeout_s=1.0)

    with caplog.at_level(logging.ERROR, logger="gateway.supervisor"):
        asyncio.run(scenario())
    assert "background task maintenance stopped with an error" in caplog.text
