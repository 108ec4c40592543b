"""How the ledger waits: a short retry inside one flush, a growing pause between flushes.

A flush retries a store that is briefly unavailable (a dropped connection, a
restart in progress) a few times within ``FLUSH_RETRY_S``. When that is not
enough, the writer keeps the records and pauses before the next attempt, the
pause doubling up to ``MAX_PAUSE_S``, so a database that is down is probed,
not hammered.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from gateway.ledger.store import StoreUnavailable

T = TypeVar("T")
FLUSH_RETRY_S = 3.0
FLUSH_ATTEMPTS = 4
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0


async def with_retries(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt``, retrying ``StoreUnavailable`` briefly with jittered backoff."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(StoreUnavailable),
        wait=wait_exponential_jitter(initial=0.1, max=1.0),
        stop=stop_after_attempt(FLUSH_ATTEMPTS) | stop_after_delay(FLUSH_RETRY_S),
        reraise=True,
    )
    async for try_ in retrying:
        with try_:
            return await attempt()
    raise AssertionError("tenacity ended without a result")  # pragma: no cover


def pause_after(failures: int) -> float:
    """Seconds to wait before the next flush after ``failures`` failed ones in a row."""
    base = min(MAX_PAUSE_S, FIRST_PAUSE_S * 2.0 ** max(0, failures - 1))
    return base * random.uniform(0.8, 1.2)
