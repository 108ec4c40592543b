"""Read how long an upstream asks us to wait (``retry-after``, ``retry-after-ms``)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, or None when the upstream said nothing usable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return _clamp(float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _clamp(when.timestamp() - time.time())


def _clamp(seconds: float) -> float | None:
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)
