"""Pooled HTTP clients to upstreams: one keep-alive client per origin.

aiohttp is used for upstream calls because, on this class of machine, httpx's
default transport costs about five times more CPU per request under
concurrency (see the README's performance section). aiohttp is imported here
and in the provider modules only; nothing above ``providers`` sees its types.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp

from gateway.errors import UpstreamConnectionError

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 30.0


class UpstreamPool:
    """Owns one ``aiohttp.ClientSession`` per upstream origin for the process's life."""

    def __init__(self, *, max_connections_per_origin: int = 1000) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit = max_connections_per_origin

    def session_for(self, base_url: str) -> aiohttp.ClientSession:
        origin = _origin(base_url)
        session = self._sessions.get(origin)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self._limit,
                keepalive_timeout=KEEPALIVE_S,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
                auto_decompress=True,
                # Upstream cookies must never leak between callers.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[origin] = session
        return session

    async def post_json(
        self, url: str, payload: bytes, headers: dict[str, str], limit_s: float
    ) -> int:
        """POST a JSON body (webhooks and the like); the status, or UpstreamConnectionError."""
        session = self.session_for(url)
        try:
            async with asyncio.timeout(limit_s):
                async with session.post(
                    url, data=payload, headers={"Content-Type": "application/json", **headers}
                ) as response:
                    await response.read()
                    return response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamConnectionError(
                f"could not reach {host_of(url)} ({type(exc).__name__})"
            ) from exc

    async def close(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def host_of(url: str | None) -> str | None:
    """The host (and port) of an upstream URL, for logs and the ledger."""
    if not url:
        return None
    return urlsplit(url).netloc or None
