"""What the admin API works with: the stores, the fleet's bus, and the running gateway.

``Runtime`` is the composition root seen from here: the data plane in service,
its config, and the two ways to replace the data plane (a config reload, a
change of stored models). The admin API asks; the composition root builds and
swaps, in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.api.auth import MasterKeyAuth
from gateway.api.services import DataPlane
from gateway.config.model import GatewayConfig
from gateway.control.store import ControlStore
from gateway.control.vault import Vault
from gateway.observability.recent import ActivitySummary
from gateway.observability.status import RunDir
from gateway.state.bus import EventBus
from gateway.state.events import Event
from gateway.state.guard import StateUnavailable
from gateway.state.overrides import FleetOverrides

log = logging.getLogger("gateway.admin")


@dataclass(frozen=True, slots=True)
class ReloadReport:
    source: str
    deployments: int
    model_groups: int
    warnings: list[str] = field(default_factory=list)


class Runtime(Protocol):
    @property
    def plane(self) -> DataPlane:
        """The data plane serving now."""

    @property
    def config(self) -> GatewayConfig:
        """The config it was built from (the file's, with the stored models)."""

    @property
    def stored_models_enabled(self) -> bool:
        """``general_settings.store_model_in_db`` (or ``STORE_MODEL_IN_DB``) is on."""

    def model_problems(self, stored: Sequence[dict[str, Any]]) -> list[str]:
        """Why the config file with these stored model entries would not load ([] if it would)."""

    async def models_changed(self) -> None:
        """Rebuild the data plane with the stored models now in the database; tell the fleet."""

    async def reload(self, actor: str, reason: str | None) -> ReloadReport:
        """Re-read the config file and swap the data plane (``ConfigError`` if it is bad)."""


@dataclass(slots=True)
class ControlPlane:
    runtime: Runtime
    store: ControlStore
    bus: EventBus
    overrides: FleetOverrides
    vault: Vault | None
    # This process's recent activity per deployment (the board adds the serve's other
    # workers from their status files in ``run_dir``).
    activity: Callable[[], ActivitySummary] | None = None
    run_dir: RunDir | None = None

    @property
    def auth(self) -> MasterKeyAuth:
        return self.runtime.plane.auth

    def note(self, actor: str, action: str, kind: str, target: str) -> None:
        """Every change in the log too (the audit table has the values before and after)."""
        log.info(
            "control change",
            extra={"actor": actor, "action": action, "target_kind": kind, "target_id": target},
        )

    async def tell_fleet(self, event: Event) -> bool:
        """Publish ``event`` (applied here first); False when Redis could not take it.

        The change is in the database either way: processes that miss the message
        pick it up from the control versions they poll.
        """
        try:
            await self.bus.publish(event)
        except StateUnavailable as exc:
            log.warning(
                "control change not broadcast; other processes will pick it up by polling",
                extra={"event": event.KIND, "reason": str(exc)},
            )
            return False
        return True
