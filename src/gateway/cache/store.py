"""Where cached answers live: in this process (bounded LRU with TTL) or on the shared Redis.

A value is ``stored_at`` (8 bytes, epoch seconds) followed by the answer's
JSON. A Redis that is down or slower than the budget is a miss, never a wait
and never an error: the guard bounds every call.
"""

from __future__ import annotations

import struct
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.state.guard import StateUnavailable
from gateway.state.keys import KeySpace
from gateway.state.kv import SharedKV

_STAMP = struct.Struct("!d")


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes  # the answer's JSON
    stored_at: float  # epoch seconds

    def encode(self) -> bytes:
        return _STAMP.pack(self.stored_at) + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Entry | None:
        if len(raw) <= _STAMP.size:
            return None
        (stored_at,) = _STAMP.unpack_from(raw)
        return cls(raw[_STAMP.size :], stored_at)


class CacheStore(Protocol):
    kind: str

    async def get(self, namespace: str, key: str) -> Entry | None: ...

    async def put(self, namespace: str, key: str, entry: Entry, ttl_s: float) -> None: ...

    async def delete(self, namespace: str, keys: Iterable[str]) -> int: ...

    async def flush(self, namespace: str | None) -> int:
        """Drop a namespace's answers, or every answer (None)."""

    async def ping(self) -> bool: ...


class LocalStore:
    """An in-process LRU: at most ``max_entries`` answers, each until its TTL ends."""

    kind = "local"

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, Entry]] = OrderedDict()

    async def get(self, namespace: str, key: str) -> Entry | None:
        slot = (namespace, key)
        held = self._entries.get(slot)
        if held is None:
            return None
        expires_at, entry = held
        if expires_at <= time.time():
            del self._entries[slot]
            return None
        self._entries.move_to_end(slot)
        return entry

    async def put(self, namespace: str, key: str, entry: Entry, ttl_s: float) -> None:
        self.put_now(namespace, key, entry, ttl_s)

    def put_now(self, namespace: str, key: str, entry: Entry, ttl_s: float) -> None:
        slot = (namespace, key)
        self._entries[slot] = (time.time() + ttl_s, entry)
        self._entries.move_to_end(slot)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def delete(self, namespace: str, keys: Iterable[str]) -> int:
        return sum(1 for key in keys if self._entries.pop((namespace, key), None) is not None)

    async def flush(self, namespace: str | None) -> int:
        if namespace is None:
            return self.drop_all()
        doomed = [slot for slot in self._entries if slot[0] == namespace]
        for slot in doomed:
            del self._entries[slot]
        return len(doomed)

    def drop_all(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        return count

    def drop_keys(self, keys: Iterable[str]) -> int:
        """Drop ``keys`` in every namespace (another process's delete names keys only)."""
        wanted = set(keys)
        doomed = [slot for slot in self._entries if slot[1] in wanted]
        for slot in doomed:
            del self._entries[slot]
        return len(doomed)

    async def ping(self) -> bool:
        return True


class RedisStore:
    """Answers on the shared Redis, under ``<prefix>:cache:<namespace>:<key>``."""

    kind = "redis"

    def __init__(self, kv: SharedKV, keys: KeySpace) -> None:
        self._kv = kv
        self._keys = keys

    async def get(self, namespace: str, key: str) -> Entry | None:
        try:
            raw = await self._kv.get(self._keys.cache(namespace, key))
        except StateUnavailable:
            return None
        return Entry.decode(raw) if raw is not None else None

    async def put(self, namespace: str, key: str, entry: Entry, ttl_s: float) -> None:
        try:
            await self._kv.set(self._keys.cache(namespace, key), entry.encode(), ttl_s)
        except StateUnavailable:
            return

    async def delete(self, namespace: str, keys: Iterable[str]) -> int:
        return await self._kv.delete(self._keys.cache(namespace, key) for key in keys)

    async def flush(self, namespace: str | None) -> int:
        if namespace is None:
            return await self._kv.delete_prefix(self._keys.cache_prefix)
        return await self._kv.delete_prefix(self._keys.cache(namespace, ""))

    async def ping(self) -> bool:
        return await self._kv.ping()
