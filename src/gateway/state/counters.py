"""Fleet-wide counters for virtual keys and teams: parallel slots and spend totals.

Parallel slots are leases in a sorted set (member: a lease id, score: when it
lapses), taken by one Lua call that first forgets lapsed leases: a process
that dies holding slots gives them back within ``LEASE_S``, instead of
leaking them forever as a plain counter would. Releases go through the
background writer and are kept until Redis confirms them; the next acquire
carries those still unconfirmed, and the lease of an acquire whose answer
came too late, so a slow Redis leaks no slot. When Redis cannot answer, slots are counted in this
process alone (each process may then admit up to the limit).

Spend totals are one float counter per key (or team) and budget period.
Adds go through the background writer, and each tells the caller the new
total; ``raise_to`` lifts a counter to the ledger's figure when Redis has
lost it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

from gateway.state.fleet import Fleet
from gateway.state.guard import StateUnavailable

# The longest a request may hold a parallel slot (longer than any request deadline).
LEASE_S = 900.0

# The most unconfirmed releases one acquire carries along.
CARRIED_RELEASES = 64

# KEYS: the leases zset. ARGV: now, lapses at, lease id, limit, expiry in ms, then the
# leases to release first (releases not yet confirmed).
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for i = 6, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: the counter. ARGV: USD to add, expiry in ms. Returns the total (as a string).
_ADD = """
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return total
"""

# KEYS: the counter. ARGV: floor, expiry in ms. Returns the total after (as a string).
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return tostring(current)
"""


class FleetSlots:
    def __init__(self, fleet: Fleet, *, origin: str) -> None:
        connection = fleet.connection
        self._guard = fleet.guard
        self._writer = fleet.writer
        self._prefix = fleet.keys.prefix
        self._origin = origin
        self._acquire = connection.script(_ACQUIRE)
        self._client = connection.client
        self._leases = itertools.count()
        self._local: dict[str, int] = {}
        self._unconfirmed: dict[str, set[str]] = {}  # released (or maybe taken) leases
        fleet.guard.on_recovered(self._release_all_unconfirmed)

    async def acquire(self, ident: str, limit: int, now: float) -> str | None:
        lease = f"{self._origin}:{next(self._leases)}"
        if self._guard.usable:
            unconfirmed = self._unconfirmed.get(ident)
            carried = list(itertools.islice(unconfirmed, CARRIED_RELEASES)) if unconfirmed else []
            try:
                granted = await self._guard.run(
                    partial(
                        self._acquire,
                        keys=[self._key(ident)],
                        args=[
                            repr(now),
                            repr(now + LEASE_S),
                            lease,
                            limit,
                            int(LEASE_S * 1000),
                            *carried,
                        ],
                    )
                )
            except StateUnavailable:
                # The call may still have run on Redis after the time ran out: the lease
                # taken there would be held until it lapses. Release it with the next call.
                self._unconfirmed.setdefault(ident, set()).add(lease)
            else:
                self._confirmed(ident, carried)
                return lease if int(granted) else None
        held = self._local.get(ident, 0)
        if held >= limit:
            return None
        self._local[ident] = held + 1
        return "local:" + lease

    def release(self, ident: str, lease: str) -> None:
        if lease.startswith("local:"):
            held = self._local.get(ident, 0) - 1
            if held > 0:
                self._local[ident] = held
            else:
                self._local.pop(ident, None)
            return
        # Kept until Redis confirms it: a release lost to a slow or unreachable Redis
        # (the writer drops writes while the breaker is open) goes with a later call.
        self._unconfirmed.setdefault(ident, set()).add(lease)
        self._writer.submit(partial(self._release_unconfirmed, ident))

    async def _release_unconfirmed(self, ident: str) -> None:
        leases = list(self._unconfirmed.get(ident, ()))
        if leases:
            await self._client.zrem(self._key(ident), *leases)
            self._confirmed(ident, leases)

    async def _release_all_unconfirmed(self) -> None:
        """Redis answers again: give back what was released while it could not be told."""
        for ident in list(self._unconfirmed):
            await self._guard.run(partial(self._release_unconfirmed, ident), background=True)

    def _confirmed(self, ident: str, released: list[str]) -> None:
        unconfirmed = self._unconfirmed.get(ident)
        if unconfirmed is not None and released:
            unconfirmed.difference_update(released)
            if not unconfirmed:
                del self._unconfirmed[ident]

    def _key(self, ident: str) -> str:
        return f"{self._prefix}:slots:{ident}"


class FleetSpend:
    def __init__(self, fleet: Fleet) -> None:
        connection = fleet.connection
        self._guard = fleet.guard
        self._writer = fleet.writer
        self._prefix = fleet.keys.prefix
        self._add = connection.script(_ADD)
        self._raise = connection.script(_RAISE)
        self._client = connection.client

    def add(
        self, ident: str, period: int, usd: float, ttl_s: float, on_total: Callable[[float], None]
    ) -> None:
        key = self._key(ident, period)

        async def write(amount: float) -> float:
            return float(await self._add(keys=[key], args=[repr(amount), _ms(ttl_s)]))

        self._writer.add(key, usd, write, on_total)

    async def total(self, ident: str, period: int) -> float:
        value = await self._guard.run(partial(self._client.get, self._key(ident, period)))
        return float(value) if value is not None else 0.0

    async def raise_to(self, ident: str, period: int, floor: float, ttl_s: float) -> float:
        total = await self._guard.run(
            partial(self._raise, keys=[self._key(ident, period)], args=[repr(floor), _ms(ttl_s)]),
            background=True,
        )
        return float(total)

    def _key(self, ident: str, period: int) -> str:
        return f"{self._prefix}:spend:{ident}:{period}"


def _ms(seconds: float) -> int:
    return max(1000, int(seconds * 1000))
