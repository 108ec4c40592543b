"""The uvicorn server and gunicorn worker the gateway runs, with a drain before shutdown.

Once started, the server freezes what start-up allocated out of the garbage
collector's reach (``gc.freeze``), so full collections scan only what requests
left behind.

uvicorn's own shutdown stops accepting and then at once closes every connection
that has no request in progress. A connection accepted a moment before, whose
request bytes are in flight, would then be closed unanswered: a failed call for
a client during every worker recycle and every deploy. The gateway stops
accepting first, gives such connections a short drain to start their request,
and only then runs uvicorn's shutdown, which lets started requests finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

from gateway.memory_ceiling import MemoryCeiling, ceiling_from_env
from gateway.observability.status import RUN_DIR_ENV

DRAIN_S = 0.5
TICK_S = 1.0  # how often an idle server wakes: the Date header changes once a second


class QuietServer(uvicorn.Server):
    """uvicorn's server, waking once a second when idle instead of ten times.

    uvicorn's main loop sleeps 100 ms at a time to look for the stop flag, and
    refreshes the Date header every tenth wake-up. Each wake-up costs CPU even
    when nothing is served (1.4 ms of CPU per second of idling, measured on a
    2-core VM). This loop wakes once a second for the Date header and the
    max-requests check, and at once when a stop signal arrives.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_asked: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_asked = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            # One wake-up stands for ten of uvicorn's ticks: on_tick refreshes the Date
            # header when the counter is a multiple of ten.
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._stop_asked.wait()
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.wake()

    def wake(self) -> None:
        """Look at ``should_exit`` now rather than at the next tick (any thread)."""
        if self._loop is not None and self._stop_asked is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(self._stop_asked.set)


class DrainingServer(QuietServer):
    def __init__(self, config: uvicorn.Config, ceiling: MemoryCeiling | None = None) -> None:
        super().__init__(config)
        self._ceiling = ceiling

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        # Past the memory ceiling: exit as max-requests does (stop accepting, finish).
        return self._ceiling is not None and self._ceiling.past()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # What start-up built (config, clients, routes, tables) lives as long as the
        # process. Frozen out of the collector's generations, it is no longer scanned
        # by every full collection, so the occasional full pass stays short.
        gc.collect()
        gc.freeze()
        if self._ceiling is not None:
            self._ceiling.started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if self.server_state.connections:
            await asyncio.sleep(DRAIN_S)
        await super().shutdown(sockets=None)


class GatewayWorker(UvicornWorker):  # type: ignore[misc]
    """gunicorn's uvicorn worker, serving with ``DrainingServer``."""

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        limit = ceiling_from_env()
        run_dir = os.environ.get(RUN_DIR_ENV)
        ceiling = (
            MemoryCeiling(limit, Path(run_dir) if run_dir else None) if limit is not None else None
        )
        server = DrainingServer(config=self.config, ceiling=ceiling)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
