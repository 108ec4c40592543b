"""Every request's spend record: one accounting scope per request, one row each.

A handler opens ``async with accounting(plane, incoming, call_type, caller) as
exchange:`` once the caller is known, and fills the ``Exchange`` in as the
request goes (model, route trace, usage, first chunk, status). The scope
records it exactly once on exit, after the handler's last byte, whether the
handler returned, raised a ``GatewayError`` (recorded with its status; the
ASGI entry then sends the error), saw the client leave, was cancelled or hit a
bug. Building the record (pricing, timestamps) happens here, off the
response's path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import orjson

from gateway.api.auth import Caller
from gateway.api.http import ClientGone, Incoming
from gateway.api.services import DataPlane
from gateway.errors import GatewayError, InternalError
from gateway.keys.gate import Admission
from gateway.ledger.record import SpendRecord
from gateway.observability.tracing import TracedRequest
from gateway.providers.base import Usage
from gateway.providers.transport import host_of
from gateway.router.request import HedgeLoss, RequestSpans, RouteTrace

CLIENT_GONE_STATUS = 499
CLIENT_GONE = "client_disconnected"
HEDGE_LOST = "hedge_lost"
MAX_END_USER_CHARS = 256


@dataclass(slots=True)
class Exchange:
    """One request's facts for the ledger, filled in as they become known."""

    request_id: str
    arrived: float  # monotonic
    call_type: str
    caller: Caller
    model: str = ""  # as the caller asked
    end_user: str | None = None
    stream: bool = False
    trace: RouteTrace | None = None
    usage: Usage | None = None
    served_model: str | None = None
    # Streams: the first chunk (read for the served model after the stream ends) and
    # when it was sent.
    first_chunk: bytes | None = None
    first_sent_at: float | None = None
    status: int = 200
    error_type: str | None = None
    recorded: bool = False
    # Answered from the response cache: recorded, but it cost nothing.
    cache_hit: bool = False
    # What a virtual key's limits hold for this request (released when it is recorded).
    admission: Admission | None = None
    # The request's trace (None: tracing is off).
    traced: TracedRequest | None = None

    @property
    def spans(self) -> RequestSpans | None:
        """What the router notes for the request's trace (None: tracing is off)."""
        return self.traced.spans if self.traced is not None else None

    def note_body(self, model: str, stream: bool, user: object, body: dict[str, Any]) -> None:
        self.model = model
        self.stream = stream
        if isinstance(user, str) and user:
            self.end_user = user[:MAX_END_USER_CHARS]
        if self.traced is not None:
            self.traced.body = body

    def note_served(self, model: object) -> None:
        """The model the upstream says served the request, when it says one."""
        self.served_model = model if isinstance(model, str) and model else None

    def note_answer(self, answer: dict[str, Any]) -> None:
        """A whole answer (for the trace's finish reasons; kept only when traced)."""
        if self.traced is not None:
            self.traced.answer = answer

    def fail(self, status: int, error_type: str) -> None:
        self.status = status
        self.error_type = error_type


@asynccontextmanager
async def accounting(
    plane: DataPlane, incoming: Incoming, call_type: str, caller: Caller | None = None
) -> AsyncIterator[Exchange]:
    """The request's ``Exchange``, recorded in the ledger once when the block exits."""
    exchange = Exchange(
        incoming.request_id, incoming.arrived, call_type, caller or plane.auth.caller
    )
    if plane.tracing is not None:
        headers = incoming.headers
        exchange.traced = plane.tracing.begin(
            incoming.scope.get("method", "POST"),
            incoming.scope.get("path", ""),
            headers.traceparent,
            headers.tracestate,
        )
    if plane.alerts is not None:
        plane.alerts.started(exchange)
    try:
        yield exchange
    except GatewayError as exc:
        exchange.fail(exc.http_status(), exc.label)
        raise
    except (ClientGone, asyncio.CancelledError):
        exchange.fail(CLIENT_GONE_STATUS, CLIENT_GONE)
        raise
    except Exception:
        exchange.fail(InternalError.status, InternalError.label)
        raise
    finally:
        record(plane, exchange)


