"""A webhook receiver: a server thread that keeps every JSON body it gets."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

from support.server_thread import ServerThread


class WebhookReceiver(ServerThread):
    name = "webhook-receiver"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # (path, headers as sent, parsed body) of each delivery, in order.
        self.received: list[tuple[str, dict[str, str], Any]] = []
        # How it answers: after ``hang_s`` seconds, with ``status`` (a receiver in trouble).
        self.hang_s = 0.0
        self.status = 200

    @property
    def url(self) -> str:
        return self.origin

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

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        with self._lock:
            self.received.append((request.path, dict(request.headers), body))
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        return web.json_response({"status": "ok"}, status=self.status)
