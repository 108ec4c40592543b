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
import gc
import socket
import sys

import uvicorn
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

DRAIN_S = 0.5


class DrainingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        # What start-up built (config, clients, routes, tables) lives as long as the
        # process. Frozen out of the collector's generations, it is no longer scanned
        # by every full collection, so the occasional full pass stays short.
        gc.collect()
        gc.freeze()

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
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