def record(plane: DataPlane, exchange: Exchange) -> None:
    """Price the exchange and hand its record to the ledger (once)."""
    if exchange.recorded:
        return
    exchange.recorded = True
    spend = build_record(plane, exchange)
    plane.ledger.submit(spend)
    cost, tokens = spend.cost_usd, spend.prompt_tokens + spend.completion_tokens
    trace = exchange.trace
    if trace is not None and trace.hedge_losses:
        for lost in hedge_records(plane, spend, trace.hedge_losses):
            plane.ledger.submit(lost)
            if lost.cost_usd is not None:
                cost = (cost or 0.0) + lost.cost_usd
            tokens += lost.prompt_tokens + lost.completion_tokens
    if exchange.admission is not None:
        plane.auth.settle(exchange.admission, cost, tokens)
    upstream = trace.upstream_seconds if trace is not None else 0.0
    overhead = max(0.0, spend.latency_ms / 1000.0 - upstream)
    requested = (trace.requested_group if trace is not None else "") or spend.model_group
    labels = plane.metric_labels
    group, requested_group = labels.group(spend.model_group), labels.group(requested)
    deployment = labels.deployment(spend.deployment_id)
    plane.metrics.request_finished(
        spend,
        overhead,
        upstream,
        group=group,
        requested_group=requested_group,
        deployment=deployment,
    )
    if plane.alerts is not None:
        plane.alerts.finished(exchange, spend, group, requested_group, deployment)
    if plane.activity is not None:
        plane.activity.finished(spend)
    if plane.cache is not None:
        plane.metrics.cache_lookup(exchange.cache_hit)
    if plane.events is not None:
        plane.events.offer(spend)
    if exchange.traced is not None and plane.tracing is not None:
        plane.tracing.export(exchange.traced, spend, trace)


def build_record(plane: DataPlane, exchange: Exchange) -> SpendRecord:
    now_wall = time.time()
    now = time.monotonic()
    elapsed = max(0.0, now - exchange.arrived)
    trace = exchange.trace
    usage = exchange.usage or Usage()
    deployment_id = (trace.deployment_id or None) if trace is not None else None
    served = exchange.served_model or _model_of(exchange.first_chunk)
    if served is None and deployment_id is not None:
        served = plane.prices.configured_model(deployment_id)
    # Nothing used costs nothing, priced or not; otherwise an unknown price stays unknown.
    cost: float | None = 0.0
    if (usage.prompt_tokens or usage.completion_tokens) and not exchange.cache_hit:
        price = plane.prices.lookup(deployment_id, served)
        cost = None if price is None else price.cost(usage)
    ttft = None
    if exchange.first_sent_at is not None:
        ttft = max(0.0, exchange.first_sent_at - exchange.arrived) * 1000.0
    return SpendRecord(
        request_id=exchange.request_id,
        started_at=now_wall - elapsed,
        ended_at=now_wall,
        call_type=exchange.call_type,
        key_hash=exchange.caller.key_hash,
        key_alias=exchange.caller.key_alias,
        team_id=exchange.caller.team_id,
        user_id=exchange.caller.user_id,
        end_user=exchange.end_user,
        model_group=(trace.model_group if trace is not None else "") or exchange.model,
        deployment_id=deployment_id,
        provider=(trace.provider or None) if trace is not None else None,
        model=served,
        api_base_host=host_of(trace.api_base) if trace is not None else None,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost_usd=cost,
        latency_ms=elapsed * 1000.0,
        ttft_ms=ttft,
        status=exchange.status,
        error_type=exchange.error_type,
        cache_hit=exchange.cache_hit,
        attempts=trace.attempts if trace is not None else 0,
        fallbacks=tuple(trace.fallbacks) if trace is not None else (),
        stream=exchange.stream,
    )


def hedge_records(
    plane: DataPlane, spend: SpendRecord, losses: list[HedgeLoss]
) -> list[SpendRecord]:
    """A row for each attempt that lost a hedge race: ``<request id>:hedge`` (the second
    attempt lost) or ``<request id>:primary`` (the first did), status 499 and error type
    ``hedge_lost``, with what its upstream reported. A cancelled attempt reported
    nothing: its tokens are 0 and its cost unknown (NULL), since a provider may bill
    the part of a prompt it read."""
    records = []
    for loss in losses:
        usage = loss.usage
        cost: float | None = None
        served = plane.prices.configured_model(loss.deployment_id)
        if usage is not None:
            price = plane.prices.lookup(loss.deployment_id, served)
            if price is not None:
                cost = price.cost(usage)
        records.append(
            replace(
                spend,
                request_id=f"{spend.request_id}:{loss.role}",
                deployment_id=loss.deployment_id,
                provider=loss.provider,
                model=served,
                api_base_host=host_of(loss.api_base),
                prompt_tokens=usage.prompt_tokens if usage is not None else 0,
                completion_tokens=usage.completion_tokens if usage is not None else 0,
                cached_tokens=usage.cached_tokens if usage is not None else 0,
                cache_write_tokens=usage.cache_write_tokens if usage is not None else 0,
                cost_usd=cost,
                latency_ms=loss.seconds * 1000.0,
                ttft_ms=None,
                status=CLIENT_GONE_STATUS,
                error_type=HEDGE_LOST,
                cache_hit=False,
                attempts=1,
                fallbacks=(),
            )
        )
    return records


def _model_of(chunk: bytes | None) -> str | None:
    if not chunk:
        return None
    try:
        parsed = orjson.loads(chunk)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    model = parsed.get("model")
    if model is None and isinstance(parsed.get("message"), dict):
        model = parsed["message"].get("model")  # a Messages stream's message_start
    return model if isinstance(model, str) and model else None
