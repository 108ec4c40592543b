"""Durations and instants as callers write them: ``"30d"``, ``"1h"``, ISO 8601 times.

LiteLLM's units are accepted: ``s``, ``m`` (minutes), ``h``, ``d``, ``w`` and
``mo`` (taken as 30 days). A bare number is seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mo|s|m|h|d|w)?\s*$", re.IGNORECASE)
MAX_DURATION_S = 100 * 365 * 86400


class BadDuration(ValueError):
    pass


def duration_seconds(text: str) -> float:
    """``"30d"`` -> 2592000.0; ``BadDuration`` for anything else (or not positive)."""
    number, unit = duration_parts(text)
    seconds = number * UNITS[unit]
    if not 0 < seconds <= MAX_DURATION_S:
        raise BadDuration(f"{text!r} must be a positive duration of at most 100 years")
    return seconds


def duration_parts(text: str) -> tuple[float, str]:
    """``"30d"`` -> (30.0, "d"); a bare number is in seconds (unit ``"s"``)."""
    match = _DURATION.match(text)
    if match is None:
        raise BadDuration(
            f"{text!r} is not a duration; use a number and a unit: 30s, 15m, 1h, 30d, 2w or 1mo"
        )
    return float(match.group(1)), (match.group(2) or "s").lower()


def instant(text: str) -> float:
    """An ISO 8601 date or time (UTC when no offset is given), as epoch seconds."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadDuration(
            f"{text!r} is neither a duration (30d) nor an ISO 8601 time (2026-12-31T00:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
