"""The concurrent HTTP loop: ``concurrency`` workers send chat requests until done.

aiohttp is the client because a load generator must not be the bottleneck:
it costs a fraction of httpx's default transport per request (see the README's
performance section). Each worker sends one request at a time; a run ends
after ``requests`` requests or, with ``duration``, when no worker may start
another (requests already sent are waited for, up to ``timeout`` each).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.loadtest.bodies import Template, build_body, pick, stamp_text
from gateway.loadtest.records import (
    CONNECTION_ERROR,
    KIND_CONNECTION,
    KIND_STREAM,
    KIND_TIMEOUT,
    RequestRecord,
)

CHAT_PATH = "/v1/chat/completions"
MAX_ERROR_TEXT = 300


@dataclass(frozen=True, slots=True)
class Plan:
    base_url: str
    api_key: str | None
    models: Sequence[str | None]  # None: the model named in the fixture
    templates: Sequence[Template]
    concurrency: int
    requests: int | None
    duration: float | None
    stream: bool
    timeout: float


@dataclass(slots=True)
class Progress:
    """Counters the progress line reads while the run goes on."""

    started_at: float = 0.0
    sent: int = 0
    done: int = 0
    errors: int = 0


def chat_url(base_url: str) -> str:
    """Accepts ``http://host:port`` or ``http://host:port/v1``."""
    base = base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    return base + CHAT_PATH


async def run(plan: Plan, progress: Progress) -> tuple[list[RequestRecord], float]:
    """Send the plan's requests; return every record and the run's wall time in seconds."""
    url = chat_url(plan.base_url)
    headers = {"Content-Type": "application/json"}
    if plan.api_key:
        headers["Authorization"] = f"Bearer {plan.api_key}"
    connector = aiohttp.TCPConnector(limit=plan.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=plan.timeout)
    records: list[RequestRecord] = []
    started = time.monotonic()
    progress.started_at = started
    stop_at = started + plan.duration if plan.duration is not None else None
    counter = iter(range(plan.requests if plan.requests is not None else 2**62))

    def next_index() -> int | None:
        if stop_at is not None and time.monotonic() >= stop_at:
            return None
        return next(counter, None)

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, trust_env=False
    ) as session:

        async def worker() -> None:
            while (index := next_index()) is not None:
                progress.sent += 1
                record = await _one(session, url, plan, index, started)
                records.append(record)
                progress.done += 1
                if not record.ok:
                    progress.errors += 1

        await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    records.sort(key=lambda r: r.index)
    return records, time.monotonic() - started


async def _one(
    session: aiohttp.ClientSession, url: str, plan: Plan, index: int, run_start: float
) -> RequestRecord:
    model = pick(plan.models, index)
    template = pick(plan.templates, index)
    body = build_body(template, model, plan.stream, stamp_text(index))
    payload = orjson.dumps(body)
    record = RequestRecord(
        index=index, model=body["model"], stream=plan.stream, started=0.0, latency=0.0, status=0
    )
    began = time.monotonic()
    record.started = began - run_start
    try:
        async with session.post(url, data=payload) as response:
            _read_headers(record, response)
            if response.status != 200:
                raw = await response.read()
                record.error_kind = str(response.status)
                record.error = _error_message(raw)
            elif plan.stream:
                await _read_stream(record, response, began)
            else:
                raw = await response.read()
                _read_usage(record, _json(raw))
    except TimeoutError:
        record.status = record.status or CONNECTION_ERROR
        record.error_kind = KIND_TIMEOUT
        record.error = f"no complete answer within {plan.timeout:g}s"
    except aiohttp.ClientError as exc:
        record.status = record.status or CONNECTION_ERROR
        broke_off = plan.stream and record.status == 200
        record.error_kind = KIND_STREAM if broke_off else KIND_CONNECTION
        record.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
    record.latency = time.monotonic() - began
    return record


def _read_headers(record: RequestRecord, response: aiohttp.ClientResponse) -> None:
    record.status = response.status
    headers = response.headers
    record.request_id = headers.get("x-request-id")
    record.model_group = headers.get("x-gateway-model-group")
    record.deployment = headers.get("x-gateway-deployment")
    fallbacks = headers.get("x-gateway-fallbacks")
    if fallbacks:
        record.fallbacks = [name.strip() for name in fallbacks.split(",") if name.strip()]
    record.cache = headers.get("x-gateway-cache")


async def _read_stream(
    record: RequestRecord, response: aiohttp.ClientResponse, began: float
) -> None:
    """Read server-sent events to ``[DONE]``; an error event or a cut-off is a stream error."""
    finished = False
    async for raw_line in response.content:
        line = raw_line.strip()
        if not line.startswith(b"data:"):
            continue
        if record.ttfb is None:
            record.ttfb = time.monotonic() - began
        data = line[5:].strip()
        if data == b"[DONE]":
            finished = True
            break
        event = _json(data)
        if event is None:
            continue
        if "error" in event and not event.get("choices"):
            record.error_kind = KIND_STREAM
            record.error = _error_message(data)
            return
        _read_usage(record, event)
    if not finished:
        record.error_kind = KIND_STREAM
        record.error = "the stream ended without data: [DONE]"


def _read_usage(record: RequestRecord, body: dict[str, Any] | None) -> None:
    usage = body.get("usage") if body else None
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        record.prompt_tokens = prompt if isinstance(prompt, int) else None
        record.completion_tokens = completion if isinstance(completion, int) else None


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _error_message(raw: bytes) -> str:
    body = _json(raw)
    error = body.get("error") if body else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:MAX_ERROR_TEXT]
    return raw[:MAX_ERROR_TEXT].decode("utf-8", "replace")
