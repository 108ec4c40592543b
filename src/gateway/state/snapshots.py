"""Load figures the fleet shares for routing: each process's snapshot, a few times a second.

Least-busy, latency and usage routing read the fleet's load. Sending every
request's start and end to Redis would put a round trip on the hot path;
instead each process, every ``INTERVAL_S``, writes its own snapshot (one JSON
field of one hash, named by the process) and reads everyone's, in one
pipelined round trip off the hot path. A process that stops writing drops out
after ``STALE_S``. When Redis is away, each process routes on its own figures
(the single-node behaviour) until it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from gateway.state.connection import RedisConnection
from gateway.state.guard import RedisGuard, StateUnavailable
from gateway.state.keys import KeySpace
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.state")

INTERVAL_S = 0.25
STALE_S = 5.0
KEY_TTL_S = 60


class FleetSnapshots:
    def __init__(
        self,
        *,
        connection: RedisConnection,
        guard: RedisGuard,
        keys: KeySpace,
        origin: str,
        collect: Callable[[], dict[str, Any] | None],
        absorb: Callable[[list[dict[str, Any]]], None],
        interval_s: float = INTERVAL_S,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._client = connection.client
        self._guard = guard
        self._key = keys.routing_load
        self._origin = origin
        self._collect = collect
        self._absorb = absorb
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = self._tasks.spawn(self._run(), name="routing-snapshots")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        with contextlib.suppress(Exception):
            await self._guard.run(
                partial_hdel(self._client, self._key, self._origin), background=True
            )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not self._guard.usable:
                self._absorb([])  # routing on this process's own figures meanwhile
                continue
            try:
                await self.exchange()
            except StateUnavailable:
                self._absorb([])
            except Exception:
                log.exception("routing snapshot exchange failed")

    async def exchange(self) -> None:
        """Write this process's snapshot and take in everyone else's (one round trip)."""
        now = time.time()
        load = self._collect()
        if load is None:
            return  # nothing in the config reads the fleet's load now
        mine = orjson.dumps({"at": now, "load": load})

        async def round_trip() -> Any:
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(self._key, self._origin, mine)
            pipe.expire(self._key, KEY_TTL_S)
            pipe.hgetall(self._key)
            return await pipe.execute()

        *_, fields = await self._guard.run(round_trip, background=True)
        others: list[dict[str, Any]] = []
        stale: list[Any] = []
        for origin, raw in fields.items():
            name = origin.decode() if isinstance(origin, bytes) else origin
            if name == self._origin:
                continue
            try:
                snapshot = orjson.loads(raw)
                fresh = now - float(snapshot["at"]) <= STALE_S
                load = snapshot["load"]
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                stale.append(origin)
                continue
            if not fresh:
                stale.append(origin)
            elif isinstance(load, dict):
                others.append(load)
        self._absorb(others)
        if stale:
            await self._guard.run(partial_hdel(self._client, self._key, *stale), background=True)


def partial_hdel(client: Any, key: str, *fields: Any) -> Callable[[], Any]:
    async def hdel() -> Any:
        return await client.hdel(key, *fields)

    return hdel
