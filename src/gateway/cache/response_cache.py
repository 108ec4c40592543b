"""The response cache: look up before routing, store after answering, drop on request.

Lookups are bounded by the Redis guard's budget (a slow Redis is a miss);
stores run as background tasks after the answer is on its way. With a local
store and a fleet on Redis, ``flush`` and ``delete`` also tell every other
process to drop the same answers (an ``Invalidate(CACHE)`` event).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.cache.controls import CacheControls
from gateway.cache.settings import MAX_TTL_S, CacheSettings
from gateway.cache.store import CacheStore, Entry, LocalStore
from gateway.providers.base import Operation
from gateway.state.bus import EventBus
from gateway.state.events import Invalidate, Scope
from gateway.state.guard import StateUnavailable

log = logging.getLogger("gateway.cache")


@dataclass(frozen=True, slots=True)
class Hit:
    body: bytes  # as stored: a completion's JSON, or a stream's recording (a JSON array)
    age_s: float


class ResponseCache:
    def __init__(self, settings: CacheSettings, store: CacheStore, bus: EventBus) -> None:
        self.settings = settings
        self._store = store
        self._bus = bus
        self._pending: set[asyncio.Task[None]] = set()
        self._local = store if isinstance(store, LocalStore) else None
        if self._local is not None:
            bus.on(Invalidate, self._on_invalidate)
            # Invalidations sent while this process was not listening are lost: after any
            # gap, drop what is held rather than risk serving a flushed answer.
            bus.on_connected(self._after_gap)

    @property
    def kind(self) -> str:
        return self._store.kind

    def applies(self, operation: Operation, controls: CacheControls) -> bool:
        if operation not in self.settings.operations:
            return False
        if controls.use_cache is not None:
            return controls.use_cache
        return self.settings.default_on

    def namespace(self, controls: CacheControls) -> str:
        return controls.namespace or self.settings.namespace

    async def lookup(self, key: str, controls: CacheControls) -> Hit | None:
        if controls.no_cache:
            return None
        entry = await self._store.get(self.namespace(controls), key)
        if entry is None:
            return None
        age = max(0.0, time.time() - entry.stored_at)
        if controls.max_age_s is not None and age > controls.max_age_s:
            return None
        return Hit(entry.body, age)

    def store_soon(self, key: str, body: bytes, controls: CacheControls) -> None:
        """Store ``body`` in the background (unless the request said not to)."""
        if controls.no_store:
            return
        ttl = controls.ttl_s if controls.ttl_s is not None else self.settings.ttl_s
        if ttl <= 0:
            return
        entry = Entry(body, time.time())
        if self._local is not None:
            # In process, storing is a dict insert: no task needed to keep it off the path.
            self._local.put_now(self.namespace(controls), key, entry, min(ttl, MAX_TTL_S))
            return
        task = asyncio.create_task(
            self._store.put(self.namespace(controls), key, entry, min(ttl, MAX_TTL_S))
        )
        self._pending.add(task)
        task.add_done_callback(self._stored)

    def _stored(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("storing a cached answer failed", exc_info=task.exception())

    async def flush(self) -> int:
        """Drop every cached answer (every namespace), fleet-wide."""
        dropped = await self._store.flush(None)
        await self._tell_fleet(Invalidate(Scope.CACHE))
        return dropped

    async def delete(self, keys: Iterable[str], namespace: str | None = None) -> int:
        names = list(keys)
        dropped = await self._store.delete(namespace or self.settings.namespace, names)
        await self._tell_fleet(Invalidate(Scope.CACHE, tuple(names)))
        return dropped

    async def ping(self) -> bool:
        return await self._store.ping()

    async def _tell_fleet(self, event: Invalidate) -> None:
        """Other processes hold their own local answers: ask them to drop these too."""
        if self._local is None or not self._bus.shared:
            return
        try:
            await self._bus.publish(event)
        except StateUnavailable as exc:
            log.warning(
                "could not tell other processes to drop cached answers", extra={"reason": str(exc)}
            )

    async def _after_gap(self) -> None:
        if self._local is not None:
            self._local.drop_all()

    def _on_invalidate(self, event: Invalidate) -> None:
        local = self._local
        if event.scope is not Scope.CACHE or local is None:
            return
        if event.ids:
            local.drop_keys(event.ids)
        else:
            local.drop_all()
