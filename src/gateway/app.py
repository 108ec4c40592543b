"""The ASGI application: dispatch and lifespan.

Start-up builds the process's ``AppState`` (``compose.build_app_state``) and keeps the
exit stack that shuts it down; HTTP goes to the data plane's raw ASGI app, or, for
admin paths, to the control API. There is no module-level state.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from gateway.api.control.app import is_control_path, send_not_served
from gateway.api.http import Receive, Scope, Send
from gateway.api.websocket import refuse_websocket
from gateway.app_state import AppState
from gateway.compose import build_app_state
from gateway.config.defaults import EMBEDDED_CONFIG, EMBEDDED_SOURCE
from gateway.config.loader import LoadedConfig, build_config, read_config_file
from gateway.config.settings import CONFIG_PATH_ENV, ROLE_ENV, EnvSettings, Role

log = logging.getLogger(__name__)

# Paths a control-only process still serves from the data plane's table.
CONTROL_DATA_PATHS = ("/metrics",)
# Control routes a data-only process serves too: its own response cache and the health
# checks its serve runs (spend reports and changes are the control process's).
DATA_CONTROL_PATHS = ("/cache/", "/health")


class GatewayApp:
    """The ASGI application: lifespan builds the state, HTTP goes to its two apps.

    The control API (a FastAPI app, ``api/control``) drives the ``ConfigReloader`` that
    rebuilds the data plane on a config reload.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        env: Mapping[str, str],
        *,
        file_data: Mapping[str, Any],
        settings: EnvSettings | None = None,
    ) -> None:
        self._loaded = loaded
        self._env = dict(env)
        self._settings = settings
        self._file_data = file_data
        self._role: Role = _role(self._env.get(ROLE_ENV))
        self._state: AppState | None = None
        self._stack: AsyncExitStack | None = None

    @property
    def state(self) -> AppState | None:
        """The process's parts once started (None before start-up and after shutdown)."""
        return self._state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            state = self._state
            if state is None:
                # Served without lifespan (some test harnesses): build on first use.
                await self.startup()
                state = self._state
                assert state is not None
            path: str = scope["path"]
            if is_control_path(path):
                if self._role != "data" or path.startswith(DATA_CONTROL_PATHS):
                    await state.control(scope, receive, send)
                elif path.startswith("/spend/"):
                    await send_not_served(
                        scope, send, "Spend reports are served by the control process."
                    )
                else:
                    await send_not_served(
                        scope, send, "The admin API is served by the control process."
                    )
            elif self._role == "control" and not path.startswith(CONTROL_DATA_PATHS):
                await send_not_served(
                    scope, send, "This process serves the control plane only (--role control)."
                )
            else:
                await state.data(scope, receive, send)
        elif kind == "websocket":
            await refuse_websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        async with AsyncExitStack() as stack:
            self._state = await build_app_state(
                self._loaded,
                self._env,
                file_data=self._file_data,
                settings=self._settings,
                role=self._role,
                stack=stack,
            )
            # Built whole: keep the shutdowns for the lifespan's end (a failure above has
            # already closed what was opened, in reverse order).
            self._stack = stack.pop_all()

    async def shutdown(self) -> None:
        stack, self._stack = self._stack, None
        self._state = None
        if stack is not None:
            # Uvicorn has drained the requests by now: every spend record is submitted.
            await stack.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> GatewayApp:
    """Factory for uvicorn/gunicorn workers: the config path comes from ``GATEWAY_CONFIG``."""
    settings = EnvSettings()
    env = dict(os.environ)
    path = env.get(CONFIG_PATH_ENV) or None
    data = read_config_file(path) if path else EMBEDDED_CONFIG
    loaded = build_config(data, env, path or EMBEDDED_SOURCE, settings)
    return GatewayApp(loaded, env, file_data=data, settings=settings)


def _role(value: str | None) -> Role:
    if value in (None, "", "all"):
        return "all"
    if value in ("data", "control"):
        return value  # type: ignore[return-value]
    raise ValueError(f"{ROLE_ENV}: expected all, data or control, not {value!r}")
