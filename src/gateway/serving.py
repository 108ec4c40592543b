"""Run the gateway: uvicorn for one worker, gunicorn with uvicorn workers for several."""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from gateway.app import CONFIG_PATH_ENV, GatewayApp
from gateway.config.loader import LoadedConfig

GRACEFUL_SHUTDOWN_S = 30


def serve_single(app: GatewayApp, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=75,
    )


def serve_workers(config_path: str | None, host: str, port: int, workers: int) -> None:
    """Gunicorn master with ``workers`` uvicorn workers; each builds its app from the config."""
    from gunicorn.app.base import BaseApplication  # noqa: PLC0415 - only when serving N workers

    if config_path:
        os.environ[CONFIG_PATH_ENV] = os.path.abspath(config_path)
    else:
        os.environ.pop(CONFIG_PATH_ENV, None)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings: dict[str, Any] = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "worker_class": "uvicorn_worker.UvicornWorker",
                "graceful_timeout": GRACEFUL_SHUTDOWN_S,
                "timeout": 120,
                "keepalive": 75,
                "accesslog": None,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from gateway.app import create_app  # noqa: PLC0415 - runs in each worker

            return create_app()

    _Gunicorn().run()


def describe(loaded: LoadedConfig) -> str:
    config = loaded.config
    return (
        f"{config.source}: {len(config.deployments)} deployments in "
        f"{len(config.group_names())} model groups"
    )
