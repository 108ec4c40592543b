"""The response cache's settings: ``litellm_settings.cache`` and ``cache_params``."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.model import GatewayConfig
from gateway.providers.base import Operation

DEFAULT_TTL_S = 600.0
DEFAULT_NAMESPACE = "default"
# The longest a request's own ``cache.ttl`` may keep an answer.
MAX_TTL_S = 30 * 86400.0
SUPPORTED_TYPES = ("local", "redis")

# LiteLLM's call type names (``supported_call_types``) -> the operation they mean.
CALL_TYPES = {
    "completion": Operation.CHAT,
    "acompletion": Operation.CHAT,
    "text_completion": Operation.COMPLETION,
    "atext_completion": Operation.COMPLETION,
    "embedding": Operation.EMBEDDING,
    "aembedding": Operation.EMBEDDING,
    "responses": Operation.RESPONSES,
    "aresponses": Operation.RESPONSES,
}


@dataclass(frozen=True, slots=True)
class CacheSettings:
    kind: str  # "local" or "redis"
    ttl_s: float
    namespace: str
    shared: bool  # one answer for every API key
    max_entries: int  # the local cache's bound
    operations: frozenset[Operation]
    default_on: bool  # False: only requests with ``cache: {"use-cache": true}``


def cache_settings(config: GatewayConfig) -> CacheSettings | None:
    """The cache's settings, or None when ``litellm_settings.cache`` is off."""
    litellm = config.file.litellm_settings
    if not litellm.cache:
        return None
    params = litellm.cache_params
    if params.supported_call_types is None:
        operations = frozenset(Operation)
    else:
        operations = frozenset(
            CALL_TYPES[name] for name in params.supported_call_types if name in CALL_TYPES
        )
    return CacheSettings(
        kind=params.type if params.type in SUPPORTED_TYPES else "local",
        ttl_s=params.ttl or DEFAULT_TTL_S,
        namespace=params.namespace or DEFAULT_NAMESPACE,
        shared=params.shared,
        max_entries=params.max_entries,
        operations=operations,
        default_on=params.mode == "default_on",
    )
