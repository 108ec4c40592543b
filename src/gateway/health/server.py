"""The health server: liveliness and readiness from the run directory, no live calls."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import orjson
import uvicorn

from gateway.observability.status import RunDir, readiness

Scope = dict[str, Any]

PARENT_POLL_S = 1.0


class HealthApp:
    def __init__(self, run_dir: RunDir) -> None:
        self._run_dir = run_dir

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/")
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, {"error": "method not allowed"})
        elif path in ("/health/liveliness", "/health/liveness"):
            if self._run_dir.read_serve().get("shutting_down"):
                await _send(send, 503, {"status": "shutting_down"})
            else:
                await _send(send, 200, {"status": "alive"})
        elif path == "/health/readiness":
            status, body = readiness(self._run_dir, time.time())
            await _send(send, status, body)
        else:
            await _send(send, 404, {"error": f"unknown path {scope['path']}"})


async def _send(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def run(run_dir: str, host: str, port: int, parent: int) -> None:
    """Serve until the parent (the gateway serve process) is gone."""
    config = uvicorn.Config(
        HealthApp(RunDir(run_dir)),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        watcher = asyncio.create_task(_watch_parent(server, parent))
        try:
            await server.serve()
        finally:
            watcher.cancel()

    asyncio.run(serve())


async def _watch_parent(server: uvicorn.Server, parent: int) -> None:
    while not server.should_exit:
        await asyncio.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            server.should_exit = True
