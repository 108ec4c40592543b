"""Rate limits count per wall-clock minute: bursts in tests must not straddle one."""

from __future__ import annotations

import time

MINUTE_MARGIN_S = 20.0


def wait_for_room_in_the_minute(margin_s: float = MINUTE_MARGIN_S) -> int:
    """Wait for the next minute when fewer than ``margin_s`` seconds are left; the minute."""
    left = 60.0 - time.time() % 60.0
    if left < margin_s:
        time.sleep(left + 0.2)
    return current_minute()


def current_minute() -> int:
    return int(time.time() // 60)
