"""Sending alerts: deduplicated, batched, retried, and never on a request's path.

``Alerter.raise_alert`` is synchronous and cheap (a dict lookup and a queue
put): watchers call it from the router's callbacks and from their own timers.
A background task gathers what arrives within ``batch_window``, asks the fleet
whether each alert was already sent (Redis ``SET NX`` with the alert's TTL, so
two replicas seeing one failing deployment send one alert), and posts one
message per destination with retries. A destination that is down costs only
that task's time; every alert's fate is counted in ``gateway_alerts_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import Counter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateway.errors import UpstreamConnectionError
from gateway.observability.alerting.alert import Alert, slack_messages, webhook_body
from gateway.observability.alerting.settings import AlertSettings
from gateway.providers.transport import UpstreamPool
from gateway.state.guard import StateUnavailable
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger("gateway.alerts")

QUEUE_SIZE = 1000
SEND_TIMEOUT_S = 10.0
SEND_ATTEMPTS = 3
# The in-process memory of sent alerts is swept when it grows past this.
SWEEP_AT = 10_000

Claim = Callable[[str, float], Awaitable[bool]]


class DestinationError(Exception):
    """A destination answered with a status worth retrying."""


class Alerter:
    def __init__(
        self,
        settings: AlertSettings,
        pool: UpstreamPool,
        counter: Counter,
        claim: Claim | None = None,
        *,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self.settings = settings
        self._pool = pool
        self._counter = counter
        self._claim = claim
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(QUEUE_SIZE)
        self._quiet_until: dict[str, float] = {}  # dedup key -> monotonic
        self._task: asyncio.Task[None] | None = None
        self.source = {
            "service": "gateway",
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
        }

    def wants(self, alert_type: str) -> bool:
        return self.settings.wants(alert_type)

    def raise_alert(self, alert: Alert) -> None:
        """Queue ``alert`` unless it (by its key) was raised here within its TTL."""
        if not self.settings.wants(alert.type):
            return
        now = time.monotonic()
        key = alert.key()
        if self._quiet_until.get(key, 0.0) > now:
            self._count(alert.type, "all", "deduplicated")
            return
        if len(self._quiet_until) >= SWEEP_AT:
            self._quiet_until = {k: t for k, t in self._quiet_until.items() if t > now}
        self._quiet_until[key] = now + alert.ttl_s
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self._count(alert.type, "all", "dropped")
        if self.settings.args.log_to_console:
            log.warning(alert.title, extra={"alert_type": alert.type, "subject": alert.subject})

    def start(self) -> None:
        self._task = self._tasks.spawn(self._run(), name="alerts")

    async def stop(self) -> None:
        """Send what is queued (bounded by one send's retries), then stop."""
        task, self._task = self._task, None
        await cancel(task)
        pending = self._drain()
        if pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._deliver(pending)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await asyncio.sleep(self.settings.args.batch_window)
            try:
                await self._deliver([first, *self._drain()])
            except Exception:
                log.exception("alert delivery failed")

    def _drain(self) -> list[Alert]:
        alerts: list[Alert] = []
        while not self._queue.empty():
            alerts.append(self._queue.get_nowait())
        return alerts

    async def _deliver(self, alerts: list[Alert]) -> None:
        fresh = [alert for alert in alerts if await self._first_in_fleet(alert)]
        sends: list[Awaitable[None]] = []
        by_slack_url: dict[str, list[Alert]] = {}
        for alert in fresh:
            for url in self.settings.slack_for(alert.type):
                by_slack_url.setdefault(url, []).append(alert)
        for url, chunk in by_slack_url.items():
            for message in slack_messages(chunk, self.source):
                types = [a.type for a in chunk]
                sends.append(self._send("slack", url, message, types))
        if self.settings.webhook_url and fresh:
            body = webhook_body(fresh, self.source)
            sends.append(
                self._send("webhook", self.settings.webhook_url, body, [a.type for a in fresh])
            )
        await asyncio.gather(*sends)

    async def _first_in_fleet(self, alert: Alert) -> bool:
        if self._claim is None:
            return True
        try:
            if await self._claim(alert.key(), alert.ttl_s):
                return True
        except StateUnavailable:
            # Redis is away: a duplicate from another replica beats a missed alert.
            return True
        self._count(alert.type, "all", "deduplicated")
        return False

    async def _send(self, channel: str, url: str, body: dict[str, Any], types: list[str]) -> None:
        payload = orjson.dumps(body)
        result = "sent"
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(SEND_ATTEMPTS),
                wait=wait_exponential(multiplier=0.5, max=5),
                retry=retry_if_exception_type((UpstreamConnectionError, DestinationError)),
                reraise=True,
            ):
                with attempt:
                    status = await self._pool.post_json(url, payload, {}, SEND_TIMEOUT_S)
                    if status >= 500 or status == 429:
                        raise DestinationError(f"{channel} answered {status}")
                    if status >= 400:
                        # Refused for good (a revoked webhook, a payload Slack rejects).
                        result = "failed"
                        log.warning("alert refused", extra={"channel": channel, "status": status})
        except (UpstreamConnectionError, DestinationError) as exc:
            result = "failed"
            # The URL is a credential (Slack's carries its secret): never logged.
            log.warning("alert not delivered", extra={"channel": channel, "error": str(exc)})
        for alert_type in types:
            self._count(alert_type, channel, result)

    def _count(self, alert_type: str, channel: str, result: str) -> None:
        self._counter.labels(alert_type, channel, result).inc()
