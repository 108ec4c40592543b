"""Postgres connection pools for the ledger, and what a Postgres failure means.

Idle connections are closed after ``IDLE_LIFETIME_S`` (managed Postgres and
NAT gateways drop idle TCP silently; a recycled connection is never found dead
on use), and the server sends TCP keepalives so a half-open connection is
noticed. A connection that fails is closed by the pool and replaced on the next
acquire; asyncpg never hands one connection to two users at once.
"""

from __future__ import annotations

import asyncpg

from gateway.ledger.store import RecordsRejected, StoreUnavailable

IDLE_LIFETIME_S = 60.0
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0
KEEPALIVES = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}
# SQLSTATE classes meaning the data itself is wrong (22 data exception, 23 integrity).
_REJECTING_CLASSES = ("22", "23")
_NO_PARTITION = "no partition of relation"


async def create_pool(
    url: str,
    *,
    max_size: int,
    application_name: str,
    statement_timeout_s: float | None = None,
) -> asyncpg.Pool:
    """A lazy pool: nothing connects until the first acquire, so a down database never
    stops the gateway from starting."""
    settings = {"application_name": application_name, **KEEPALIVES}
    if statement_timeout_s is not None:
        settings["statement_timeout"] = str(int(statement_timeout_s * 1000))
    return await asyncpg.create_pool(
        url,
        min_size=0,
        max_size=max_size,
        max_inactive_connection_lifetime=IDLE_LIFETIME_S,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=COMMAND_TIMEOUT_S,
        server_settings=settings,
    )


def is_rejection(exc: BaseException) -> bool:
    """True when retrying the same rows cannot succeed."""
    if not isinstance(exc, asyncpg.PostgresError):
        return False
    state = exc.sqlstate or ""
    if _NO_PARTITION in str(exc):
        # A day's partition vanished (retention in another process): recreate and retry.
        return False
    return state.startswith(_REJECTING_CLASSES)


def translate(exc: BaseException, doing: str) -> StoreUnavailable | RecordsRejected:
    """A Postgres or network failure as one of the store's two errors (no secrets in it)."""
    reason = f"{type(exc).__name__}: {exc}"[:300]
    if is_rejection(exc):
        return RecordsRejected(f"Postgres rejected the rows while {doing}: {reason}")
    return StoreUnavailable(f"Postgres unavailable while {doing}: {reason}")


# What a failed call against Postgres can raise: asyncpg's errors, the network's, timeouts.
FAILURES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
