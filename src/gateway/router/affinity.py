"""Session affinity: the requests of one session go to the deployment that served it.

A provider's prompt cache lives on the deployment (account, region, key) that
served the previous turn; a session that hops between deployments pays for its
whole prefix again on every hop. With ``router_settings.session_affinity`` a
request that names its session (see ``api.parse.session_of``) is sent to its
session's pinned deployment when that one is healthy and within its limits;
otherwise the group's strategy picks as usual and the session moves to
whichever deployment serves it. A pin never overrides a cooldown or a limit; a
deployment skipped only for its rpm/tpm limit keeps the pin (the limit lapses
within the minute, the cache stays). Pins are per group: a session that uses
two groups has one pin in each.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from gateway.router.groups import ModelGroup
from gateway.router.observer import RouterObserver


class PinStore(Protocol):
    def configure(self, ttl: float, max_sessions: int) -> None: ...

    async def lookup(self, key: str, now: float) -> str | None:
        """The deployment ``key`` is pinned to, or None."""

    async def pin(self, key: str, deployment_id: str, replacing: str | None, now: float) -> str:
        """Pin ``key`` to ``deployment_id`` unless another process moved it elsewhere
        first: the deployment pinned after the call."""


class Outcome:
    """The label values of ``gateway_session_affinity_total``."""

    KEPT = "kept"  # served by the pinned deployment
    PINNED = "pinned"  # a new session, pinned to what served it
    MOVED = "moved"  # the pinned deployment could not serve: moved to what did
    HELD = "held"  # the pinned deployment was at its limit: served elsewhere, pin kept


@dataclass(slots=True)
class SessionPin:
    """One request's pin in one group: what it was, and what selection found."""

    key: str
    deployment_id: str | None
    at_limit: bool = False  # the pinned deployment was healthy but at its rpm/tpm limit


def pin_key(group: str, session: str) -> str:
    """The pin's name: the group and a digest of the session id (which may be a user's
    name or address, so it is never stored or sent as it is)."""
    digest = hashlib.blake2b(session.encode("utf-8", "surrogatepass"), digest_size=16)
    return f"{group}:{digest.hexdigest()}"


class Affinity:
    def __init__(self, pins: PinStore, observer: RouterObserver) -> None:
        self._pins = pins
        self._observer = observer

    async def lookup(self, group: ModelGroup, session: str, now: float) -> SessionPin | None:
        """The session's pin in ``group``; None where there is nothing to choose from."""
        if len(group.deployments) < 2:
            return None
        key = pin_key(group.name, session)
        return SessionPin(key, await self._pins.lookup(key, now))

    async def served(
        self, group: ModelGroup, pin: SessionPin, deployment_id: str, now: float
    ) -> None:
        """``deployment_id`` served the request: keep, make or move the pin."""
        if pin.deployment_id == deployment_id:
            outcome = Outcome.KEPT
        elif pin.at_limit:
            outcome = Outcome.HELD
        else:
            outcome = Outcome.PINNED if pin.deployment_id is None else Outcome.MOVED
            await self._pins.pin(pin.key, deployment_id, pin.deployment_id, now)
        self._observer.session_routed(group.name, deployment_id, outcome)
