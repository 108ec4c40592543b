"""The health server: liveliness and readiness from the run directory, no live calls."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import orjson
import uvicorn

from gateway.config.loader import ConfigError, load_or_embedded
from gateway.config.settings import CONFIG_PATH_ENV, EnvSettings
from gateway.health.probes import DEFAULT_INTERVAL_S, DeploymentProber
from gateway.observability.status import RunDir, readiness
from gateway.workers import QuietServer

Scope = dict[str, Any]

PARENT_POLL_S = 1.0

log = logging.getLogger(__name__)


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
    server = QuietServer(config)
    prober = _prober(RunDir(run_dir))

    async def serve() -> None:
        tasks = [asyncio.create_task(_watch_parent(server, parent))]
        if prober is not None:
            tasks.append(asyncio.create_task(prober.run_forever()))
        try:
            await server.serve()
        finally:
            for task in tasks:
                task.cancel()

    asyncio.run(serve())


def _prober(run_dir: RunDir) -> DeploymentProber | None:
    """The background deployment checks, when the config turns them on."""
    env = dict(os.environ)
    try:
        config = load_or_embedded(env.get(CONFIG_PATH_ENV) or None, env, EnvSettings()).config
    except ConfigError:
        log.exception("health checks disabled: the config did not load")
        return None
    general = config.file.general_settings
    if not general.background_health_checks:
        return None
    interval = general.health_check_interval or DEFAULT_INTERVAL_S
    return DeploymentProber(config, env, run_dir, interval)


async def _watch_parent(server: QuietServer, parent: int) -> None:
    while not server.should_exit:
        await asyncio.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            server.should_exit = True
            server.wake()
