"""Everything the fleet shares, built once per process: on Redis when one is configured.

``SharedState`` owns the Redis client, the guard, the write queue, the event
bus and the fleet-wide stores. Without Redis it still offers the same bus and
overrides, served in process, and no fleet cooldowns or limits (the router's
in-process ones are then the whole truth).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.state.bus import EventBus
from gateway.state.cooldowns import CoolingLike, FleetCooldowns, LocalCooldowns
from gateway.state.fleet import Fleet, connect_fleet
from gateway.state.overrides import FleetOverrides
from gateway.state.pins import FleetPins, LocalPins
from gateway.state.settings import RedisSettings
from gateway.state.snapshots import FleetSnapshots
from gateway.supervisor import Supervisor

log = logging.getLogger("gateway.state")

H = TypeVar("H")
C = TypeVar("C", bound=CoolingLike)

ABSENT = "absent"


class SharedState:
    def __init__(self, settings: RedisSettings | None, *, tasks: Supervisor | None = None) -> None:
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._tasks = tasks if tasks is not None else Supervisor()
        self._redis: Fleet | None = (
            connect_fleet(settings, self.origin, self._tasks) if settings is not None else None
        )
        redis = self._redis
        self._snapshots: FleetSnapshots | None = None
        self._started = False
        self.bus = redis.bus if redis is not None else EventBus(self.origin)
        self.overrides = FleetOverrides(
            self.bus,
            connection=redis.connection if redis else None,
            guard=redis.guard if redis else None,
            keys=redis.keys if redis else None,
        )

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    @property
    def status(self) -> str:
        """``ok``, ``degraded`` or ``down`` for the Redis; ``absent`` without one."""
        return self._redis.guard.status.value if self._redis is not None else ABSENT

    @property
    def fleet(self) -> Fleet | None:
        """The Redis side (None without a Redis: everything is in process)."""
        return self._redis

    def share_cooldowns(self, local: LocalCooldowns[H, C]) -> FleetCooldowns[H, C] | None:
        """``local`` replicated across the fleet, or None without Redis (use ``local`` alone).

        Call it once per process: the result subscribes to the fleet's cooldowns.
        """
        redis = self._redis
        if redis is None:
            return None
        return FleetCooldowns(
            local,
            connection=redis.connection,
            guard=redis.guard,
            bus=redis.bus,
            writer=redis.writer,
            keys=redis.keys,
        )

    def share_pins(self, local: LocalPins) -> FleetPins | None:
        """Session pins kept across the fleet, or None without Redis (use ``local`` alone).

        Call it once per process: the result follows the fleet's moves.
        """
        redis = self._redis
        if redis is None:
            return None
        return FleetPins(
            local,
            connection=redis.connection,
            guard=redis.guard,
            bus=redis.bus,
            writer=redis.writer,
            keys=redis.keys,
        )

    def share_routing_load(
        self,
        collect: Callable[[], dict[str, Any] | None],
        absorb: Callable[[list[dict[str, Any]]], None],
    ) -> bool:
        """Exchange routing load snapshots with the fleet (once per process); False
        without Redis."""
        redis = self._redis
        if redis is None:
            return False
        if self._snapshots is None:
            self._snapshots = FleetSnapshots(
                connection=redis.connection,
                guard=redis.guard,
                keys=redis.keys,
                origin=self.origin,
                collect=collect,
                absorb=absorb,
                tasks=self._tasks,
            )
            if self._started:
                self._snapshots.start()
        return True

    async def start(self) -> None:
        """Start the background tasks; wait (briefly) for the first subscription and reload."""
        redis = self._redis
        if redis is None:
            log.info("shared state in process (no Redis configured)")
            return
        self._started = True
        if self._snapshots is not None:
            self._snapshots.start()
        redis.guard.start()
        redis.writer.start()
        redis.bus.start()
        # Serve with the fleet's state from the first request when Redis answers; when it
        # does not, start at once on local state (the listener keeps trying).
        waits = [
            asyncio.create_task(redis.bus.subscribed.wait()),
            asyncio.create_task(redis.guard.wait_opened()),
        ]
        await asyncio.wait(
            waits,
            timeout=redis.settings.background_budget_s * 2,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for wait in waits:
            wait.cancel()
        log.info(
            "shared state on redis",
            extra={
                "redis": redis.settings.where,
                "source": redis.settings.source,
                "cluster": redis.settings.cluster,
                "key_prefix": redis.settings.key_prefix,
                "redis_status": self.status,
            },
        )

    async def stop(self) -> None:
        redis = self._redis
        if redis is None:
            return
        if self._snapshots is not None:
            await self._snapshots.stop()
        await redis.bus.stop()
        await redis.writer.stop()
        await redis.guard.stop()
        with contextlib.suppress(Exception):
            await redis.connection.close()
