"""Where the shared Redis is and how the gateway treats it, resolved once at start-up.

The first source that names a Redis wins:

    REDIS_URL  >  router_settings.redis_url  >  router_settings.redis_host/port/password
               >  litellm_settings.cache_params.host/port/password (cache type redis)
               >  REDIS_HOST / REDIS_PORT / REDIS_PASSWORD in the environment

None of them: every shared protocol is served in process (a single node).
``rediss://`` speaks TLS; ``redis+cluster://`` (or ``rediss+cluster://``, or
``router_settings.redis_cluster: true``) talks to a Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from gateway.config.model import GatewayConfig

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
PLAIN_SCHEMES = {"redis", "rediss", "unix"}
DEFAULT_PORT = 6379

# The breaker's shape. Fixed, not settings: they only need to be "a few" and "about a second".
OPEN_AFTER_FAILURES = 3
FAILURE_WINDOW_S = 10.0
CLOSE_AFTER_PROBES = 2
PROBE_INTERVAL_S = 0.5
HEARTBEAT_INTERVAL_S = 1.0
# Work off the hot path (replication, reloads, probes) may take longer than a lookup.
BACKGROUND_BUDGET_S = 1.0


class RedisSettingsError(ValueError):
    """The Redis address cannot be used (bad scheme or port); the message names the source."""


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str  # carries the password: never log it, log ``where`` instead
    where: str  # scheme://host:port/db, without credentials
    source: str  # which setting named it
    cluster: bool
    pool_size: int
    budget_s: float  # the longest the hot path waits on one Redis call
    key_prefix: str
    background_budget_s: float = BACKGROUND_BUDGET_S
    open_after: int = OPEN_AFTER_FAILURES
    failure_window_s: float = FAILURE_WINDOW_S
    close_after: int = CLOSE_AFTER_PROBES
    probe_interval_s: float = PROBE_INTERVAL_S
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S


def redis_settings(config: GatewayConfig, env: Mapping[str, str]) -> RedisSettings | None:
    """The shared Redis, or None when nothing names one."""
    found = _find_url(config, env)
    if found is None:
        return None
    url, source = found
    router = config.file.router_settings
    scheme = urlsplit(url).scheme.lower()
    cluster = router.redis_cluster
    if scheme in CLUSTER_SCHEMES:
        cluster = True
        url = CLUSTER_SCHEMES[scheme] + url[len(scheme) :]
    elif scheme not in PLAIN_SCHEMES:
        raise RedisSettingsError(
            f"{source}: unsupported scheme {scheme!r}; expected redis://, rediss://, "
            "redis+cluster:// or rediss+cluster://"
        )
    try:
        urlsplit(url).port  # noqa: B018 - validates the port
    except ValueError:
        # urllib's message quotes the URL, password included: say it without it.
        raise RedisSettingsError(
            f"{source}: not a valid URL (host:port, with special characters in the "
            "password percent-encoded)"
        ) from None
    return RedisSettings(
        url=url,
        where=describe(url),
        source=source,
        cluster=cluster,
        pool_size=router.redis_pool_size,
        budget_s=router.redis_timeout_ms / 1000.0,
        key_prefix=router.redis_key_prefix,
    )


def _find_url(config: GatewayConfig, env: Mapping[str, str]) -> tuple[str, str] | None:
    if env.get("REDIS_URL"):
        return env["REDIS_URL"], "REDIS_URL"
    router = config.file.router_settings
    if router.redis_url is not None and router.redis_url.get_secret_value():
        return router.redis_url.get_secret_value(), "router_settings.redis_url"
    if router.redis_host:
        password = router.redis_password.get_secret_value() if router.redis_password else None
        return (
            build_url(router.redis_host, router.redis_port, password),
            "router_settings.redis_host",
        )
    settings = config.file.litellm_settings
    params = settings.cache_params
    if settings.cache and params.type == "redis" and params.host:
        password = params.password.get_secret_value() if params.password else None
        return (
            build_url(params.host, params.port, password),
            "litellm_settings.cache_params.host",
        )
    if env.get("REDIS_HOST"):
        port = env.get("REDIS_PORT")
        if port is not None and not port.isdigit():
            raise RedisSettingsError(f"REDIS_PORT: not a port number: {port!r}")
        return (
            build_url(env["REDIS_HOST"], int(port) if port else None, env.get("REDIS_PASSWORD")),
            "REDIS_HOST",
        )
    return None


def build_url(host: str, port: int | None, password: str | None) -> str:
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
    netloc = f"{netloc}:{port or DEFAULT_PORT}"
    if password:
        netloc = f":{quote(password, safe='')}@{netloc}"
    return f"redis://{netloc}"


def describe(url: str) -> str:
    """The URL without credentials, for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port or DEFAULT_PORT}" if parts.scheme != "unix" else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
