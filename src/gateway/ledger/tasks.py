"""Stopping the ledger's background tasks within a time limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


async def finish_within(task: asyncio.Task[None] | None, timeout_s: float, what: str) -> None:
    """Let ``task`` finish its own way for up to ``timeout_s``, then cancel it. Never raises."""
    if task is None:
        return
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(task)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except Exception:
        log.exception("%s stopped with an error", what)
