"""The request's own cache controls: the body's ``cache`` object, read and removed.

``{"no-cache": true}`` skips the lookup (the answer is still stored),
``{"no-store": true}`` does not store the answer, ``{"ttl": N}`` keeps it N
seconds, ``{"s-maxage": N}`` accepts only an answer at most N seconds old,
``{"namespace": "x"}`` keeps it apart from other namespaces,
``{"use-cache": true}`` opts in when the cache is ``mode: default_off``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest

FLAGS = ("no-cache", "no-store", "use-cache")
SECONDS = ("ttl", "s-maxage")
NAMESPACE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class CacheControls:
    no_cache: bool = False
    no_store: bool = False
    use_cache: bool | None = None
    ttl_s: float | None = None
    max_age_s: float | None = None
    namespace: str | None = None


NO_CONTROLS = CacheControls()


def pop_cache_controls(body: dict[str, Any]) -> CacheControls:
    """Take ``cache`` out of the body (it never reaches a provider) and read it."""
    raw = body.pop("cache", None)
    if raw is None:
        return NO_CONTROLS
    if not isinstance(raw, dict):
        raise InvalidRequest("Invalid 'cache': expected an object.", param="cache")
    for name, value in raw.items():
        if name in FLAGS:
            if not isinstance(value, bool):
                raise InvalidRequest(
                    f"Invalid 'cache.{name}': expected a boolean.", param=f"cache.{name}"
                )
        elif name in SECONDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidRequest(
                    f"Invalid 'cache.{name}': expected a number of seconds (>= 0).",
                    param=f"cache.{name}",
                )
        elif name == "namespace":
            if not isinstance(value, str) or not NAMESPACE.match(value):
                raise InvalidRequest(
                    "Invalid 'cache.namespace': expected 1-64 letters, digits or _.:-",
                    param="cache.namespace",
                )
        else:
            raise InvalidRequest(
                f"Unknown 'cache.{name}': expected no-cache, no-store, ttl, s-maxage, "
                "namespace or use-cache.",
                param=f"cache.{name}",
            )
    ttl = raw.get("ttl")
    max_age = raw.get("s-maxage")
    return CacheControls(
        no_cache=raw.get("no-cache", False),
        no_store=raw.get("no-store", False),
        use_cache=raw.get("use-cache"),
        ttl_s=float(ttl) if ttl is not None else None,
        max_age_s=float(max_age) if max_age is not None else None,
        namespace=raw.get("namespace"),
    )
