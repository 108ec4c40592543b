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
from gateway.state.connection import RedisConnection
from gateway.state.cooldowns import CoolingLike, FleetCooldowns, LocalCooldowns
from gateway.state.guard import RedisGuard
from gateway.state.keys import KeySpace
from gateway.state.kv import SharedKV
from gateway.state.limits import FleetLimits
from gateway.state.overrides import FleetOverrides
from gateway.state.pins import FleetPins, LocalPins
from gateway.state.settings import RedisSettings
from gateway.state.snapshots import FleetSnapshots
from gateway.state.writer import BackgroundWriter
from gateway.supervisor import Supervisor

log = logging.getLogger("gateway.state")

H = TypeVar("H")
C = TypeVar("C", bound=CoolingLike)

ABSENT = "absent"


class _Redis:
    """The Redis side, present only when a Redis is configured."""

    def __init__(self, settings: RedisSettings, origin: str, tasks: Supervisor) -> None:
        self.settings = settings
        self.keys = KeySpace(settings.key_prefix)
        self.connection = RedisConnection(settings)
        self.guard = RedisGuard(
            self.connection.ping,
            reset=self.connection.drop_connections,
            where=settings.where,
            budget_s=settings.budget_s,
            background_budget_s=settings.background_budget_s,
            open_after=settings.open_after,
            failure_window_s=settings.failure_window_s,
            close_after=settings.close_after,
            probe_interval_s=settings.probe_interval_s,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            tasks=tasks,
        )
        self.writer = BackgroundWriter(self.guard, tasks=tasks)
        self.bus = EventBus(
            origin,
            connection=self.connection,
            guard=self.guard,
            channel=self.keys.channel,
            tasks=tasks,
        )
        self.kv = SharedKV(self.connection, self.guard)
        self.limits = FleetLimits(
            connection=self.connection, guard=self.guard, writer=self.writer, keys=self.keys
        )


class SharedState:
    def __init__(self, settings: RedisSettings | None, *, tasks: Supervisor | None = None) -> None:
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self._tasks = tasks if tasks is not None else Supervisor()
        self._redis = _Redis(settings, self.origin, self._tasks) if settings is not None else None
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
    def guard(self) -> RedisGuard | None:
        return self._redis.guard if self._redis is not None else None

    @property
    def connection(self) -> RedisConnection | None:
        return self._redis.connection if self._redis is not None else None

    @property
    def keys(self) -> KeySpace | None:
        return self._redis.keys if self._redis is not None else None

    @property
    def kv(self) -> SharedKV | None:
        return self._redis.kv if self._redis is not None else None

    @property
    def writer(self) -> BackgroundWriter | None:
        """The queue of Redis writes the hot path hands off (None without Redis)."""
        return self._redis.writer if self._redis is not None else None

    @property
    def limits(self) -> FleetLimits | None:
        return self._redis.limits if self._redis is not None else None

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
