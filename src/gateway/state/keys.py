"""Every Redis key and channel the gateway uses, in one place, under one prefix.

The coordination keys that one Lua script touches together (cooldowns,
failure counts, overrides) share the hash tag ``{prefix}`` so that a Redis
Cluster keeps them in one slot. Counters and cache entries carry no tag and
spread over the cluster.
"""

from __future__ import annotations


class KeySpace:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        tag = "{" + prefix + "}"
        self._tag = tag
        self.channel = f"{prefix}:events"
        self.cooldowns = f"{tag}:cooldowns"
        self.overrides = f"{tag}:overrides"
        self.cache_prefix = f"{prefix}:cache:"
        # Each process's routing load (in flight, latency, usage): one field per process.
        self.routing_load = f"{prefix}:routing:load"

    def failures(self, deployment_id: str) -> str:
        return f"{self._tag}:failures:{deployment_id}"

    def usage(self, deployment_id: str, minute: int) -> str:
        return f"{self.prefix}:usage:{deployment_id}:{minute}"

    def pin(self, key: str) -> str:
        return f"{self.prefix}:pin:{key}"

    def alert(self, key: str) -> str:
        """An alert sent within its TTL (fleet-wide deduplication)."""
        return f"{self.prefix}:alert:{key}"

    def cache(self, namespace: str, key: str) -> str:
        return f"{self.cache_prefix}{namespace}:{key}"
