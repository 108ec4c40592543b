"""A live progress line on stderr, redrawn in place while the load test runs."""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from gateway.loadtest.client import Progress

REDRAW_S = 0.5
BAR_WIDTH = 24


def progress_line(progress: Progress, target: int | None, duration: float | None) -> str:
    """``[#####-----]  42%  12.3s  1,234 done  5 errors  100.3 req/s  64 in flight``."""
    elapsed = max(0.0, time.monotonic() - progress.started_at)
    if target:
        share = progress.done / target
    elif duration:
        share = elapsed / duration
    else:
        share = 0.0
    share = min(1.0, share)
    filled = int(share * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    rate = progress.done / elapsed if elapsed > 0 else 0.0
    return (
        f"[{bar}] {share:4.0%}  {elapsed:6.1f}s  {progress.done:,} done  "
        f"{progress.errors:,} errors  {rate:,.1f} req/s  "
        f"{progress.sent - progress.done} in flight"
    )


async def show(progress: Progress, target: int | None, duration: float | None, out: TextIO) -> None:
    """Redraw until cancelled; the caller cancels it when the run ends."""
    try:
        while True:
            out.write("\r" + progress_line(progress, target, duration) + "\x1b[K")
            out.flush()
            await asyncio.sleep(REDRAW_S)
    finally:
        out.write("\r" + progress_line(progress, target, duration) + "\x1b[K\n")
        out.flush()
