"""Virtual keys as the data plane looks them up: a dict in memory, kept fresh by events.

A hit is one dict lookup. A miss reads the database once (concurrent misses
for the same key share that read) and remembers the answer: a key found stays
until an ``Invalidate(KEYS)`` event drops it; a key not found is remembered
for ``negative_ttl_s`` only, so a flood of made-up keys costs one read per key
per interval, and a newly generated key is never refused for long (its
creation also drops that memory at once).

Events name what changed: ``key:<hash>`` or ``team:<id>``; none means
everything. A change published by any process reaches every process within
milliseconds; after a lost Redis subscription, everything cached is dropped,
since changes may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from gateway.keys.model import Team, VirtualKey
from gateway.keys.store import KeyReads
from gateway.state.bus import EventBus
from gateway.state.events import Invalidate, Scope

NEGATIVE_TTL_S = 2.0
MAX_NEGATIVE = 10_000
# A read that raced with an invalidation is read again, this many times at most.
MAX_LOAD_ATTEMPTS = 3
KEY_PREFIX = "key:"
TEAM_PREFIX = "team:"


@dataclass(frozen=True, slots=True)
class Grant:
    """A key found in the database, with its team."""

    key: VirtualKey
    team: Team | None


def key_event_id(key_hash: str) -> str:
    return KEY_PREFIX + key_hash


def team_event_id(team_id: str) -> str:
    return TEAM_PREFIX + team_id


class KeyDirectory:
    def __init__(
        self, reads: KeyReads, bus: EventBus, *, negative_ttl_s: float = NEGATIVE_TTL_S
    ) -> None:
        self._reads = reads
        self._negative_ttl = negative_ttl_s
        self._keys: dict[str, Grant] = {}
        self._teams: dict[str, Team | None] = {}
        self._missing: dict[str, float] = {}
        self._loading: dict[str, asyncio.Future[Grant | None]] = {}
        # Bumped by every invalidation: a read that spans one may have seen the old row.
        self._generation = 0
        bus.on(Invalidate, self._on_invalidate)
        if bus.shared:
            bus.on_connected(self._after_reconnect)

    async def lookup(self, key_hash: str) -> Grant | None:
        grant = self._keys.get(key_hash)
        if grant is not None:
            return grant
        until = self._missing.get(key_hash)
        if until is not None:
            if until > time.monotonic():
                return None
            del self._missing[key_hash]
        pending = self._loading.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Grant | None] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = future
        try:
            grant = await self._load(key_hash)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: the waiters, if any, get it too
            raise
        finally:
            self._loading.pop(key_hash, None)
        future.set_result(grant)
        return grant

    def drop(self, ids: tuple[str, ...] = ()) -> None:
        """Forget what ``ids`` name (``key:<hash>``, ``team:<id>``); everything when empty."""
        self._generation += 1
        if not ids:
            self._keys.clear()
            self._teams.clear()
            self._missing.clear()
            return
        for ident in ids:
            if ident.startswith(TEAM_PREFIX):
                team_id = ident[len(TEAM_PREFIX) :]
                self._teams.pop(team_id, None)
                for key_hash in [h for h, g in self._keys.items() if g.key.team_id == team_id]:
                    del self._keys[key_hash]
            else:
                key_hash = ident.removeprefix(KEY_PREFIX)
                self._keys.pop(key_hash, None)
                self._missing.pop(key_hash, None)

    @property
    def cached(self) -> int:
        return len(self._keys)

    async def _load(self, key_hash: str) -> Grant | None:
        for _ in range(MAX_LOAD_ATTEMPTS):
            generation = self._generation
            doc = await self._reads.key_get(key_hash)
            grant = None
            if doc is not None:
                key = VirtualKey.from_json(doc)
                team = await self._team(key.team_id) if key.team_id else None
                grant = Grant(key, team)
            if generation == self._generation:
                self._remember(key_hash, grant)
                return grant
        return grant

    async def _team(self, team_id: str) -> Team | None:
        if team_id in self._teams:
            return self._teams[team_id]
        generation = self._generation
        doc = await self._reads.team_get(team_id)
        team = Team.from_json(doc) if doc is not None else None
        if generation == self._generation:
            self._teams[team_id] = team
        return team

    def _remember(self, key_hash: str, grant: Grant | None) -> None:
        if grant is not None:
            self._keys[key_hash] = grant
            return
        if len(self._missing) >= MAX_NEGATIVE:
            now = time.monotonic()
            self._missing = {h: t for h, t in self._missing.items() if t > now}
            if len(self._missing) >= MAX_NEGATIVE:
                return
        self._missing[key_hash] = time.monotonic() + self._negative_ttl

    def _on_invalidate(self, event: Invalidate) -> None:
        if event.scope is Scope.KEYS:
            self.drop(event.ids)

    async def _after_reconnect(self) -> None:
        self.drop()
