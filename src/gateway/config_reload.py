"""Config reloads: the data plane rebuilt from the config and swapped in, whole.

The config a data plane is built from is the file's, with the stored models
(``store_model_in_db``) added. ``ConfigReloader`` keeps it, and is the one place a
data plane is rebuilt (the file read again, or the stored models changed) and
swapped in for the next request; requests in flight finish on the plane they
started with. It is the ``Runtime`` the admin API drives.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from gateway.api.admin.context import ReloadReport
from gateway.api.asgi import DataPlaneApp
from gateway.api.services import DataPlane
from gateway.config.defaults import EMBEDDED_CONFIG, EMBEDDED_SOURCE
from gateway.config.loader import ConfigError, LoadedConfig, build_config, read_config_file
from gateway.config.model import GatewayConfig
from gateway.config.settings import CONFIG_PATH_ENV, EnvSettings
from gateway.control.rows import Change
from gateway.control.store import ControlStore
from gateway.control.stored_models import stored_models
from gateway.control.sync import CONFIG_EVENT, MODELS_EVENT
from gateway.control.vault import Vault
from gateway.errors import GatewayError
from gateway.keys.directory import KeyDirectory
from gateway.providers.registry import deployment_warnings
from gateway.state.events import Invalidate

log = logging.getLogger(__name__)

STORE_MODEL_IN_DB_ENV = "STORE_MODEL_IN_DB"

# A config -> its data plane (built with what outlives a reload: pools, cooldowns, cache).
BuildPlane = Callable[[GatewayConfig], DataPlane]
# Tells the other processes of the fleet what changed here (``ControlSync.announce``).
Announce = Callable[[Invalidate], Awaitable[None]]


class ConfigReloader:
    """The config the data plane serving now was built from; rebuilds and swaps it."""

    def __init__(
        self,
        loaded: LoadedConfig,
        env: Mapping[str, str],
        *,
        file_data: Mapping[str, Any],
        settings: EnvSettings | None,
        build: BuildPlane,
        store: ControlStore,
        vault: Vault | None,
        keys: KeyDirectory,
        announce: Announce,
    ) -> None:
        self._loaded = loaded
        self._env = env
        # The config file as last read (the stored models are added to it on every build).
        self._file_data = file_data
        self._settings = settings
        self._path = env.get(CONFIG_PATH_ENV) or None
        self._build = build
        self._store = store
        self._vault = vault
        self._keys = keys
        self._announce = announce
        self._rebuilding = asyncio.Lock()
        self._serving: DataPlaneApp | None = None

    async def start(self) -> DataPlaneApp:
        """The data plane's ASGI app, on the file's config with the stored models (the
        file's alone when they cannot be read); later rebuilds swap its plane."""
        try:
            self._loaded = await self._compose(self._file_data)
        except (ConfigError, GatewayError) as exc:
            log.warning("stored models not loaded at start-up", extra={"reason": str(exc)})
        self._serving = DataPlaneApp(self._build(self._loaded.config))
        return self._serving

    # --- the Runtime the admin API drives ---------------------------------------------

    @property
    def plane(self) -> DataPlane:
        assert self._serving is not None
        return self._serving.plane

    @property
    def config(self) -> GatewayConfig:
        return self._loaded.config

    @property
    def stored_models_enabled(self) -> bool:
        return self._stored_models_on(self._file_data)

    def model_problems(self, stored: Sequence[Mapping[str, Any]]) -> list[str]:
        try:
            self._merged(self._file_data, stored)
        except ConfigError as exc:
            return exc.problems
        return []

    async def models_changed(self) -> None:
        await self.rebuild(reread=False)
        await self._announce(MODELS_EVENT)

    async def reload(self, actor: str, reason: str | None) -> ReloadReport:
        report = await self.rebuild(reread=True)
        try:
            await self._store.note_reload(Change(actor, "reload", reason), report.source)
        except GatewayError as exc:
            log.warning("config reload not audited", extra={"reason": str(exc)})
        await self._announce(CONFIG_EVENT)
        return report

    # --- changes made elsewhere (another process, a signal) -----------------------------

    async def apply_stored_models(self) -> None:
        await self.rebuild(reread=False)

    async def reload_or_keep(self) -> None:
        """Read the config file again; a bad one is logged and the running config stays."""
        try:
            await self.rebuild(reread=True)
        except ConfigError as exc:
            log.error(
                "config reload refused: the running config stays",
                extra={"problems": exc.problems, "source": exc.source},
            )
        except GatewayError as exc:
            log.error("config reload failed: the running config stays", extra={"reason": str(exc)})

    # --- rebuilding ---------------------------------------------------------------------

    async def rebuild(self, *, reread: bool) -> ReloadReport:
        """Build a new data plane and swap it in (the only place one is swapped).

        ``reread``: the config file is read again (a reload), else the stored models
        changed. Either way the file is validated with the stored models first; a bad
        one raises ``ConfigError`` and nothing changes.
        """
        async with self._rebuilding:
            data = self._read_file() if reread else self._file_data
            loaded = await self._compose(data)
            plane = self._build(loaded.config)
            assert self._serving is not None
            self._serving.plane = plane
            self._file_data, self._loaded = data, loaded
            if reread:
                # Every cached credential goes: providers are new, keys are read again.
                self._keys.drop()
        config = loaded.config
        for warning in [*loaded.warnings, *deployment_warnings(config.deployments, self._env)]:
            log.warning("config: %s", warning)
        log.warning(
            "config reloaded" if reread else "stored models applied",
            extra={
                "config": config.source,
                "deployments": len(config.deployments),
                "model_groups": len(config.group_names()),
                "pid": os.getpid(),
            },
        )
        return ReloadReport(
            config.source, len(config.deployments), len(config.group_names()), loaded.warnings
        )

    def _stored_models_on(self, data: Mapping[str, Any]) -> bool:
        """``general_settings.store_model_in_db`` or ``STORE_MODEL_IN_DB``, as in LiteLLM."""
        general = data.get("general_settings")
        in_file = isinstance(general, dict) and general.get("store_model_in_db") is True
        in_env = self._env.get(STORE_MODEL_IN_DB_ENV, "").strip().lower() in ("true", "1", "yes")
        return in_file or in_env

    def _read_file(self) -> Mapping[str, Any]:
        return read_config_file(self._path) if self._path else EMBEDDED_CONFIG

    async def _compose(self, data: Mapping[str, Any]) -> LoadedConfig:
        """The config file's data with the stored models, built and validated."""
        entries: list[Mapping[str, Any]] = []
        if self._stored_models_on(data):
            stored, warnings = await stored_models(self._store, self._vault)
            for warning in warnings:
                log.warning("config: %s", warning)
            entries = [model.entry for model in stored]
        return self._merged(data, entries)

    def _merged(self, data: Mapping[str, Any], stored: Sequence[Mapping[str, Any]]) -> LoadedConfig:
        merged = dict(data)
        file_models = data.get("model_list") or []
        if not isinstance(file_models, list):
            # Not a list: the file is wrong, and building it says so with the field's path.
            return build_config(data, self._env, self._source(), self._settings or EnvSettings())
        taken = {
            str(entry["model_info"]["id"])
            for entry in file_models
            if isinstance(entry, dict)
            and isinstance(entry.get("model_info"), dict)
            and entry["model_info"].get("id")
        }
        kept = []
        for entry in stored:
            model_id = entry["model_info"]["id"]
            if model_id in taken:
                log.warning(
                    "a stored model's id is now used by the config file: the file's wins",
                    extra={"model_id": model_id},
                )
                continue
            kept.append(dict(entry))
        merged["model_list"] = [*file_models, *kept]
        return build_config(merged, self._env, self._source(), self._settings or EnvSettings())

    def _source(self) -> str:
        return str(self._path) if self._path else EMBEDDED_SOURCE
