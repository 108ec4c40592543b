"""Session pins: which deployment a session's requests go to, here and across the fleet.

``LocalPins`` is one process's memory: a bounded map from a pin's name (its
group and a digest of the session id) to a deployment, forgotten after ``ttl``
without a request, least recently used first when full. ``FleetPins`` puts
Redis behind it. A request whose session this process holds costs no Redis
call; one it has not seen costs one read; a new pin or a move costs one
compare-and-set script, which also tells the other processes of a move (they
follow at once). A pin in use is renewed in Redis in the background, at most
every quarter of its ttl. When Redis cannot answer, pins are kept in process,
and the fleet's copy catches up with the next new pin or move.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from gateway.state.bus import EventBus
from gateway.state.connection import RedisConnection
from gateway.state.events import PinMoved
from gateway.state.guard import RedisGuard, StateUnavailable
from gateway.state.keys import KeySpace
from gateway.state.scripts import PIN
from gateway.state.writer import BackgroundWriter

log = logging.getLogger("gateway.state")

DEFAULT_TTL_S = 3600.0
DEFAULT_MAX_SESSIONS = 100_000


@dataclass(slots=True)
class Pin:
    deployment_id: str
    expires: float
    renewed: float  # when the fleet's copy was last renewed (or read)


class LocalPins:
    def __init__(self, ttl: float = DEFAULT_TTL_S, max_sessions: int = DEFAULT_MAX_SESSIONS):
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._pins: OrderedDict[str, Pin] = OrderedDict()

    def configure(self, ttl: float, max_sessions: int) -> None:
        """New settings (a config reload); the pins held stay."""
        self.ttl, self.max_sessions = ttl, max_sessions
        self._trim()

    def entry(self, key: str, now: float) -> Pin | None:
        """The pin held for ``key``, renewed for another ``ttl``; None when there is none."""
        pin = self._pins.get(key)
        if pin is None:
            return None
        if pin.expires <= now:
            del self._pins[key]
            return None
        pin.expires = now + self.ttl
        self._pins.move_to_end(key)
        return pin

    def put(self, key: str, deployment_id: str, now: float) -> None:
        self._pins[key] = Pin(deployment_id, now + self.ttl, now)
        self._pins.move_to_end(key)
        self._trim()

    def moved(self, key: str, deployment_id: str) -> None:
        """Another process moved ``key``: follow it, if this process holds it."""
        pin = self._pins.get(key)
        if pin is not None:
            pin.deployment_id = deployment_id

    def clear(self) -> None:
        self._pins.clear()

    def __len__(self) -> int:
        return len(self._pins)

    def _trim(self) -> None:
        while len(self._pins) > self.max_sessions:
            self._pins.popitem(last=False)

    # --- the router's PinStore ---------------------------------------------------

    async def lookup(self, key: str, now: float) -> str | None:
        pin = self.entry(key, now)
        return pin.deployment_id if pin is not None else None

    async def pin(self, key: str, deployment_id: str, replacing: str | None, now: float) -> str:
        self.put(key, deployment_id, now)
        return deployment_id


class FleetPins:
    def __init__(
        self,
        local: LocalPins,
        *,
        connection: RedisConnection,
        guard: RedisGuard,
        bus: EventBus,
        writer: BackgroundWriter,
        keys: KeySpace,
    ) -> None:
        self._local = local
        self._guard = guard
        self._writer = writer
        self._keys = keys
        self._origin = bus.origin
        self._channel = keys.channel
        self._client = connection.client
        self._pin_script = connection.script(PIN)
        bus.on(PinMoved, self._on_moved)
        # Moves published while this process was not listening are lost: forget every
        # pin, and read each again from Redis on its session's next request.
        bus.on_connected(self._forget)

    @property
    def local(self) -> LocalPins:
        return self._local

    def configure(self, ttl: float, max_sessions: int) -> None:
        self._local.configure(ttl, max_sessions)

    async def lookup(self, key: str, now: float) -> str | None:
        pin = self._local.entry(key, now)
        if pin is not None:
            if now - pin.renewed > self._local.ttl / 4:
                pin.renewed = now
                self._writer.submit(partial(self._renew, key))
            return pin.deployment_id
        try:
            raw = await self._guard.run(lambda: self._client.get(self._keys.pin(key)))
        except StateUnavailable:
            return None
        if not isinstance(raw, bytes):
            return None
        deployment_id = raw.decode()
        self._local.put(key, deployment_id, now)
        return deployment_id

    async def pin(self, key: str, deployment_id: str, replacing: str | None, now: float) -> str:
        """Pin ``key`` to ``deployment_id`` (moving it off ``replacing``), unless another
        process pinned it elsewhere first: the deployment pinned after the call."""
        self._local.put(key, deployment_id, now)
        try:
            raw = await self._guard.run(partial(self._run_pin, key, deployment_id, replacing or ""))
        except StateUnavailable:
            return deployment_id
        pinned = raw.decode() if isinstance(raw, bytes) else str(raw)
        if pinned != deployment_id:
            self._local.put(key, pinned, now)
        return pinned

    async def _run_pin(self, key: str, deployment_id: str, replacing: str) -> object:
        ttl_ms = max(1, int(self._local.ttl * 1000))
        return await self._pin_script(
            keys=[self._keys.pin(key)],
            args=[deployment_id, replacing, ttl_ms, self._channel, self._origin, key],
        )

    async def _renew(self, key: str) -> object:
        ttl_ms = max(1, int(self._local.ttl * 1000))
        return await self._client.pexpire(self._keys.pin(key), ttl_ms)

    def _on_moved(self, event: PinMoved) -> None:
        self._local.moved(event.key, event.deployment_id)

    async def _forget(self) -> None:
        self._local.clear()
