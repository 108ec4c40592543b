"""The cache key: a hash of the normalized request, scoped to the caller.

What makes two requests "the same": the operation, the model group they
resolve to, and every body field that shapes the answer (messages, prompt,
input, sampling parameters, tools, response format, ...). What does not:
``stream`` and ``stream_options`` (a cached answer is served either way),
``user`` (an end-user label), and the gateway's own fields, which are gone
from the body by the time the key is made. Keys are sorted, so field order
does not matter, and a field sent as ``null`` counts as not sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from gateway.providers.base import Operation

IGNORED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "cache"})


def scope_for(api_key: bytes | None) -> bytes:
    """A caller's scope: a hash of their key (never the key itself)."""
    return hashlib.sha256(api_key or b"").digest()


def cache_key(operation: Operation, group: str, body: dict[str, Any], scope: bytes) -> str:
    """Hex SHA-256 of the scope and the normalized request; ``scope`` is b"" when shared."""
    normalized = {
        name: value
        for name, value in body.items()
        if value is not None and name not in IGNORED_FIELDS
    }
    digest = hashlib.sha256(scope)
    digest.update(b"\x00")
    digest.update(orjson.dumps([operation.value, group, normalized], option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()
