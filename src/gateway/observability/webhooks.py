"""Per-request events to webhook sinks: ``success_callback`` / ``failure_callback``.

Sinks (LiteLLM's names and environment variables):

- ``webhook`` (also ``generic``, ``generic_api``): a JSON array of events POSTed to
  ``GENERIC_LOGGER_ENDPOINT``, with ``GENERIC_LOGGER_HEADERS`` (``k=v,k2=v2``).
- ``posthog``: PostHog's ``/batch/`` API at ``POSTHOG_API_URL`` (default
  ``https://us.i.posthog.com``) with ``POSTHOG_API_KEY``, as ``$ai_generation`` events.

An event is the request's spend record: who, which model and deployment,
tokens, cost, latency, status — never the prompt or the key. The request path
only puts the record on a bounded queue (dropped and counted when full); a
background task sends batches with retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateway.errors import UpstreamConnectionError
from gateway.ledger.record import SpendRecord
from gateway.providers.transport import UpstreamPool
from gateway.supervisor import Supervisor, cancel

log = logging.getLogger(__name__)

GENERIC_NAMES = frozenset({"webhook", "generic", "generic_api"})
POSTHOG = "posthog"
DEFAULT_POSTHOG_URL = "https://us.i.posthog.com"
QUEUE_SIZE = 10_000
BATCH_SIZE = 100
FLUSH_EVERY_S = 2.0
SEND_TIMEOUT_S = 10.0
SEND_ATTEMPTS = 3


class SinkError(Exception):
    """A sink answered with an error status."""


@dataclass(frozen=True, slots=True)
class Sink:
    name: str
    url: str
    headers: dict[str, str]
    encode: Callable[[list[dict[str, Any]]], bytes]


def event_of(record: SpendRecord) -> dict[str, Any]:
    event = dataclasses.asdict(record)
    event["event"] = "success" if record.status < 400 else "failure"
    return event


def _generic_body(events: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(events)


def _posthog_encoder(api_key: str) -> Callable[[list[dict[str, Any]]], bytes]:
    def encode(events: list[dict[str, Any]]) -> bytes:
        batch = [
            {
                "event": "$ai_generation",
                "distinct_id": e["key_alias"] or e["key_hash"] or e["end_user"] or "gateway",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["ended_at"])),
                "properties": {
                    "$ai_trace_id": e["request_id"],
                    "$ai_model": e["model"] or e["model_group"],
                    "$ai_provider": e["provider"],
                    "$ai_input_tokens": e["prompt_tokens"],
                    "$ai_output_tokens": e["completion_tokens"],
                    "$ai_latency": e["latency_ms"] / 1000.0,
                    "$ai_http_status": e["status"],
                    "$ai_is_error": e["status"] >= 400,
                    "$ai_total_cost_usd": e["cost_usd"],
                    **{f"gateway_{k}": v for k, v in e.items() if k != "event"},
                },
            }
            for e in events
        ]
        return orjson.dumps({"api_key": api_key, "batch": batch})

    return encode


def build_sinks(names: list[str], env: Mapping[str, str]) -> tuple[list[Sink], list[str]]:
    """The sinks named in a callback list, and a problem for each one that cannot run."""
    sinks: list[Sink] = []
    problems: list[str] = []
    for name in dict.fromkeys(names):
        if name in GENERIC_NAMES:
            url = env.get("GENERIC_LOGGER_ENDPOINT")
            if not url:
                problems.append(f"{name}: GENERIC_LOGGER_ENDPOINT is not set; events not sent")
                continue
            sinks.append(
                Sink(name, url, _headers(env.get("GENERIC_LOGGER_HEADERS", "")), _generic_body)
            )
        elif name == POSTHOG:
            key = env.get("POSTHOG_API_KEY")
            if not key:
                problems.append("posthog: POSTHOG_API_KEY is not set; events not sent")
                continue
            base = env.get("POSTHOG_API_URL", DEFAULT_POSTHOG_URL).rstrip("/")
            sinks.append(Sink(name, f"{base}/batch/", {}, _posthog_encoder(key)))
    return sinks, problems


def _headers(spec: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


class EventSinks:
    """Success events to one set of sinks, failure events to another; off the hot path."""

    def __init__(
        self,
        pool: UpstreamPool,
        on_success: list[Sink],
        on_failure: list[Sink],
        *,
        tasks: Supervisor | None = None,
    ) -> None:
        self._tasks = tasks if tasks is not None else Supervisor()
        self._pool = pool
        self._success = on_success
        self._failure = on_failure
        self._queue: asyncio.Queue[SpendRecord] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.failed_batches = 0

    @property
    def enabled(self) -> bool:
        return bool(self._success or self._failure)

    def offer(self, record: SpendRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        self._task = self._tasks.spawn(self._run(), name="webhook-sinks")

    async def stop(self) -> None:
        """Send what is queued (bounded by one flush), then stop."""
        task, self._task = self._task, None
        await cancel(task)
        await self._flush(self._drain())

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await asyncio.sleep(FLUSH_EVERY_S if self._queue.qsize() < BATCH_SIZE else 0)
            await self._flush([first, *self._drain()])

    def _drain(self) -> list[SpendRecord]:
        records: list[SpendRecord] = []
        while len(records) < BATCH_SIZE * 10 and not self._queue.empty():
            records.append(self._queue.get_nowait())
        return records

    async def _flush(self, records: list[SpendRecord]) -> None:
        if not records:
            return
        events = [event_of(r) for r in records]
        successes = [e for e in events if e["event"] == "success"]
        failures = [e for e in events if e["event"] == "failure"]
        sends = [
            self._send(sink, chunk)
            for group, sinks in ((successes, self._success), (failures, self._failure))
            for sink in sinks
            for chunk in _chunks(group)
        ]
        await asyncio.gather(*sends)

    async def _send(self, sink: Sink, events: list[dict[str, Any]]) -> None:
        payload = sink.encode(events)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(SEND_ATTEMPTS),
                wait=wait_exponential(multiplier=0.5, max=5),
                retry=retry_if_exception_type((UpstreamConnectionError, SinkError)),
                reraise=True,
            ):
                with attempt:
                    status = await self._pool.post_json(
                        sink.url, payload, sink.headers, SEND_TIMEOUT_S
                    )
                    if status >= 500 or status == 429:
                        raise SinkError(f"{sink.name} answered {status}")
                    if status >= 400:
                        log.warning(
                            "webhook sink refused events",
                            extra={"sink": sink.name, "status": status},
                        )
        except (UpstreamConnectionError, SinkError) as exc:
            self.failed_batches += 1
            log.warning(
                "webhook sink unreachable; batch dropped",
                extra={"sink": sink.name, "error": str(exc)},
            )


def _chunks(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [events[i : i + BATCH_SIZE] for i in range(0, len(events), BATCH_SIZE)]
