"""A webhook receiver: a real aiohttp server in a thread that keeps every JSON body it gets."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

START_TIMEOUT_S = 10.0


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the webhook receiver did not start")
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is not None and runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [body for p, _, body in self.received if p == path]

    def headers(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for p, headers, _ in self.received if p == path]

    def wait_for(self, path: str, count: int, key: str | None, timeout: float = 20.0) -> list[Any]:
        """Wait until ``count`` events arrived at ``path`` (a body's ``key`` list, or the body)."""
        deadline = time.monotonic() + timeout
        while True:
            events = [event for body in self.bodies(path) for event in (body[key] if key else body)]
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.05)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def receive(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            with self._lock:
                self.received.append((request.path, dict(request.headers), body))
            return web.json_response({"status": "ok"})

        async def start() -> None:
            app = web.Application()
            app.router.add_post("/{tail:.*}", receive)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]

        loop.run_until_complete(start())
        self._ready.set()
        loop.run_forever()
        loop.close()
