"""The Redis circuit breaker: every Redis call goes through ``RedisGuard.run``.

States::

    closed --(open_after failures within failure_window)--> open
    open   --(close_after probes in a row answered in time)--> closed (then reconcile)

Closed, each call gets a time budget (``budget_s`` on the hot path,
``background_budget_s`` off it); past it the call fails and the caller serves
from local state, so a slow Redis costs a request at most the budget. Open, no
call reaches Redis at all: ``run`` raises ``StateUnavailable`` at once. A
background monitor pings Redis: a heartbeat while closed (a slow or dead Redis
is noticed even when idle), probes while open. When it closes, the hooks
registered with ``on_recovered`` reconcile local and shared state. A budget
that runs out only because the process's own event loop was too busy to notice
in time (it is noticed at twice its length or later) fails the call but does
not count against Redis; and hot-path budgets missed ``open_after`` times open
the breaker only if a ping within the background budget fails too (a busy
process reads Redis's answers late; a slow Redis fails the ping as well).
While that ping is out, hot-path calls serve from local state at once. A
saturated worker does not open the breaker by itself.

``status`` is ``ok`` (closed, no recent failure), ``degraded`` (closed with
recent failures, or reconciling) or ``down`` (open).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.state")

T = TypeVar("T")
Hook = Callable[[], Awaitable[None]]

# What a failed Redis call raises: the client's own errors, socket errors, our budget.
REDIS_FAULTS = (RedisError, OSError, TimeoutError)
# A budget noticed this many times its length after the call began was noticed late: the
# event loop was busy, and Redis is not to blame.
LATE_FACTOR = 2.0


class Status(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


class StateUnavailable(Exception):
    """Redis could not serve this call (down, slow, or the breaker is open): use local state."""


class RedisGuard:
    def __init__(
        self,
        ping: Callable[[], Awaitable[object]],
        *,
        reset: Callable[[], Awaitable[None]] | None = None,
        where: str,
        budget_s: float,
        background_budget_s: float,
        open_after: int,
        failure_window_s: float,
        close_after: int,
        probe_interval_s: float,
        heartbeat_interval_s: float,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._ping = ping
        self._reset = reset
        self._where = where
        self.budget_s = budget_s
        self.background_budget_s = background_budget_s
        self._open_after = open_after
        self._window = failure_window_s
        self._close_after = close_after
        self._probe_interval = probe_interval_s
        self._heartbeat_interval = heartbeat_interval_s
        self._failures: deque[float] = deque()
        self._open = False
        self._reconciling = False
        self._closed_event = asyncio.Event()
        self._closed_event.set()
        self._opened_event = asyncio.Event()
        self._hooks: list[Hook] = []
        self._task: asyncio.Task[None] | None = None
        self._confirming: asyncio.Task[None] | None = None

    # --- what callers see ---------------------------------------------------------

    @property
    def usable(self) -> bool:
        """False while open: callers should not even try Redis."""
        return not self._open

    @property
    def status(self) -> Status:
        if self._open:
            return Status.DOWN
        self._forget_old(time.monotonic())
        if self._failures or self._reconciling:
            return Status.DEGRADED
        return Status.OK

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        background: bool = False,
        budget_s: float | None = None,
    ) -> T:
        """``operation()`` within the budget; ``StateUnavailable`` when it cannot be had.

        ``background`` work (off the hot path) gets the longer budget; an admin
        operation may name its own.
        """
        if self._open:
            raise StateUnavailable(f"redis at {self._where} is unavailable (circuit open)")
        if self._confirming is not None and not background:
            # Budgets were missed and a ping is checking why: the hot path does not wait
            # on Redis meanwhile (it would pay the budget again on every call).
            raise StateUnavailable(f"redis at {self._where} is being checked (missed budgets)")
        budget = budget_s or (self.background_budget_s if background else self.budget_s)
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget):
                return await operation()
        except TimeoutError as exc:
            # A budget that ran out long after it should have means this process's event
            # loop was too busy to look (a saturated worker), not that Redis was slow: the
            # call still fails, but it does not count towards opening the breaker. Missed
            # hot-path budgets open it only once a ping confirms Redis is slow.
            if time.monotonic() - started <= budget * LATE_FACTOR:
                self.record_failure(exc, confirm=not background)
            raise StateUnavailable(_describe(exc)) from exc
        except REDIS_FAULTS as exc:
            self.record_failure(exc)
            raise StateUnavailable(_describe(exc)) from exc

    def record_failure(self, exc: BaseException, *, confirm: bool = False) -> None:
        """A Redis call failed (also used by the subscriber, which runs without ``run``).

        ``confirm``: the failure was a short hot-path budget running out, which a busy
        event loop causes as well as a slow Redis; the breaker then opens only if a ping
        with the background budget fails too."""
        now = time.monotonic()
        log.debug("redis call failed", extra={"redis": self._where, "reason": _describe(exc)})
        self._failures.append(now)
        self._forget_old(now)
        if self._open or len(self._failures) < self._open_after:
            return
        if not confirm:
            self._trip(exc)
        elif self._confirming is None:
            self._confirming = self._tasks.spawn(self._confirm(), name="redis-confirm")

    async def _confirm(self) -> None:
        try:
            async with asyncio.timeout(self.background_budget_s):
                await self._ping()
        except REDIS_FAULTS as exc:
            if not self._open:
                self._trip(exc)
        else:
            self._failures.clear()
            log.info(
                "redis answered a check in time: the missed budgets were this process "
                "being too busy to read the answers",
                extra={"redis": self._where},
            )
        finally:
            self._confirming = None

    def on_recovered(self, hook: Hook) -> None:
        """Run ``hook`` each time the breaker closes (reconcile local and shared state)."""
        self._hooks.append(hook)

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def wait_opened(self) -> None:
        await self._opened_event.wait()

    # --- the monitor ----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self._monitor(), name="redis-guard")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    async def _monitor(self) -> None:
        while True:
            if self._open:
                await self._drop_connections()
                await self._probe_until_healthy()
                await self._close()
            else:
                await asyncio.sleep(self._heartbeat_interval)
                with contextlib.suppress(StateUnavailable):
                    await self.run(self._ping, background=True)

    async def _drop_connections(self) -> None:
        """Start afresh once Redis is back: pooled connections died with the old server."""
        if self._reset is None:
            return
        try:
            async with asyncio.timeout(self.background_budget_s):
                await self._reset()
        except Exception:
            log.debug("dropping redis connections failed", exc_info=True)

    async def _probe_until_healthy(self) -> None:
        answered = 0
        while answered < self._close_after:
            await asyncio.sleep(self._probe_interval)
            try:
                async with asyncio.timeout(self.background_budget_s):
                    await self._ping()
            except REDIS_FAULTS:
                answered = 0
                continue
            answered += 1

    def _trip(self, exc: BaseException) -> None:
        self._open = True
        self._closed_event.clear()
        self._opened_event.set()
        log.warning(
            "redis unavailable: serving from local state until it answers again",
            extra={"redis": self._where, "reason": _describe(exc), "redis_status": "down"},
        )

    async def _close(self) -> None:
        self._open = False
        self._failures.clear()
        self._opened_event.clear()
        self._reconciling = True
        self._closed_event.set()
        log.warning(
            "redis answers again: reconciling shared state",
            extra={"redis": self._where, "redis_status": "degraded"},
        )
        try:
            for hook in self._hooks:
                try:
                    await hook()
                except StateUnavailable as exc:
                    log.warning("reconcile step failed", extra={"reason": str(exc)})
                except Exception:
                    log.exception("reconcile step failed")
        finally:
            self._reconciling = False
        if not self._open:
            log.warning(
                "redis healthy: shared state resumed",
                extra={"redis": self._where, "redis_status": "ok"},
            )

    def _forget_old(self, now: float) -> None:
        horizon = now - self._window
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()


def _describe(exc: BaseException) -> str:
    """The error's type and message (redis-py never puts credentials in either)."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "TimeoutError: no answer within the time budget"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
