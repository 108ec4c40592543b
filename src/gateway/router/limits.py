"""Per-deployment ``rpm`` / ``tpm`` limits, in fixed one-minute windows.

A deployment at its limit is skipped by the router; no request is sent past a
limit. Counters go through ``UsageLimits``: in process here, on Redis when the
fleet shares state (asynchronous, since a shared store may have to ask Redis;
it does so once per lease of permits, not per request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

WINDOW_S = 60.0


class UsageLimits(Protocol):
    async def try_acquire(
        self, deployment_id: str, rpm: int | None, tpm: int | None, now: float
    ) -> float | None:
        """Count one request; None when admitted, else seconds until the window resets."""

    def add_tokens(self, deployment_id: str, tokens: int, now: float) -> None:
        """Charge tokens used by a finished request to the current window."""


@dataclass(slots=True)
class _Window:
    minute: int = -1
    requests: int = 0
    tokens: int = 0


class InProcessLimits:
    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    async def try_acquire(
        self, deployment_id: str, rpm: int | None, tpm: int | None, now: float
    ) -> float | None:
        window = self._current(deployment_id, now)
        if (rpm is not None and window.requests >= rpm) or (
            tpm is not None and window.tokens >= tpm
        ):
            return WINDOW_S - (now % WINDOW_S)
        window.requests += 1
        return None

    def add_tokens(self, deployment_id: str, tokens: int, now: float) -> None:
        self._current(deployment_id, now).tokens += tokens

    def _current(self, deployment_id: str, now: float) -> _Window:
        minute = int(now // WINDOW_S)
        window = self._windows.get(deployment_id)
        if window is None:
            window = self._windows[deployment_id] = _Window(minute)
        elif window.minute != minute:
            window.minute, window.requests, window.tokens = minute, 0, 0
        return window
