"""Operators' fallback overrides, shared by the fleet: the router's ``FallbackOverrides``.

The router reads a local view (a dict lookup, no I/O). Writes (the admin API)
go to a Redis hash and are published in the same Lua call, so every process
updates its view within milliseconds; each (re)subscribe reloads the whole
hash, so a process that missed messages catches up. An override may expire:
past ``expires_at`` it is ignored everywhere, with no message needed.
Without Redis the view is the store (one process).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.state.bus import EventBus
from gateway.state.connection import RedisConnection
from gateway.state.events import OverrideDeleted, OverrideSet, encode
from gateway.state.guard import RedisGuard
from gateway.state.keys import KeySpace
from gateway.state.scripts import PUT_OVERRIDE


@dataclass(frozen=True, slots=True)
class Override:
    group: str
    # Send all of ``group``'s traffic to this group instead.
    redirect_to: str | None = None
    # Replace ``group``'s fallback chain with this one.
    fallbacks: tuple[str, ...] | None = None
    # Epoch seconds; None: until deleted.
    expires_at: float | None = None

    def live(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "redirect_to": self.redirect_to,
                "fallbacks": list(self.fallbacks) if self.fallbacks is not None else None,
                "expires_at": self.expires_at,
            }
        )


class FleetOverrides:
    def __init__(
        self,
        bus: EventBus,
        *,
        connection: RedisConnection | None = None,
        guard: RedisGuard | None = None,
        keys: KeySpace | None = None,
    ) -> None:
        self._bus = bus
        self._guard = guard
        self._keys = keys
        self._client = connection.client if connection is not None else None
        self._put = connection.script(PUT_OVERRIDE) if connection is not None else None
        self._view: dict[str, Override] = {}
        bus.on(OverrideSet, self._on_set)
        bus.on(OverrideDeleted, self._on_deleted)
        if connection is not None:
            bus.on_connected(self.reload)

    # --- the router's side (synchronous) ----------------------------------------------

    def redirect(self, group: str) -> str | None:
        override = self._view.get(group)
        if override is None or not override.live(time.time()):
            return None
        return override.redirect_to

    def fallbacks(self, group: str) -> tuple[str, ...] | None:
        override = self._view.get(group)
        if override is None or not override.live(time.time()):
            return None
        return override.fallbacks

    # --- the admin side -----------------------------------------------------------------

    async def set(self, override: Override) -> None:
        """Store ``override`` for the fleet (``StateUnavailable`` when Redis cannot take it)."""
        event = OverrideSet(
            override.group, override.redirect_to, override.fallbacks, override.expires_at
        )
        await self._write(override.group, override.to_json(), event)

    async def delete(self, group: str) -> bool:
        """Remove ``group``'s override; False when there was none here."""
        existed = group in self._view
        await self._write(group, b"", OverrideDeleted(group))
        return existed

    async def list(self) -> list[Override]:
        now = time.time()
        return [o for o in self._view.values() if o.live(now)]

    async def reload(self) -> None:
        """Replace the local view with what Redis holds."""
        client, guard, keys = self._client, self._guard, self._keys
        if client is None or guard is None or keys is None:
            return
        held = await guard.run(lambda: client.hgetall(keys.overrides), background=True)
        view: dict[str, Override] = {}
        for raw_group, raw in held.items():
            group = raw_group.decode() if isinstance(raw_group, bytes) else str(raw_group)
            override = _parse(group, raw)
            if override is not None:
                view[group] = override
        self._view = view

    async def _write(self, group: str, stored: bytes, event: OverrideSet | OverrideDeleted) -> None:
        put, guard, keys = self._put, self._guard, self._keys
        if put is None or guard is None or keys is None:
            self._bus.deliver(event)
            return
        message = encode(event, self._bus.origin)
        await guard.run(
            lambda: put(keys=[keys.overrides], args=[group, stored, keys.channel, message]),
            background=True,
        )
        self._bus.deliver(event)

    def _on_set(self, event: OverrideSet) -> None:
        self._view[event.group] = Override(
            event.group, event.redirect_to, event.fallbacks, event.expires_at
        )

    def _on_deleted(self, event: OverrideDeleted) -> None:
        self._view.pop(event.group, None)


def _parse(group: str, raw: Any) -> Override | None:
    try:
        data = orjson.loads(raw)
        redirect = data.get("redirect_to")
        fallbacks = data.get("fallbacks")
        expires = data.get("expires_at")
        return Override(
            group,
            str(redirect) if redirect is not None else None,
            tuple(str(f) for f in fallbacks) if fallbacks is not None else None,
            float(expires) if expires is not None else None,
        )
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None
