"""Keeping every process's view of the control data in step with the database.

The fast path is pub/sub: each change is announced and applied everywhere
within milliseconds (keys dropped from caches, overrides set, routers
rebuilt). This module is the safety net and the path without Redis:

- Every change bumps its kind's version in the database, in the change's own
  transaction. Each process polls the versions (every ``LOCAL_POLL_S``
  without Redis, ``SHARED_POLL_S`` with it) and counts the announcements it
  received. A kind whose version moved further than its announcements (no
  Redis, a Redis outage, a lost message) is reloaded from the database: all
  cached keys dropped, overrides re-read, the router rebuilt, or the config
  file re-read. Without Redis, changes therefore reach every worker and every
  instance sharing the database within about half a second.
- After each (re)subscription the overrides are re-read from the database,
  the store that survives restarts (Redis may have lost them).
- Overrides past their expiry are deleted (and audited, once) by whichever
  process gets there first; every router already ignores them by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from gateway.control.store import ControlStore
from gateway.control.tables import CONFIG, KEYS, MODELS, OVERRIDES
from gateway.errors import GatewayError
from gateway.keys.directory import KeyDirectory
from gateway.state.bus import EventBus
from gateway.state.events import Event, Invalidate, OverrideDeleted, OverrideSet, Scope
from gateway.state.guard import StateUnavailable
from gateway.state.overrides import FleetOverrides
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.admin")

LOCAL_POLL_S = 0.5
SHARED_POLL_S = 2.0
EXPIRE_EVERY_S = 10.0
# Expiry instants differ in the last digits between the database and Redis.
SAME_INSTANT_S = 0.001
# The announcement that stored models changed: the config's "models" part is stale.
MODELS_EVENT = Invalidate(Scope.CONFIG, ("models",))
CONFIG_EVENT = Invalidate(Scope.CONFIG)

Action = Callable[[], Awaitable[None]]


class ControlSync:
    def __init__(
        self,
        store: ControlStore,
        bus: EventBus,
        overrides: FleetOverrides,
        directory: KeyDirectory | None,
        *,
        rebuild_models: Action,
        reload_config: Action,
        trusted: Callable[[], bool],
        tasks: Supervisor | None = None,
    ) -> None:
        self._supervisor = tasks if tasks is not None else Supervisor()
        self._store = store
        self._bus = bus
        self._overrides = overrides
        self._directory = directory
        self._rebuild_models = rebuild_models
        self._reload_config = reload_config
        self._trusted = trusted
        self._seen: dict[str, int] = {}
        self._heard = {KEYS: 0, OVERRIDES: 0, MODELS: 0, CONFIG: 0}
        self._own = {MODELS: 0, CONFIG: 0}
        self._syncing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._acting: set[asyncio.Task[None]] = set()
        bus.on(Invalidate, self._on_invalidate)
        bus.on(OverrideSet, lambda _event: self._hear(OVERRIDES))
        bus.on(OverrideDeleted, lambda _event: self._hear(OVERRIDES))
        if bus.shared:
            bus.on_connected(self._after_reconnect)

    async def start(self) -> None:
        try:
            self._seen = await self._store.versions()
            await self.sync_overrides()
        except GatewayError as exc:
            log.warning("control data not loaded at start-up", extra={"reason": str(exc)})
        self._tasks = [
            self._supervisor.spawn(self._poll(), name="control-poll"),
            self._supervisor.spawn(self._expire(), name="override-expiry"),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._acting]
        self._tasks = []
        for task in tasks:
            await cancel(task)

    async def announce(self, event: Event) -> None:
        """Tell the fleet about a change this process has applied already."""
        kind = _kind(event)
        if kind in self._own:
            self._own[kind] += 1
        try:
            await self._bus.publish(event)
        except StateUnavailable as exc:
            log.warning(
                "change not broadcast; other processes will pick it up by polling",
                extra={"event": event.KIND, "reason": str(exc)},
            )

    async def sync_overrides(self) -> None:
        """Make this process's override view what the database holds."""
        now = time.time()
        rows = {row.model_group: row for row in await self._store.override_list(now)}
        held = {o.group: o for o in await self._overrides.list()}
        self._syncing = True
        try:
            for group, row in rows.items():
                have = held.get(group)
                if (
                    have is None
                    or have.redirect_to != row.redirect_to
                    or have.fallbacks != row.fallbacks
                    or have.expires_at is None
                    or abs(have.expires_at - row.expires_at) > SAME_INSTANT_S
                ):
                    self._bus.deliver(
                        OverrideSet(group, row.redirect_to, row.fallbacks, row.expires_at)
                    )
            for group in held.keys() - rows.keys():
                self._bus.deliver(OverrideDeleted(group))
        finally:
            self._syncing = False

    # --- announcements heard ---------------------------------------------------------------

    def _on_invalidate(self, event: Invalidate) -> None:
        kind = _kind(event)
        if kind is None:
            return
        self._hear(kind)
        if kind not in self._own:
            return
        if self._own[kind] > 0:
            self._own[kind] -= 1  # our own announcement, applied already
            return
        self._act(kind)

    def _hear(self, kind: str) -> None:
        if not self._syncing:
            self._heard[kind] += 1

    def _act(self, kind: str) -> None:
        action = {
            KEYS: self._drop_keys,
            OVERRIDES: self.sync_overrides,
            MODELS: self._rebuild_models,
            CONFIG: self._reload_config,
        }[kind]
        task = self._supervisor.spawn(self._run(kind, action), name=f"control-apply-{kind}")
        self._acting.add(task)
        task.add_done_callback(self._acting.discard)

    async def _run(self, kind: str, action: Action) -> None:
        try:
            await action()
        except Exception:
            log.exception("applying a control change failed", extra={"kind": kind})

    async def _drop_keys(self) -> None:
        if self._directory is not None:
            self._directory.drop()

    # --- the safety net -----------------------------------------------------------------

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(SHARED_POLL_S if self._bus.shared else LOCAL_POLL_S)
            with contextlib.suppress(GatewayError):
                await self._check_versions(trust_announcements=self._trusted())

    async def _check_versions(self, *, trust_announcements: bool) -> None:
        versions = await self._store.versions()
        for kind in (KEYS, OVERRIDES, MODELS, CONFIG):
            moved = versions.get(kind, 0) - self._seen.get(kind, 0)
            heard, self._heard[kind] = self._heard[kind], 0
            if moved <= 0:
                continue
            if not (trust_announcements and heard >= moved):
                if heard < moved:
                    log.info(
                        "control data changed without (all) announcements: reloading it",
                        extra={"kind": kind, "versions": moved, "announcements": heard},
                    )
                self._act(kind)
        self._seen = versions

    async def _after_reconnect(self) -> None:
        # Messages may have been lost while unsubscribed: re-read what can have changed.
        await self.sync_overrides()
        await self._check_versions(trust_announcements=False)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            try:
                expired = await self._store.override_expire(time.time())
            except GatewayError as exc:
                log.info("override expiry skipped", extra={"reason": str(exc)})
                continue
            for row in expired:
                log.warning(
                    "fallback override expired",
                    extra={"model_group": row.model_group, "set_by": row.set_by},
                )
                try:
                    await self._overrides.delete(row.model_group)
                except StateUnavailable:
                    self._bus.deliver(OverrideDeleted(row.model_group))


def _kind(event: Event) -> str | None:
    if isinstance(event, (OverrideSet, OverrideDeleted)):
        return OVERRIDES
    if not isinstance(event, Invalidate):
        return None
    if event.scope is Scope.KEYS:
        return KEYS
    if event.scope is Scope.CONFIG:
        return MODELS if event.ids == MODELS_EVENT.ids else CONFIG
    return None
