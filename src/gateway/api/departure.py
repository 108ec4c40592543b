"""Cancel the upstream call of a non-streaming request whose client has gone away.

A caller that times out and leaves should not keep an upstream generation (and
its cost) running for up to ``request_timeout``. Watching for a disconnect
needs a task reading the connection; most answers come back faster than that
is worth, so the watch is armed only once the request has waited
``ARM_AFTER_S``. Cancelling the wait closes the upstream connection, and the
request is recorded as the client having left (499).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from gateway.api.http import ClientGone, Receive

T = TypeVar("T")

ARM_AFTER_S = 1.0


async def unless_client_leaves(call: Awaitable[T], receive: Receive) -> T:
    """Await ``call``; if the client disconnects meanwhile, cancel it and raise ``ClientGone``."""
    waiter = asyncio.current_task()
    left = asyncio.Event()
    watcher: asyncio.Task[None] | None = None

    def arm() -> None:
        nonlocal watcher
        watcher = asyncio.create_task(_watch(receive, waiter, left))

    handle = asyncio.get_running_loop().call_later(ARM_AFTER_S, arm)
    try:
        return await call
    except asyncio.CancelledError:
        if left.is_set():
            raise ClientGone from None
        raise
    finally:
        handle.cancel()
        if watcher is not None:
            watcher.cancel()


async def _watch(
    receive: Receive, waiter: asyncio.Task[object] | None, left: asyncio.Event
) -> None:
    # The body has been read: the next message can only be the disconnect.
    message = await receive()
    if message["type"] == "http.disconnect" and waiter is not None:
        left.set()
        waiter.cancel()
