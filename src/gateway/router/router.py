"""The router: from a model group to an answer, through retries, cooldowns and fallbacks.

The walk, top to bottom (choosing a deployment is ``selection``'s job, what a
failure does to it ``failures``'s):

1. Resolve the group asked for (aliases, then an operator's redirect).
2. Serve it: pick a healthy deployment (simple-shuffle within the lowest
   ``order`` tier, skipping cooling deployments and those at their rpm/tpm
   limit), try it with what is left of the deadline, and on failure retry per
   the error's class: onto another deployment at once, else after a backoff.
3. When the group is spent, follow the fallback chain for that kind of error,
   depth first, never visiting a group twice, at most ``max_fallbacks`` hops.
4. When nothing was even tried because everything is cooling, probe the
   deployment whose cooldown ends first; if that fails too, answer 429 with
   ``Retry-After`` and a message naming each deployment and why it is cooling.

One deadline bounds the whole walk; each attempt gets what is left of it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import TypeVar

from gateway.config.model import GatewayConfig, with_defaults
from gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.providers.base import ChunkStream, Operation, UpstreamCall, UpstreamResult, Usage
from gateway.providers.propagation import TRACEPARENT
from gateway.router.affinity import Affinity, PinStore
from gateway.router.backoff import backoff_seconds
from gateway.router.budget import RetryBudget
from gateway.router.chains import ChainPlanner, FallbackOverrides, NoOverrides
from gateway.router.classify import FallbackKind, Retry, classify
from gateway.router.cooldown import CooldownStore, InProcessCooldowns
from gateway.router.cost import PriceOf
from gateway.router.failures import Failures, TrackedStream
from gateway.router.groups import Deployment, ModelGroup, ModelGroups
from gateway.router.hedge import Hedger
from gateway.router.limits import UsageLimits
from gateway.router.observer import LoggingObserver, RouterObserver
from gateway.router.policy import RouterPolicy
from gateway.router.request import RequestSpans, RouteRequest, RouteTrace, new_span_id
from gateway.router.selection import Selector, all_cooling
from gateway.router.stats import RoutingStats
from gateway.router.strategy import Strategies
from gateway.router.walk import AttemptFailed, GroupFailed, Unavailable, Walk
from gateway.state.pins import LocalPins
from gateway.state.windows import MinuteWindows

T = TypeVar("T")
# Operations that take a deployment's request defaults (max_tokens, temperature, ...).
DEFAULTED_OPERATIONS = frozenset({Operation.CHAT, Operation.COMPLETION})
Attempt = Callable[[Deployment, UpstreamCall], Awaitable[T]]
# How one attempt is made on a deployment, when the caller decides it per deployment
# (the Responses API: passed through to some, translated for others).
SendAttempt = Attempt[UpstreamResult]
StreamAttempt = Attempt[ChunkStream]


class Router:
    def __init__(
        self,
        config: GatewayConfig,
        groups: ModelGroups,
        *,
        cooldowns: CooldownStore | None = None,
        limits: UsageLimits | None = None,
        overrides: FallbackOverrides | None = None,
        observer: RouterObserver | None = None,
        rng: random.Random | None = None,
        stats: RoutingStats | None = None,
        price_of: PriceOf | None = None,
        pins: PinStore | None = None,
    ) -> None:
        self._config = config
        self._groups = groups
        self._policy = RouterPolicy.from_config(config)
        self._chains = ChainPlanner(config, overrides or NoOverrides())
        self._cooldowns = cooldowns or InProcessCooldowns()
        self._limits = limits or MinuteWindows()
        self._observer = observer or LoggingObserver()
        self._budget = RetryBudget(
            self._policy.retry_budget_ratio,
            self._policy.retry_budget_min,
            self._policy.retry_budget_window,
        )
        settings = config.file.router_settings
        self._stats = stats or RoutingStats(settings.routing_strategy_args.latency_ewma_alpha)
        self._strategies = Strategies(config, self._stats, rng or random.Random(), price_of)
        self._selector = Selector(self._policy, self._cooldowns, self._limits, self._strategies)
        self._failures = Failures(self._policy, self._cooldowns, self._observer)
        self._hedger = Hedger(
            self._selector,
            self._failures,
            budget=self._budget,
            cooldowns=self._cooldowns,
            stats=self._stats,
            observer=self._observer,
            charge_tokens=self._charge_tokens,
        )
        self._affinity: Affinity | None = None
        ttl = self._policy.affinity_ttl
        if ttl is not None:
            store = pins if pins is not None else LocalPins()
            store.configure(ttl, self._policy.affinity_max_sessions)
            self._affinity = Affinity(store, self._observer)

    @property
    def groups(self) -> ModelGroups:
        return self._groups

    @property
    def policy(self) -> RouterPolicy:
        return self._policy

    @property
    def cooldowns(self) -> CooldownStore:
        return self._cooldowns

    @property
    def affinity_enabled(self) -> bool:
        """Whether requests should name their session (``RouteRequest.session``)."""
        return self._affinity is not None

    @property
    def stats(self) -> RoutingStats:
        return self._stats

    @property
    def strategies(self) -> Strategies:
        return self._strategies

    def fallback_chain(self, group: str) -> tuple[str, ...]:
        """The groups tried after ``group`` fails with a general error (no request's own
        ``fallbacks``), as in force now."""
        return self._chains.chain(group, FallbackKind.GENERAL, None)

    # --- entry points -------------------------------------------------------

    async def send(
        self, request: RouteRequest, via: SendAttempt | None = None
    ) -> tuple[UpstreamResult, RouteTrace]:
        result, deployment, trace = await self._walk(request, via or _send)
        self._charge_tokens(deployment, result.usage)
        return result, trace

    async def open_stream(
        self, request: RouteRequest, via: StreamAttempt | None = None
    ) -> tuple[ChunkStream, RouteTrace]:
        stream, deployment, trace = await self._walk(request, via or _open_stream)
        tracked = TrackedStream(
            stream,
            partial(self._charge_tokens, deployment),
            partial(self._stream_failed, deployment, trace.model_group),
            partial(self._stats.ended, deployment.id),
        )
        return tracked, trace

    # --- the walk -----------------------------------------------------------

    async def _walk(
        self, request: RouteRequest, attempt: Attempt[T]
    ) -> tuple[T, Deployment, RouteTrace]:
        primary = self._entry_group(request)
        request.trace.model_group = primary.name
        request.trace.requested_group = primary.name
        walk = Walk(request, request.trace)
        visited = {primary.name}
        pending: list[Iterator[str]] = []
        group = primary
        hops = 0
        last: GroupFailed | None = None
        while True:
            outcome = await self._serve_group(group, walk, attempt, group is primary)
            if not isinstance(outcome, GroupFailed):
                return outcome[0], outcome[1], walk.trace
            last = outcome
            if outcome.kind is FallbackKind.NONE:
                # A client error: the request itself is wrong, no other group will differ.
                raise self._final(outcome.error, walk)
            if not request.disable_fallbacks:
                chain = self._chains.chain(
                    group.name, outcome.kind, request.fallbacks if group is primary else None
                )
                if chain:
                    pending.append(iter(chain))
            following = self._next_group(pending, visited)
            if following is None or hops >= self._policy.max_fallbacks:
                break
            hops += 1
            visited.add(following.name)
            self._observer.fell_back(
                request.request_id, group.name, following.name, outcome.error.label
            )
            walk.trace.fallbacks.append(following.name)
            if request.spans is not None:
                request.spans.event(
                    "gateway.fallback",
                    {
                        "gateway.from_group": group.name,
                        "gateway.to_group": following.name,
                        "error.type": outcome.error.label,
                    },
                )
            group = following
        # A walk that ran out of time says so, whatever its last attempt said.
        self._check_deadline(walk)
        if walk.trace.attempts == 0 and walk.primary_cooling and not walk.primary_limited:
            return await self._last_resort_probe(primary, walk, attempt)
        assert last is not None
        raise self._final(last.error, walk)

    def _entry_group(self, request: RouteRequest) -> ModelGroup:
        group = self._groups.resolve(request.model)
        redirect = self._chains.overrides.redirect(group.name)
        if redirect is not None:
            target = self._groups.get(redirect)
            if target is not None:
                group = target
        if request.fallbacks:
            for index, name in enumerate(request.fallbacks):
                if self._groups.get(name) is None:
                    raise InvalidRequest(
                        f"fallbacks[{index}]: unknown model {name!r}. Available models: "
                        + ", ".join(self._groups.public_names()),
                        param="fallbacks",
                    )
        return group

    def _next_group(self, pending: list[Iterator[str]], visited: set[str]) -> ModelGroup | None:
        while pending:
            for name in pending[-1]:
                group = self._groups.get(name)
                if group is not None and group.name not in visited:
                    return group
            pending.pop()
        return None

    async def _serve_group(
        self, group: ModelGroup, walk: Walk, attempt: Attempt[T], is_primary: bool
    ) -> tuple[T, Deployment] | GroupFailed:
        tried: set[str] = set()
        retries = 0
        last_error: UpstreamError | None = None
        last_kind = FallbackKind.GENERAL
        session, affinity = walk.request.session, self._affinity
        pin = None
        if session is not None and affinity is not None:
            pin = await affinity.lookup(group, session, time.time())
        hedge_after = self._policy.hedge_delay(group.name) if len(group.deployments) > 1 else None
        while True:
            self._check_deadline(walk)
            now = time.time()
            chosen = await self._selector.choose(group, walk, tried, now, pin)
            if isinstance(chosen, Unavailable):
                if last_error is not None:
                    return GroupFailed(last_error, last_kind)
                return self._selector.unavailable(group, chosen, walk, is_primary, now)
            deployment, probing = chosen
            try:
                result, deployment = await self._try(
                    group,
                    (deployment, probing),
                    walk,
                    attempt,
                    tried=tried,
                    hedge_after=hedge_after,
                )
            except AttemptFailed as failed:
                deployment, probing, error = failed.deployment, failed.probing, failed.error
                verdict = classify(error)
                self._failures.on_failure(
                    group, deployment, error, verdict, probing=probing, walk=walk
                )
                tried.add(deployment.id)
                last_error, last_kind = error, verdict.fallback
                if verdict.retry is Retry.NEVER:
                    return GroupFailed(error, verdict.fallback)
                if retries >= self._policy.retries_for(group.name, verdict.policy_class):
                    return GroupFailed(error, verdict.fallback)
                if not self._budget.try_spend(deployment.id, time.time()):
                    return GroupFailed(error, verdict.fallback)
                retries += 1
                if self._selector.any_available(group, walk, exclude=tried):
                    self._observer.retried(
                        walk.request.request_id, group.name, deployment.id, error, 0.0
                    )
                    _note_retry(walk, deployment, error, 0.0)
                    continue
                if verdict.retry is Retry.OTHER_DEPLOYMENT or not self._selector.any_available(
                    group, walk, exclude=set()
                ):
                    # Waiting helps only if a deployment of this group can take the retry.
                    return GroupFailed(error, verdict.fallback)
                wait = backoff_seconds(retries, error.retry_after)
                if wait >= walk.request.deadline - time.monotonic():
                    return GroupFailed(error, verdict.fallback)
                self._observer.retried(
                    walk.request.request_id, group.name, deployment.id, error, wait
                )
                _note_retry(walk, deployment, error, wait)
                await asyncio.sleep(wait)
                tried.clear()
                continue
            except BaseException:
                if probing:
                    self._cooldowns.release_probe(deployment.id)
                raise
            if self._cooldowns.record_success(deployment.id):
                self._observer.recovered(group.name, deployment.id)
            if pin is not None and affinity is not None:
                await affinity.served(group, pin, deployment.id, time.time())
            walk.trace.model_group = group.name
            return result, deployment

    async def _attempt(
        self, deployment: Deployment, walk: Walk, attempt: Attempt[T], now: float
    ) -> T:
        remaining = walk.request.deadline - time.monotonic()
        params = deployment.spec.params
        body = walk.request.body
        if deployment.defaults and walk.request.operation in DEFAULTED_OPERATIONS:
            body = with_defaults(body, deployment.defaults)
        call = UpstreamCall(
            operation=walk.request.operation,
            body=body,
            stream=walk.request.stream,
            timeout=min(remaining, params.timeout) if params.timeout else remaining,
            stream_timeout=params.stream_timeout or self._config.stream_timeout,
            request_id=walk.request.request_id,
        )
        trace = walk.trace
        trace.attempts += 1
        trace.deployment_id = deployment.id
        trace.provider = deployment.provider.name
        trace.api_base = deployment.provider.api_base
        self._budget.record_attempt(deployment.id, now)
        spans = walk.request.spans
        stats = self._stats
        stats.started(deployment.id, now)
        started = time.monotonic()
        opened = timed_out = False
        try:
            if spans is None:
                result = await attempt(deployment, call)
            else:
                result = await _traced(spans, deployment, call, attempt)
            opened = True
            return result
        except UpstreamTimeout:
            timed_out = True
            raise
        finally:
            elapsed = time.monotonic() - started
            trace.upstream_seconds += elapsed
            if opened or timed_out:
                # A deployment that times out is at least this slow: latency routing learns it.
                stats.measured(deployment.id, elapsed, stream=call.stream, now=time.time())
            if not (opened and call.stream):
                stats.ended(deployment.id)  # an open stream ends in ``TrackedStream``

    async def _try(
        self,
        group: ModelGroup,
        chosen: tuple[Deployment, bool],
        walk: Walk,
        attempt: Attempt[T],
        *,
        tried: set[str],
        hedge_after: float | None,
    ) -> tuple[T, Deployment]:
        """One attempt, or a hedge race past ``hedge_after``: the answer and who gave it,
        else ``AttemptFailed`` naming the attempt that failed."""
        deployment, probing = chosen
        if hedge_after is not None:
            start = partial(self._start, walk=walk, attempt=attempt)
            return await self._hedger.race(
                group, walk, chosen, start, tried=tried, delay=hedge_after
            )
        try:
            return await self._attempt(deployment, walk, attempt, time.time()), deployment
        except UpstreamError as error:
            raise AttemptFailed(deployment, probing, error) from error

    def _start(self, deployment: Deployment, *, walk: Walk, attempt: Attempt[T]) -> Awaitable[T]:
        """An attempt of a hedge race."""
        return self._attempt(deployment, walk, attempt, time.time())

    def _check_deadline(self, walk: Walk) -> None:
        if time.monotonic() >= walk.request.deadline:
            raise DeadlineExceeded(
                f"The request timed out after {walk.request.timeout:g}s "
                f"(request_timeout). Tried: {walk.describe()}."
            )

    # --- choosing a deployment ------------------------------------------------

    async def _last_resort_probe(
        self, group: ModelGroup, walk: Walk, attempt: Attempt[T]
    ) -> tuple[T, Deployment, RouteTrace]:
        """Everything is cooling and nothing was tried: try the one that recovers first."""
        deployment_id = min(walk.primary_cooling, key=lambda d: walk.primary_cooling[d].until)
        deployment = next(d for d in group.deployments if d.id == deployment_id)
        walk.trace.fallbacks.clear()
        self._check_deadline(walk)
        try:
            result = await self._attempt(deployment, walk, attempt, time.time())
        except UpstreamError as error:
            verdict = classify(error)
            self._failures.on_failure(group, deployment, error, verdict, probing=True, walk=walk)
            now = time.time()
            cooling = dict(walk.primary_cooling)
            current = self._cooldowns.health(deployment.id, now)[1]
            if current is not None:
                cooling[deployment.id] = current
            raise all_cooling(group.name, cooling, now) from error
        if self._cooldowns.record_success(deployment.id):
            self._observer.recovered(group.name, deployment.id)
        walk.trace.model_group = group.name
        return result, deployment, walk.trace

    # --- bookkeeping ------------------------------------------------------------

    def _charge_tokens(self, deployment: Deployment, usage: Usage | None) -> None:
        if usage is None:
            return
        now = time.time()
        self._stats.add_tokens(deployment.id, usage.total_tokens, now)
        if deployment.spec.params.tpm is not None:
            self._limits.add_tokens(deployment.id, usage.total_tokens, now)

    def _stream_failed(self, deployment: Deployment, group_name: str, error: UpstreamError) -> None:
        """A stream broke after its first chunk: it still counts against the deployment."""
        group = self._groups.get(group_name)
        if group is not None:
            self._failures.on_failure(
                group, deployment, error, classify(error), probing=False, walk=None
            )

    def _final(self, error: GatewayError, walk: Walk) -> GatewayError:
        if walk.trace.attempts > 1 or walk.trace.fallbacks:
            error.message = f"{error.message} (tried: {walk.describe()})"
        return error


async def _traced(
    spans: RequestSpans, deployment: Deployment, call: UpstreamCall, attempt: Attempt[T]
) -> T:
    """An attempt that tells its upstream its trace context, noted for its span."""
    if not spans.sampled:
        # Nothing is recorded: the upstream still learns the trace and a span id of its own.
        token = TRACEPARENT.set(spans.traceparent(new_span_id()))
        try:
            return await attempt(deployment, call)
        finally:
            TRACEPARENT.reset(token)
    span = spans.open_attempt(deployment.model_group, deployment)
    token = TRACEPARENT.set(spans.traceparent(span.span_id))
    try:
        result = await attempt(deployment, call)
    except UpstreamError as error:
        span.error = error
        span.end_ns = time.time_ns()
        raise
    except asyncio.CancelledError:
        span.cancelled = True
        span.end_ns = time.time_ns()
        raise
    finally:
        TRACEPARENT.reset(token)
    if not call.stream:  # an open stream's span ends with the request
        span.end_ns = time.time_ns()
    return result


def _note_retry(walk: Walk, deployment: Deployment, error: UpstreamError, wait: float) -> None:
    spans = walk.request.spans
    if spans is not None:
        spans.event(
            "gateway.retry",
            {
                "gateway.deployment": deployment.id,
                "error.type": error.label,
                "gateway.wait_s": wait,
            },
        )


async def _send(deployment: Deployment, call: UpstreamCall) -> UpstreamResult:
    return await deployment.provider.send(call)


async def _open_stream(deployment: Deployment, call: UpstreamCall) -> ChunkStream:
    return await deployment.provider.open_stream(call)
