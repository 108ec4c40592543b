"""A small typed event bus: this process at once, every other process through Redis pub/sub.

``publish`` hands the event to this process's handlers, then to the channel
(through the guard). A listener task applies what other processes publish;
each time it (re)subscribes it runs the ``on_connected`` hooks, which reload
state that may have changed while no message could arrive: messages sent while
a process was not listening are lost, so whatever a process holds because of
them (reloadable state, or caches that invalidations would have dropped) must
be reloaded or dropped in such a hook. Without Redis the bus is local only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio.client import PubSub

from gateway.state.connection import RedisConnection
from gateway.state.events import BadMessage, Event, decode, encode
from gateway.state.guard import REDIS_FAULTS, RedisGuard, StateUnavailable
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.state")

E = TypeVar("E", bound=Event)
Hook = Callable[[], Awaitable[None]]

# How long one wait for a message lasts before the listener checks the breaker again.
LISTEN_POLL_S = 0.5
RETRY_MIN_S = 0.1
RETRY_MAX_S = 2.0


class EventBus:
    def __init__(
        self,
        origin: str,
        *,
        connection: RedisConnection | None = None,
        guard: RedisGuard | None = None,
        channel: str = "",
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self.origin = origin
        self._connection = connection
        self._guard = guard
        self._channel = channel
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._connected_hooks: list[Hook] = []
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    @property
    def shared(self) -> bool:
        return self._connection is not None

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def on_connected(self, hook: Hook) -> None:
        """Run ``hook`` after each (re)subscription, to catch up on missed messages."""
        self._connected_hooks.append(hook)

    async def publish(self, event: Event) -> None:
        """Apply ``event`` here, then send it to the fleet (``StateUnavailable`` if it cannot)."""
        self.deliver(event)
        connection, guard = self._connection, self._guard
        if connection is None or guard is None:
            return
        payload = encode(event, self.origin)
        await guard.run(lambda: connection.client.publish(self._channel, payload), background=True)

    def deliver(self, event: Event) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed", extra={"event": event.KIND})

    # --- the listener -------------------------------------------------------------

    def start(self) -> None:
        if self._connection is not None and self._task is None:
            self._task = self._tasks.spawn(self._listen(), name="redis-events")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)

    async def _listen(self) -> None:
        connection, guard = self._connection, self._guard
        assert connection is not None and guard is not None
        pause = RETRY_MIN_S
        while True:
            await guard.wait_closed()
            pubsub: PubSub | None = None
            try:
                async with asyncio.timeout(guard.background_budget_s):
                    pubsub = await connection.pubsub()
                    await pubsub.subscribe(self._channel)
                for hook in self._connected_hooks:
                    await hook()
                self.subscribed.set()
                pause = RETRY_MIN_S
                await self._pump(pubsub, guard)
            except REDIS_FAULTS as exc:
                guard.record_failure(exc)
                log.info("redis subscription lost; retrying", extra={"reason": type(exc).__name__})
            except StateUnavailable:
                pass
            except Exception:
                # Whatever happens, the fleet's messages must keep coming: retry.
                log.exception("redis subscription failed; retrying")
            finally:
                self.subscribed.clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(guard.background_budget_s):
                            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    async def _pump(self, pubsub: PubSub, guard: RedisGuard) -> None:
        """Apply messages until the breaker opens (then resubscribe once it closes)."""
        while guard.usable:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=LISTEN_POLL_S
            )
            if message is not None and message.get("type") == "message":
                self._receive(message["data"])

    def _receive(self, raw: bytes) -> None:
        try:
            origin, event = decode(raw)
        except BadMessage as exc:
            log.warning("ignored a message on the events channel", extra={"reason": str(exc)})
            return
        if origin != self.origin:
            self.deliver(event)
