"""``check-config --connect``: can this machine reach what the config names?

Only TCP reachability is tested, so no database or Redis client is needed here
and nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

from gateway.config.model import GatewayConfig
from gateway.config.settings import EnvSettings
from gateway.providers.registry import upstream_base

CONNECT_TIMEOUT_S = 3.0
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6379,
}


async def check_connectivity(
    config: GatewayConfig, settings: EnvSettings, env: Mapping[str, str]
) -> list[str]:
    targets: dict[str, str] = {}
    for spec in config.deployments:
        # Every provider's address, as its requests would go (Anthropic, Gemini, Vertex AI,
        # Azure and Bedrock as well as the OpenAI-compatible ones).
        base = upstream_base(spec, env)
        if base:
            targets.setdefault(_endpoint(base), f"{spec.path} ({spec.provider})")
    if settings.database_url is not None:
        targets.setdefault(_endpoint(settings.database_url.get_secret_value()), "DATABASE_URL")
    if settings.redis_url is not None:
        targets.setdefault(_endpoint(settings.redis_url.get_secret_value()), "REDIS_URL")
    results = await asyncio.gather(*(_try(endpoint) for endpoint in targets))
    return [
        f"{who}: cannot connect to {endpoint}: {problem}"
        for (endpoint, who), problem in zip(targets.items(), results, strict=True)
        if problem
    ]


def _endpoint(url: str) -> str:
    """host:port of a URL, with the scheme's default port; credentials never included."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+")[0], 80)
    return f"{parts.hostname}:{port}"


async def _try(endpoint: str) -> str | None:
    host, _, port = endpoint.rpartition(":")
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _, writer = await asyncio.open_connection(host, int(port))
    except TimeoutError:
        return f"no answer within {CONNECT_TIMEOUT_S:g}s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    writer.close()
    return None
