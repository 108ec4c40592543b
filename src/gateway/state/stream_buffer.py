"""A Redis stream used as a durable buffer, with one consumer group and a writer lease.

Self-contained: it knows nothing of what the entries hold. Entries are added
with XADD (pipelined), read through the consumer group ``GROUP`` under one
shared consumer name (the lease decides who may read, so whoever holds it
inherits what the last holder read and never acknowledged), and removed with
XACK + XDEL once the reader has stored them. Every Redis failure leaves as the
builtin ``ConnectionError``, with no URL or password in its message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

log = logging.getLogger(__name__)

GROUP = "ledger-writers"
CONSUMER = "writer"
FIELD = b"r"
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 3.0

# Take the lease if free, or extend it if we hold it; 1 when we hold it afterwards.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisStreamBuffer:
    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            health_check_interval=30,
            decode_responses=False,
        )
        self.stream_key = f"{prefix}:ledger:stream"
        self.lease_key = f"{prefix}:ledger:writer-lease"
        self._lease = self._redis.register_script(_LEASE)
        self._release = self._redis.register_script(_RELEASE)
        self._group_ready = False

    async def add(self, entries: Sequence[bytes]) -> None:
        if not entries:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry in entries:
                    pipe.xadd(self.stream_key, {FIELD: entry})
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable("adding to", exc) from exc

    async def lease(self, owner: str, ttl_s: float) -> bool:
        try:
            held = await self._lease(keys=[self.lease_key], args=[owner, int(ttl_s * 1000)])
        except RedisError as exc:
            raise _unavailable("leasing", exc) from exc
        return bool(held)

    async def release(self, owner: str) -> None:
        try:
            await self._release(keys=[self.lease_key], args=[owner])
        except RedisError as exc:
            raise _unavailable("releasing", exc) from exc

    async def read(self, count: int, *, pending: bool) -> list[tuple[str, bytes]]:
        try:
            await self._ensure_group()
            try:
                reply = await self._read(count, pending)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream was deleted (a flushed Redis): recreate the group once.
                self._group_ready = False
                await self._ensure_group()
                reply = await self._read(count, pending)
        except RedisError as exc:
            raise _unavailable("reading", exc) from exc
        entries: list[tuple[str, bytes]] = []
        gone: list[bytes] = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                value = (fields or {}).get(FIELD)
                if value is None:
                    gone.append(entry_id)  # deleted after it was read: nothing to store
                else:
                    entries.append((_text(entry_id), value))
        if gone:
            await self.ack([_text(i) for i in gone])
        return entries

    async def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream_key, GROUP, *ids)
                pipe.xdel(self.stream_key, *ids)
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable("acknowledging", exc) from exc

    async def length(self) -> int:
        try:
            return int(await self._redis.xlen(self.stream_key))
        except RedisError as exc:
            raise _unavailable("measuring", exc) from exc

    async def close(self) -> None:
        await self._redis.aclose()

    async def _read(self, count: int, pending: bool) -> Any:
        return await self._redis.xreadgroup(
            GROUP, CONSUMER, {self.stream_key: "0" if pending else ">"}, count=count
        )

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From the start of the stream: entries added before the group existed count too.
            await self._redis.xgroup_create(self.stream_key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unavailable(doing: str, exc: RedisError) -> ConnectionError:
    return ConnectionError(f"Redis failed while {doing} the ledger stream: {type(exc).__name__}")
