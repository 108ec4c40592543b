"""Per-deployment ``rpm`` / ``tpm`` limits, in fixed one-minute windows.

A deployment at its limit is skipped by the router; no request is sent past a
limit. Counters go through ``UsageLimits``: in process (``state.windows``), on Redis
when the fleet shares state (asynchronous, since a shared store may have to ask Redis;
it does so once per lease of permits, not per request).
"""

from __future__ import annotations

from typing import Protocol


class UsageLimits(Protocol):
    async def try_acquire(
        self, deployment_id: str, rpm: int | None, tpm: int | None, now: float
    ) -> float | None:
        """Count one request; None when admitted, else seconds until the window resets."""

    def add_tokens(self, deployment_id: str, tokens: int, now: float) -> None:
        """Charge tokens used by a finished request to the current window."""
