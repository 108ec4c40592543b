"""The process's background loops, started and stopped in one place.

Every long-lived task (the ledger's outbox and drainer, the Redis bus, guard and
writer, the webhooks, alerts, heartbeat, control sync and maintenance) is spawned
through one ``Supervisor``: each has a name, a crash is logged with that name the
moment it happens (not when, or if, someone awaits the task), and shutdown waits
for what is left only as long as the drain timeout allows, then says which loops
it had to cancel. Components own their loops' logic and their orderly stop; the
supervisor is the backstop that makes a forgotten or crashed loop visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long shutdown waits for loops still running after their owners have stopped.
DRAIN_TIMEOUT_S = 5.0


class Supervisor:
    """Named background tasks: crashes logged as they happen, all ended within a bound."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``work`` in the background as ``name``."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._running.add(task)
        task.add_done_callback(self._finished)
        return task

    def running(self) -> list[str]:
        """The names of the loops running now, sorted."""
        return sorted(task.get_name() for task in self._running)

    async def finish(self, task: asyncio.Task[Any] | None, timeout_s: float) -> None:
        """Let ``task`` end its own way for up to ``timeout_s``, then cancel it. Never raises."""
        if task is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(task)
        except TimeoutError:
            await cancel(task)
        except asyncio.CancelledError:
            if not task.done():
                raise  # the caller is being cancelled, not the task
        except Exception:  # noqa: S110 - logged by the done callback, with the task's name
            pass

    async def close(self, timeout_s: float = DRAIN_TIMEOUT_S) -> list[str]:
        """End every loop still running: wait up to ``timeout_s``, then cancel the rest.

        The names of the loops that had to be cancelled (their owners did not stop them).
        """
        left = list(self._running)
        if not left:
            return []
        _done, pending = await asyncio.wait(left, timeout=timeout_s)
        names = sorted(task.get_name() for task in pending)
        for task in pending:
            await cancel(task)
        if names:
            log.warning("background tasks cancelled at shutdown: %s", ", ".join(names))
        return names

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "background task %s stopped with an error",
                task.get_name(),
                exc_info=(type(error), error, error.__traceback__),
            )


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait for it to end. Never raises for the task's own outcome."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
