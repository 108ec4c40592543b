"""Fleet-wide ``rpm`` / ``tpm`` per deployment: leases of permits from a per-minute counter.

The fleet's count for a minute lives in one Redis hash per deployment. A
process does not ask Redis for every request: it leases a block of permits
(a small share of the limit) with one atomic Lua call and hands them out
locally until they run out. Redis never grants more than ``rpm`` permits in
a minute, so the fleet admits at most ``rpm`` requests, exactly, whatever the
number of processes; a lease is the only round trip, once per block. Requests
that find the block empty at the same time wait for one lease sized for all
of them. Permits leased but unused when the minute ends lapse with it (at
most one block per process).

Tokens are known only after a response: they are added to the minute's hash
off the hot path, and each lease reads the fleet's total back; ``tpm``
therefore holds to within one lease's worth of requests.

When Redis cannot answer within the budget (or the breaker is open), each
process counts alone for the rest of the minute: every process may then admit
up to the full limit (the single-node behaviour), and never fails a request
because Redis is away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from gateway.state.connection import RedisConnection
from gateway.state.guard import RedisGuard, StateUnavailable
from gateway.state.keys import KeySpace
from gateway.state.scripts import ADD_TOKENS, LEASE
from gateway.state.windows import WINDOW_S
from gateway.state.writer import BackgroundWriter

# A lease is this share of the rpm limit (at least 1, at most LEASE_MAX).
LEASE_SHARE = 0.02
LEASE_MAX = 100
# Without an rpm limit (tpm only) a lease is this many requests.
TPM_ONLY_LEASE = 10
# Counters outlive their minute a little, for clocks a few seconds apart.
KEY_TTL_MS = 120_000


@dataclass(slots=True)
class _Minute:
    minute: int
    permits: int = 0  # leased and not handed out yet
    admitted: int = 0  # admitted by this process this minute, however
    fleet_tokens: int = 0  # the fleet's tokens at the last lease
    local_tokens: int = 0  # this process's tokens since that lease
    sold_out: bool = False  # Redis said no more this minute
    waiting: int = 0  # requests waiting for the lease in flight
    lease: asyncio.Task[None] | None = None  # at most one lease in flight


class FleetLimits:
    def __init__(
        self,
        *,
        connection: RedisConnection,
        guard: RedisGuard,
        writer: BackgroundWriter,
        keys: KeySpace,
    ) -> None:
        self._guard = guard
        self._writer = writer
        self._keys = keys
        self._lease_script = connection.script(LEASE)
        self._tokens_script = connection.script(ADD_TOKENS)
        self._minutes: dict[str, _Minute] = {}

    async def try_acquire(
        self, deployment_id: str, rpm: int | None, tpm: int | None, now: float
    ) -> float | None:
        """Count one request; None when admitted, else seconds until the window resets."""
        state = self._current(deployment_id, now)
        reset_in = WINDOW_S - (now % WINDOW_S)
        if tpm is not None and state.fleet_tokens + state.local_tokens >= tpm:
            return reset_in
        if state.permits > 0:
            state.permits -= 1
            state.admitted += 1
            return None
        if state.sold_out:
            return reset_in
        state.waiting += 1
        try:
            # Requests that find the lease empty together share one round trip, sized
            # for all of them; each lease grants at least one permit or sells out.
            while state.permits <= 0 and not state.sold_out:
                if not self._guard.usable:
                    return self._count_alone(state, rpm, reset_in)
                if state.lease is None:
                    state.lease = asyncio.create_task(self._renew(state, deployment_id, rpm, tpm))
                try:
                    await asyncio.shield(state.lease)
                except StateUnavailable:
                    return self._count_alone(state, rpm, reset_in)
        finally:
            state.waiting -= 1
        if state.permits <= 0:
            return reset_in
        state.permits -= 1
        state.admitted += 1
        return None

    def add_tokens(self, deployment_id: str, tokens: int, now: float) -> None:
        """Charge a finished request's tokens: here at once, in the fleet's count soon."""
        state = self._current(deployment_id, now)
        state.local_tokens += tokens
        key = self._keys.usage(deployment_id, state.minute)
        self._writer.add(key, tokens, partial(self._add_tokens, key))

    async def _add_tokens(self, key: str, tokens: float) -> object:
        return await self._tokens_script(keys=[key], args=[int(tokens), KEY_TTL_MS])

    async def _renew(
        self, state: _Minute, deployment_id: str, rpm: int | None, tpm: int | None
    ) -> None:
        try:
            wanted = min(LEASE_MAX, max(lease_size(rpm), state.waiting))
            granted, tokens = await self._guard.run(
                partial(self._lease, deployment_id, state.minute, rpm, tpm, wanted)
            )
        finally:
            state.lease = None
        state.fleet_tokens = max(state.fleet_tokens, tokens)
        state.local_tokens = 0
        if granted <= 0:
            state.sold_out = True
        else:
            state.permits += granted

    async def _lease(
        self, deployment_id: str, minute: int, rpm: int | None, tpm: int | None, wanted: int
    ) -> tuple[int, int]:
        granted, tokens = await self._lease_script(
            keys=[self._keys.usage(deployment_id, minute)],
            args=[
                -1 if rpm is None else rpm,
                -1 if tpm is None else tpm,
                wanted,
                KEY_TTL_MS,
            ],
        )
        return int(granted), int(tokens)

    def _count_alone(self, state: _Minute, rpm: int | None, reset_in: float) -> float | None:
        if rpm is not None and state.admitted >= rpm:
            return reset_in
        state.admitted += 1
        return None

    def _current(self, deployment_id: str, now: float) -> _Minute:
        minute = int(now // WINDOW_S)
        state = self._minutes.get(deployment_id)
        if state is None or state.minute != minute:
            state = self._minutes[deployment_id] = _Minute(minute)
        return state


def lease_size(rpm: int | None) -> int:
    if rpm is None:
        return TPM_ONLY_LEASE
    return max(1, min(LEASE_MAX, int(rpm * LEASE_SHARE)))
