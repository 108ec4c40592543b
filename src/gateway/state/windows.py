"""Fixed one-minute request/token windows in this process: the single-node default.

Used for per-deployment rpm/tpm (the router) and per-key or per-team limits
(the key gate) when the fleet shares no Redis; ``limits.FleetLimits`` serves the
same calls fleet-wide.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_S = 60.0


@dataclass(slots=True)
class _Window:
    minute: int = -1
    requests: int = 0
    tokens: int = 0


class MinuteWindows:
    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    async def try_acquire(
        self, ident: str, rpm: int | None, tpm: int | None, now: float
    ) -> float | None:
        """Count one request; None when admitted, else seconds until the window resets."""
        window = self._current(ident, now)
        if (rpm is not None and window.requests >= rpm) or (
            tpm is not None and window.tokens >= tpm
        ):
            return WINDOW_S - (now % WINDOW_S)
        window.requests += 1
        return None

    def add_tokens(self, ident: str, tokens: int, now: float) -> None:
        self._current(ident, now).tokens += tokens

    def _current(self, ident: str, now: float) -> _Window:
        minute = int(now // WINDOW_S)
        window = self._windows.get(ident)
        if window is None:
            window = self._windows[ident] = _Window(minute)
        elif window.minute != minute:
            window.minute, window.requests, window.tokens = minute, 0, 0
        return window
