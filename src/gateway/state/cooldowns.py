"""Fleet-wide cooldowns: the router's ``CooldownStore`` as a local view plus replication.

Every read the router makes (is this deployment cooling? may I probe it?)
is answered by the local view, in process, with no I/O: the router's store is
synchronous because it runs on the hot path. What the fleet shares travels
beside it:

- A failure is counted locally *and*, off the hot path, in Redis by an atomic
  Lua script (a sliding window per error class). When the fleet's count
  passes ``allowed``, the script cools the deployment in Redis and PUBLISHes
  the cooldown; a single process's count still trips it on its own, so with
  Redis away the breaker works exactly as on a single node.
- A cooldown set here (``cool``) is written to Redis (extend-only) and
  published; every process applies published cooldowns to its local view as
  they arrive (milliseconds), and reloads all of them on each (re)subscribe.
- Re-cooling extends, never shortens: a cooldown that ends sooner than the
  one already held is ignored, here and in Redis.
- When Redis returns after an outage, the cooldowns set meanwhile are pushed.

The half-open probe stays per process: when a cooldown ends, each process
lets one request of its own through as a probe. A deployment that is still
broken therefore sees at most one probe per process per cooldown period, and
a probe's failure re-cools it for the whole fleet.

The local view's types stay the router's own: this module is generic over
them, so ``state`` needs nothing from ``router``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from functools import partial
from typing import Generic, Protocol, TypeVar

import orjson

from gateway.state.bus import EventBus
from gateway.state.connection import RedisConnection
from gateway.state.events import CooldownSet
from gateway.state.guard import RedisGuard
from gateway.state.keys import KeySpace
from gateway.state.scripts import COOL, FAILURE
from gateway.state.writer import BackgroundWriter

log = logging.getLogger("gateway.state")


class CoolingLike(Protocol):
    @property
    def until(self) -> float: ...

    @property
    def reason(self) -> str: ...


H = TypeVar("H")
C = TypeVar("C", bound=CoolingLike)
H_co = TypeVar("H_co", covariant=True)
C_co = TypeVar("C_co", bound=CoolingLike, covariant=True)


class LocalCooldowns(Protocol[H_co, C_co]):
    """The in-process breaker (the router's ``InProcessCooldowns``)."""

    def health(self, deployment_id: str, now: float) -> H_co: ...

    def claim_probe(self, deployment_id: str, now: float) -> bool: ...

    def release_probe(self, deployment_id: str) -> None: ...

    def record_failure(
        self, deployment_id: str, error_class: str, allowed: int, window: float, now: float
    ) -> bool: ...

    def cool(
        self, deployment_id: str, until: float, reason: str, *, probe_failed: bool = False
    ) -> C_co: ...

    def failed_probes(self, deployment_id: str) -> int: ...

    def record_success(self, deployment_id: str) -> bool: ...

    def cooling_all(self, now: float) -> Mapping[str, C_co]: ...


class FleetCooldowns(Generic[H, C]):
    def __init__(
        self,
        local: LocalCooldowns[H, C],
        *,
        connection: RedisConnection,
        guard: RedisGuard,
        bus: EventBus,
        writer: BackgroundWriter,
        keys: KeySpace,
    ) -> None:
        self._local = local
        self._guard = guard
        self._writer = writer
        self._keys = keys
        self._origin = bus.origin
        self._cool_script = connection.script(COOL)
        self._failure_script = connection.script(FAILURE)
        self._client = connection.client
        self._sequence = itertools.count()
        bus.on(CooldownSet, self._on_published)
        bus.on_connected(self.reload)
        guard.on_recovered(self.push_local)

    # --- the router's CooldownStore (synchronous, local) ---------------------------

    def health(self, deployment_id: str, now: float) -> H:
        return self._local.health(deployment_id, now)

    def claim_probe(self, deployment_id: str, now: float) -> bool:
        return self._local.claim_probe(deployment_id, now)

    def release_probe(self, deployment_id: str) -> None:
        self._local.release_probe(deployment_id)

    def record_failure(
        self, deployment_id: str, error_class: str, allowed: int, window: float, now: float
    ) -> bool:
        tripped = self._local.record_failure(deployment_id, error_class, allowed, window, now)
        if not tripped:
            # A local trip is replicated by the ``cool`` the router calls next.
            member = f"{self._origin}:{next(self._sequence)}"
            self._writer.submit(
                partial(
                    self._count,
                    deployment_id,
                    error_class=error_class,
                    allowed=allowed,
                    window=window,
                    now=now,
                    member=member,
                )
            )
        return tripped

    def cool(
        self, deployment_id: str, until: float, reason: str, *, probe_failed: bool = False
    ) -> C:
        cooling = self._local.cool(deployment_id, until, reason, probe_failed=probe_failed)
        self._writer.submit(partial(self._share, deployment_id, cooling.until, cooling.reason))
        return cooling

    def failed_probes(self, deployment_id: str) -> int:
        return self._local.failed_probes(deployment_id)

    def record_success(self, deployment_id: str) -> bool:
        return self._local.record_success(deployment_id)

    def cooling_all(self, now: float) -> dict[str, C]:
        return dict(self._local.cooling_all(now))

    # --- replication (background) -----------------------------------------------------

    async def _count(
        self,
        deployment_id: str,
        *,
        error_class: str,
        allowed: int,
        window: float,
        now: float,
        member: str,
    ) -> None:
        # The router cools for max(cooldown_time, 1s) and counts over that same window,
        # so a fleet trip cools for ``window``.
        reason = f"{allowed + 1} failures across the fleet within {window:g}s"
        until = await self._failure_script(
            keys=[self._keys.cooldowns, self._keys.failures(deployment_id)],
            args=[
                deployment_id,
                error_class,
                repr(now),
                repr(window),
                allowed,
                member,
                reason,
                self._keys.channel,
                self._origin,
            ],
        )
        if until:
            log.warning(
                "deployment cooling down",
                extra={"deployment": deployment_id, "until": float(until), "reason": reason},
            )
            self._apply(deployment_id, float(until), reason)

    async def _share(self, deployment_id: str, until: float, reason: str) -> None:
        await self._cool_script(
            keys=[self._keys.cooldowns, self._keys.failures(deployment_id)],
            args=[
                deployment_id,
                repr(until),
                reason,
                self._keys.channel,
                self._origin,
                repr(time.time()),
            ],
        )

    async def reload(self) -> None:
        """Apply every cooldown held in Redis (after a (re)subscribe)."""
        held = await self._guard.run(
            lambda: self._client.hgetall(self._keys.cooldowns), background=True
        )
        for raw_id, raw in held.items():
            try:
                entry = orjson.loads(raw)
                until, reason = float(entry["until"]), str(entry["reason"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            name = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            self._apply(name, until, reason)

    async def push_local(self) -> None:
        """Share the cooldowns this process set while Redis was away."""
        for deployment_id, cooling in self._local.cooling_all(time.time()).items():
            await self._guard.run(
                partial(self._share, deployment_id, cooling.until, cooling.reason), background=True
            )

    def _on_published(self, event: CooldownSet) -> None:
        self._apply(event.deployment_id, event.until, event.reason)

    def _apply(self, deployment_id: str, until: float, reason: str) -> None:
        """Cool the local view unless it already holds a cooldown lasting as long."""
        now = time.time()
        if until <= now:
            return
        current = self._local.cooling_all(now).get(deployment_id)
        if current is not None and current.until >= until:
            return
        self._local.cool(deployment_id, until, reason)
