"""Ledger work that must not hold up the event loop or the core it shares.

The ledger writes after the responses it meters: its batches can wait a few
milliseconds, requests in flight cannot. Two things follow. Converting a whole
batch of records on the event loop is done in slices, letting requests run in
between. And the embedded SQLite store's thread runs at a lower CPU priority:
on a worker pinned to one core, a batch write would otherwise take half the
core from the event loop for its whole duration; at a lower priority it gets
what the loop leaves idle (and a tenth of the core when there is none, enough
to keep up with a saturated worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

SLICE = 200  # records converted between two turns of the event loop
BACKGROUND_NICENESS = 10  # CFS weight 110 against the loop's 1024: about a tenth of a busy core


async def convert_in_slices(items: Sequence[T], convert: Callable[[T], R]) -> list[R]:
    """``[convert(item) for item in items]``, yielding to the event loop between slices."""
    if len(items) <= SLICE:
        return [convert(item) for item in items]
    converted: list[R] = []
    for start in range(0, len(items), SLICE):
        if start:
            await asyncio.sleep(0)
        converted.extend(convert(item) for item in items[start : start + SLICE])
    return converted


_lowered = threading.local()


def lower_thread_priority() -> None:
    """Run the calling thread at ``BACKGROUND_NICENESS`` from now on (Linux threads have
    their own); only the first call in a thread makes a system call."""
    if getattr(_lowered, "done", False):
        return
    _lowered.done = True
    with contextlib.suppress(OSError, AttributeError):
        thread_id = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, max(current, BACKGROUND_NICENESS))
