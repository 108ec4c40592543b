"""What each key and team has spent in its budget period, as this process knows it.

The hot path reads a number held here: no I/O, except one bounded Redis read
the first time a budget is used in a period. The number is:

- with Redis: the fleet's total for the period (every process adds its
  requests' costs to one counter, and learns the new total from each add), plus
  what this process added that Redis has not confirmed yet; refreshed in the
  background when it is older than ``refresh_s``;
- always: reconciled with the ledger (the spend rows the ledger has written)
  every ``reconcile_s`` and on first use. The ledger's sum only ever raises
  the figure (``max``), so it repairs a Redis that lost its counters without
  counting a request twice. Without Redis this is how spend made by other
  processes arrives, as fast as the ledger writes its batches.

A cost is known only once a response has finished, so requests already in
flight when a budget runs out still finish: a budget can be overrun by them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from gateway.keys.model import Limits
from gateway.keys.store import KeyReads
from gateway.keys.usage import SpendCounters
from gateway.state.guard import StateUnavailable
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.keys")

REFRESH_S = 1.0
RECONCILE_S = 30.0
# Counters outlive their period by a day, for clocks that disagree a little.
COUNTER_GRACE_S = 86400.0
ALL_TIME_TTL_S = 90 * 86400.0


@dataclass(slots=True)
class _Spend:
    period: int  # the period's start in whole seconds: the counter's name in Redis
    limits: Limits  # the schedule the period was found with
    start: float
    end: float  # inf: never
    known: float = 0.0  # the fleet's (or the ledger's) total, last heard
    pending: float = 0.0  # added here and not yet part of ``known``
    refreshed_at: float = 0.0  # monotonic
    reconciled_at: float = 0.0  # monotonic; 0: never

    @property
    def total(self) -> float:
        return self.known + self.pending


class BudgetBook:
    def __init__(
        self,
        reads: KeyReads,
        counters: SpendCounters | None,
        *,
        refresh_s: float = REFRESH_S,
        reconcile_s: float = RECONCILE_S,
        tasks: Supervisor | None = None,
    ) -> None:
        self._supervisor = tasks if tasks is not None else Supervisor()
        self._reads = reads
        self._counters = counters
        self._refresh_s = refresh_s
        self._reconcile_s = reconcile_s
        self._spend: dict[str, _Spend] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def spent(self, ident: str, owner: tuple[str, str], limits: Limits, now: float) -> float:
        """The period's spend so far; ``owner`` is ("key_hash", hash) or ("team_id", id)."""
        state, new = self._current(ident, limits, now)
        mono = time.monotonic()
        if new:
            await self._first_read(ident, state)
        elif self._counters is not None and mono - state.refreshed_at > self._refresh_s:
            self._background(f"refresh:{ident}", self._refresh(ident, state))
        if mono - state.reconciled_at > self._reconcile_s:
            state.reconciled_at = mono
            self._background(f"reconcile:{ident}", self._reconcile(ident, owner, state))
        return state.total

    def charge(self, ident: str, limits: Limits, usd: float, now: float) -> None:
        """Count a finished request's cost here at once, and in the fleet's total soon."""
        if usd <= 0:
            return
        state, _new = self._current(ident, limits, now)
        state.pending += usd
        counters = self._counters
        if counters is None:
            return

        def confirmed(total: float) -> None:
            if self._spend.get(ident) is state:
                state.known = max(state.known, total)
                state.pending = max(0.0, state.pending - usd)
                state.refreshed_at = time.monotonic()

        counters.add(ident, state.period, usd, _ttl(state.end, now), confirmed)

    def standing(self, ident: str) -> tuple[float, float, float] | None:
        """The period's spend as known here, its start and its end (inf: never), or None."""
        state = self._spend.get(ident)
        return None if state is None else (state.total, state.start, state.end)

    def forget(self, ident: str) -> None:
        self._spend.pop(ident, None)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            await cancel(task)

    def _current(self, ident: str, limits: Limits, now: float) -> tuple[_Spend, bool]:
        """The figure for the period holding ``now``, and whether it is new (not read yet).

        The period is looked up again only when it ends or the schedule changes: the same
        ``Limits`` object stands for an unchanged key or team."""
        state = self._spend.get(ident)
        if state is not None and state.limits is limits and now < state.end:
            return state, False
        start, reset = limits.period(now)
        end = reset if reset is not None else math.inf
        if state is not None and state.period == int(start):
            # The same period under a changed (or re-read) schedule: its spend carries on.
            state.limits, state.start, state.end = limits, start, end
            return state, False
        state = self._spend[ident] = _Spend(int(start), limits, start, end)
        return state, True

    # --- behind the hot path -----------------------------------------------------------

    async def _first_read(self, ident: str, state: _Spend) -> None:
        state.refreshed_at = time.monotonic()
        if self._counters is None:
            return
        try:
            state.known = max(state.known, await self._counters.total(ident, state.period))
        except StateUnavailable:
            # Redis is away: the ledger's figure arrives with the reconcile.
            state.refreshed_at = 0.0

    async def _refresh(self, ident: str, state: _Spend) -> None:
        assert self._counters is not None
        state.refreshed_at = time.monotonic()
        total = await self._counters.total(ident, state.period)
        state.known = max(state.known, total)

    async def _reconcile(self, ident: str, owner: tuple[str, str], state: _Spend) -> None:
        # The ledger's sum over the very period the counters hold: its start is the same
        # on every process.
        column, value = owner
        start = state.start
        if column == "key_hash":
            ledger = await self._reads.spend_since(key_hash=value, since=start)
        else:
            ledger = await self._reads.spend_since(team_id=value, since=start)
        if self._spend.get(ident) is not state:
            return
        if self._counters is None:
            # What this process added may be in the ledger by now: max() never counts it twice.
            state.known = max(ledger, state.total)
            state.pending = 0.0
            return
        total = await self._counters.raise_to(
            ident, state.period, ledger, _ttl(state.end, time.time())
        )
        state.known = max(state.known, total)

    def _background(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        if name in self._tasks:
            work.close()
            return
        self._tasks[name] = self._supervisor.spawn(self._guarded(name, work), name=f"budget-{name}")

    async def _guarded(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except (StateUnavailable, GatewayError) as exc:
            log.info("spend figure not refreshed", extra={"what": name, "reason": str(exc)})
        except Exception:
            log.exception("spend figure refresh failed", extra={"what": name})
        finally:
            self._tasks.pop(name, None)


def _ttl(end: float, now: float) -> float:
    if end == math.inf:
        return ALL_TIME_TTL_S
    return max(1.0, end - now) + COUNTER_GRACE_S
