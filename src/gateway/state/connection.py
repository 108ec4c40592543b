"""The Redis client: one pool per process, a plain server or a Cluster, TLS by URL.

redis-py's own retries are off: a failed call fails at once and the guard
decides what happens next, so no call outlives its budget inside the client.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from gateway.state.settings import RedisSettings

# Connecting may take longer than one call's budget (TLS handshakes); the guard
# still bounds what a request waits.
CONNECT_TIMEOUT_S = 2.0


class RedisConnection:
    """The client the guard protects. ``client`` is a ``Redis`` or a ``RedisCluster``."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.client: Redis | RedisCluster
        if settings.cluster:
            self.client = RedisCluster.from_url(
                settings.url,
                max_connections=settings.pool_size,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
            )
        else:
            pool = BlockingConnectionPool.from_url(
                settings.url,
                max_connections=settings.pool_size,
                # Waiting for a free connection counts against the call's budget.
                timeout=None,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
            )
            self.client = Redis.from_pool(pool)

    async def pubsub(self) -> PubSub:
        if isinstance(self.client, RedisCluster):
            # The cluster client learns its slots on first use; pub/sub alone never triggers it.
            await self.client.initialize()
        return self.client.pubsub()

    def script(self, source: str) -> AsyncScript:
        return self.client.register_script(source)

    async def ping(self) -> object:
        return await self.client.ping()

    async def drop_connections(self) -> None:
        """Close every pooled connection: after an outage each one would fail once."""
        if isinstance(self.client, RedisCluster):
            for node in self.client.get_nodes():
                await node.disconnect()
        else:
            await self.client.connection_pool.disconnect()

    async def close(self) -> None:
        await self.client.aclose()
