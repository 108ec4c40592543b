"""Counters behind the limits: rate windows, parallel slots, spend totals.

Each is a protocol with an in-process implementation, used when the fleet
shares no Redis (the rate windows: ``state.windows.MinuteWindows``, as the
router's); ``gateway.state`` provides the fleet-wide ones (the rate windows are
the same ``FleetLimits`` the router uses per deployment).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol


class RateWindows(Protocol):
    async def try_acquire(
        self, deployment_id: str, rpm: int | None, tpm: int | None, now: float
    ) -> float | None:
        """Count one request for ``deployment_id`` (here: a key or team); None when admitted,
        else seconds until the window resets."""

    def add_tokens(self, deployment_id: str, tokens: int, now: float) -> None: ...


class Slots(Protocol):
    async def acquire(self, ident: str, limit: int, now: float) -> str | None:
        """Take one of ``limit`` parallel slots: a lease to release, or None when all are taken."""

    def release(self, ident: str, lease: str) -> None: ...


class SpendCounters(Protocol):
    """Spend totals per key (or team) and budget period, shared by the fleet."""

    def add(
        self, ident: str, period: int, usd: float, ttl_s: float, on_total: Callable[[float], None]
    ) -> None:
        """Add ``usd`` off the hot path; ``on_total`` gets the fleet's total after it."""

    async def total(self, ident: str, period: int) -> float:
        """The fleet's total now (``StateUnavailable`` when it cannot be had in time)."""

    async def raise_to(self, ident: str, period: int, floor: float, ttl_s: float) -> float:
        """Make the total at least ``floor`` (the ledger's figure); the total after."""


class LocalSlots:
    """Parallel requests in flight in this process."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._leases = itertools.count()

    async def acquire(self, ident: str, limit: int, now: float) -> str | None:
        held = self._held.get(ident, 0)
        if held >= limit:
            return None
        self._held[ident] = held + 1
        return f"local:{next(self._leases)}"

    def release(self, ident: str, lease: str) -> None:
        held = self._held.get(ident, 0) - 1
        if held > 0:
            self._held[ident] = held
        else:
            self._held.pop(ident, None)
