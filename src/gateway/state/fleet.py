"""The fleet's side of shared state: one Redis, and what this process keeps on it.

Built once per process when a Redis is configured (``SharedState.fleet``), and handed
whole to what works on the fleet's counters (key slots, spend, deployment limits), so
none of them has to ask, part by part, whether there is a Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.state.bus import EventBus
from gateway.state.connection import RedisConnection
from gateway.state.guard import RedisGuard
from gateway.state.keys import KeySpace
from gateway.state.kv import SharedKV
from gateway.state.limits import FleetLimits
from gateway.state.settings import RedisSettings
from gateway.state.writer import BackgroundWriter
from gateway.supervisor import Supervisor


@dataclass(frozen=True, slots=True)
class Fleet:
    settings: RedisSettings
    keys: KeySpace
    connection: RedisConnection
    # Every call goes through the guard: a slow or absent Redis costs at most its budget.
    guard: RedisGuard
    # The queue of writes the hot path hands off.
    writer: BackgroundWriter
    bus: EventBus
    kv: SharedKV
    limits: FleetLimits


def connect_fleet(settings: RedisSettings, origin: str, tasks: Supervisor) -> Fleet:
    """The fleet's parts on the Redis ``settings`` names (connecting happens lazily)."""
    keys = KeySpace(settings.key_prefix)
    connection = RedisConnection(settings)
    guard = RedisGuard(
        connection.ping,
        reset=connection.drop_connections,
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
    writer = BackgroundWriter(guard, tasks=tasks)
    return Fleet(
        settings=settings,
        keys=keys,
        connection=connection,
        guard=guard,
        writer=writer,
        bus=EventBus(origin, connection=connection, guard=guard, channel=keys.channel, tasks=tasks),
        kv=SharedKV(connection, guard),
        limits=FleetLimits(connection=connection, guard=guard, writer=writer, keys=keys),
    )
