"""Plain keys and values on the shared Redis (the response cache's storage), through the guard."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.state.connection import RedisConnection
from gateway.state.guard import RedisGuard

SCAN_BATCH = 500
# Deleting a whole namespace walks the keyspace: an admin action, allowed this long.
FLUSH_BUDGET_S = 30.0


class SharedKV:
    def __init__(self, connection: RedisConnection, guard: RedisGuard) -> None:
        self._client = connection.client
        self._guard = guard

    async def get(self, key: str) -> bytes | None:
        """On the hot path: within the short budget, else ``StateUnavailable``."""
        value = await self._guard.run(lambda: self._client.get(key))
        # The client never decodes responses, so a value is bytes.
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        ttl_ms = max(1, int(ttl_s * 1000))
        await self._guard.run(lambda: self._client.set(key, value, px=ttl_ms), background=True)

    async def claim(self, key: str, ttl_s: float) -> bool:
        """Take ``key`` for ``ttl_s`` if no one holds it (``SET NX``): True when taken here."""
        ttl_ms = max(1, int(ttl_s * 1000))
        taken = await self._guard.run(
            lambda: self._client.set(key, b"1", px=ttl_ms, nx=True), background=True
        )
        return bool(taken)

    async def delete(self, keys: Iterable[str]) -> int:
        names = list(keys)
        if not names:
            return 0
        deleted = await self._guard.run(lambda: self._client.unlink(*names), background=True)
        return int(deleted)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (no glob characters in it)."""
        return await self._guard.run(lambda: self._delete_matching(prefix), budget_s=FLUSH_BUDGET_S)

    async def _delete_matching(self, prefix: str) -> int:
        deleted = 0
        batch: list[bytes | str] = []
        async for key in self._client.scan_iter(match=prefix + "*", count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                deleted += int(await self._client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self._client.unlink(*batch))
        return deleted

    async def ping(self) -> bool:
        return bool(await self._guard.run(self._client.ping, background=True))
