"""An aiohttp application served on 127.0.0.1 from a thread with its own event loop.

The thread lets sync and async tests alike use the server, and whatever talks
to it (the gateway) reaches it over real TCP. A subclass adds its routes in
``add_routes``; a request no route takes goes to ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Self

from aiohttp import web

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# Handlers still running when the server stops get this long before they are cancelled.
SHUTDOWN_GRACE_S = 1.0
MAX_BODY_BYTES = 64 * 1024 * 1024


class ServerThread:
    """Use as a context manager, or ``start()`` / ``stop()``."""

    name = "server"

    def __init__(self) -> None:
        # Set while the server shuts down: handlers cut off by it are not a client leaving.
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound()

    def start(self) -> Self:
        """Start the server thread. Idempotent: ``with server.start():`` starts once."""
        if self._thread is not None:
            return self
        self._stopping.clear()
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"{self.name} did not start in time")
        if self._start_error is not None:
            raise RuntimeError(f"{self.name} failed to start") from self._start_error
        return self

    def stop(self) -> None:
        self._stopping.set()
        loop, runner = self._loop, self._runner
        if loop is not None and runner is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=STOP_TIMEOUT_S)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
            if self._thread.is_alive():
                raise RuntimeError(f"the {self.name} thread did not stop")
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self.unknown)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_GRACE_S
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
