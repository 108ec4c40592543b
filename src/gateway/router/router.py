"""The router: from a model group to an answer, through retries, cooldowns and fallbacks.

The walk, top to bottom:

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.config.model import GatewayConfig
from gateway.errors import (
    ContextWindowExceeded,
    DeadlineExceeded,
    GatewayError,
    InvalidRequest,
    NoDeploymentAvailable,
    RateLimited,
    UpstreamError,
)
from gateway.providers.base import ChunkStream, StreamChunk, UpstreamCall, UpstreamResult, Usage
from gateway.router.backoff import backoff_seconds
from gateway.router.budget import RetryBudget
from gateway.router.chains import ChainPlanner, FallbackOverrides, NoOverrides
from gateway.router.classify import Cooldown, FallbackKind, Retry, Verdict, classify
from gateway.router.cooldown import CooldownStore, Cooling, Health, InProcessCooldowns
from gateway.router.groups import Deployment, ModelGroup, ModelGroups
from gateway.router.limits import UsageLimits
from gateway.router.observer import LoggingObserver, RouterObserver
from gateway.router.policy import RouterPolicy
from gateway.router.precall import clearly_too_long, estimate_prompt_tokens
from gateway.router.request import RouteRequest, RouteTrace
from gateway.router.shuffle import pick
from gateway.state.windows import MinuteWindows

T = TypeVar("T")
Attempt = Callable[[Deployment, UpstreamCall], Awaitable[T]]
# How one attempt is made on a deployment, when the caller decides it per deployment
# (the Responses API: passed through to some, translated for others).
SendAttempt = Attempt[UpstreamResult]
StreamAttempt = Attempt[ChunkStream]


@dataclass(slots=True)
class _Walk:
    """One request's journey: what was tried and how it went."""

    request: RouteRequest
    trace: RouteTrace
    trail: list[str] = field(default_factory=list)
    estimate: int | None = None
    # Unavailability seen in the group asked for (for the last-resort probe).
    primary_cooling: dict[str, Cooling] = field(default_factory=dict)
    primary_limited: bool = False

    def note(self, group: str, deployment_id: str, error: GatewayError) -> None:
        status = getattr(error, "upstream_status", None) or error.http_status()
        self.trail.append(f"{group}/{deployment_id}: {error.label} ({status})")

    def describe(self) -> str:
        return "; ".join(self.trail) if self.trail else "nothing could be tried"


@dataclass(slots=True)
class _GroupFailed:
    error: GatewayError
    kind: FallbackKind


@dataclass(slots=True)
class _Unavailable:
    """Why a group had no deployment to offer."""

    cooling: dict[str, Cooling] = field(default_factory=dict)
    limited_for: float | None = None
    too_long: list[str] = field(default_factory=list)


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
        self._rng = rng or random.Random()

    @property
    def groups(self) -> ModelGroups:
        return self._groups

    @property
    def policy(self) -> RouterPolicy:
        return self._policy

    @property
    def cooldowns(self) -> CooldownStore:
        return self._cooldowns

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
        return _TrackedStream(stream, self, deployment, trace.model_group), trace

    # --- the walk -----------------------------------------------------------

    async def _walk(
        self, request: RouteRequest, attempt: Attempt[T]
    ) -> tuple[T, Deployment, RouteTrace]:
        primary = self._entry_group(request)
        request.trace.model_group = primary.name
        request.trace.requested_group = primary.name
        walk = _Walk(request, request.trace)
        visited = {primary.name}
        pending: list[Iterator[str]] = []
        group = primary
        hops = 0
        last: _GroupFailed | None = None
        while True:
            outcome = await self._serve_group(group, walk, attempt, group is primary)
            if not isinstance(outcome, _GroupFailed):
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
        self, group: ModelGroup, walk: _Walk, attempt: Attempt[T], is_primary: bool
    ) -> tuple[T, Deployment] | _GroupFailed:
        tried: set[str] = set()
        retries = 0
        last_error: UpstreamError | None = None
        last_kind = FallbackKind.GENERAL
        while True:
            self._check_deadline(walk)
            now = time.time()
            chosen = await self._choose(group, walk, tried, now)
            if isinstance(chosen, _Unavailable):
                if last_error is not None:
                    return _GroupFailed(last_error, last_kind)
                return self._unavailable(group, chosen, walk, is_primary, now)
            deployment, probing = chosen
            try:
                result = await self._attempt(deployment, walk, attempt, now)
            except UpstreamError as error:
                verdict = classify(error)
                self._on_failure(group, deployment, error, verdict, probing=probing, walk=walk)
                tried.add(deployment.id)
                last_error, last_kind = error, verdict.fallback
                if verdict.retry is Retry.NEVER:
                    return _GroupFailed(error, verdict.fallback)
                if retries >= self._policy.retries_for(group.name, verdict.policy_class):
                    return _GroupFailed(error, verdict.fallback)
                if not self._budget.try_spend(deployment.id, time.time()):
                    return _GroupFailed(error, verdict.fallback)
                retries += 1
                if self._any_available(group, walk, exclude=tried):
                    self._observer.retried(
                        walk.request.request_id, group.name, deployment.id, error, 0.0
                    )
                    continue
                if verdict.retry is Retry.OTHER_DEPLOYMENT or not self._any_available(
                    group, walk, exclude=set()
                ):
                    # Waiting helps only if a deployment of this group can take the retry.
                    return _GroupFailed(error, verdict.fallback)
                wait = backoff_seconds(retries, error.retry_after)
                if wait >= walk.request.deadline - time.monotonic():
                    return _GroupFailed(error, verdict.fallback)
                self._observer.retried(
                    walk.request.request_id, group.name, deployment.id, error, wait
                )
                await asyncio.sleep(wait)
                tried.clear()
                continue
            except BaseException:
                if probing:
                    self._cooldowns.release_probe(deployment.id)
                raise
            if self._cooldowns.record_success(deployment.id):
                self._observer.recovered(group.name, deployment.id)
            walk.trace.model_group = group.name
            return result, deployment

    async def _attempt(
        self, deployment: Deployment, walk: _Walk, attempt: Attempt[T], now: float
    ) -> T:
        remaining = walk.request.deadline - time.monotonic()
        params = deployment.spec.params
        call = UpstreamCall(
            operation=walk.request.operation,
            body=walk.request.body,
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
        started = time.monotonic()
        try:
            return await attempt(deployment, call)
        finally:
            trace.upstream_seconds += time.monotonic() - started

    def _check_deadline(self, walk: _Walk) -> None:
        if time.monotonic() >= walk.request.deadline:
            raise DeadlineExceeded(
                f"The request timed out after {walk.request.timeout:g}s "
                f"(request_timeout). Tried: {walk.describe()}."
            )

    # --- choosing a deployment ------------------------------------------------

    async def _choose(
        self, group: ModelGroup, walk: _Walk, tried: set[str], now: float
    ) -> tuple[Deployment, bool] | _Unavailable:
        """A deployment to try and whether it is a half-open probe, or why there is none."""
        unavailable = _Unavailable()
        preferred = await self._preferred(group, walk, tried, now, unavailable)
        if preferred is not None:
            return preferred, False
        # Tier by tier (lowest order first), an untried deployment beats one that
        # already failed this request; only when none is left is a failed one retried.
        retry_pool: list[Deployment] = []
        for tier in group.tiers:
            ready, probes = self._eligible(tier, walk, now, unavailable)
            # A deployment whose cooldown just ended gets the next request as its probe.
            for deployment in probes:
                if await self._admit(deployment, now, unavailable) and self._cooldowns.claim_probe(
                    deployment.id, now
                ):
                    return deployment, True
            untried = [d for d in ready if d.id not in tried]
            chosen = await self._pick_admitted(untried, now, unavailable)
            if chosen is not None:
                return chosen, False
            if not retry_pool:
                retry_pool = ready
        chosen = await self._pick_admitted(retry_pool, now, unavailable)
        if chosen is not None:
            return chosen, False
        return unavailable

    async def _preferred(
        self, group: ModelGroup, walk: _Walk, tried: set[str], now: float, unavailable: _Unavailable
    ) -> Deployment | None:
        """The deployment the request asks for (it holds the request's state), when healthy."""
        wanted = walk.request.prefer
        if wanted is None or wanted in tried:
            return None
        deployment = next((d for d in group.deployments if d.id == wanted), None)
        if deployment is None or self._cooldowns.health(deployment.id, now)[0] is not Health.OK:
            return None
        return deployment if await self._admit(deployment, now, unavailable) else None

    async def _pick_admitted(
        self, candidates: list[Deployment], now: float, unavailable: _Unavailable
    ) -> Deployment | None:
        while candidates:
            deployment = pick(candidates, self._rng)
            if await self._admit(deployment, now, unavailable):
                return deployment
            candidates = [d for d in candidates if d is not deployment]
        return None

    def _eligible(
        self, tier: list[Deployment], walk: _Walk, now: float, unavailable: _Unavailable
    ) -> tuple[list[Deployment], list[Deployment]]:
        ready: list[Deployment] = []
        probes: list[Deployment] = []
        for deployment in tier:
            if self._policy.pre_call_checks and self._too_long(deployment, walk):
                unavailable.too_long.append(deployment.id)
                continue
            health, cooling = self._cooldowns.health(deployment.id, now)
            if health is Health.OK:
                ready.append(deployment)
            elif health is Health.PROBE_READY:
                probes.append(deployment)
            elif cooling is not None:
                unavailable.cooling[deployment.id] = cooling
        return ready, probes

    async def _admit(self, deployment: Deployment, now: float, unavailable: _Unavailable) -> bool:
        params = deployment.spec.params
        if params.rpm is None and params.tpm is None:
            return True
        wait = await self._limits.try_acquire(deployment.id, params.rpm, params.tpm, now)
        if wait is None:
            return True
        if unavailable.limited_for is None or wait < unavailable.limited_for:
            unavailable.limited_for = wait
        return False

    def _too_long(self, deployment: Deployment, walk: _Walk) -> bool:
        limit = deployment.spec.info.max_input_tokens
        if limit is None:
            return False
        if walk.estimate is None:
            walk.estimate = estimate_prompt_tokens(walk.request.body)
        return clearly_too_long(walk.estimate, limit)

    def _any_available(self, group: ModelGroup, walk: _Walk, *, exclude: set[str]) -> bool:
        """Whether a deployment outside ``exclude`` could take a request now."""
        now = time.time()
        for tier in group.tiers:
            for deployment in tier:
                if deployment.id in exclude:
                    continue
                if self._policy.pre_call_checks and self._too_long(deployment, walk):
                    continue
                if self._cooldowns.health(deployment.id, now)[0] is not Health.COOLING:
                    return True
        return False

    def _unavailable(
        self,
        group: ModelGroup,
        unavailable: _Unavailable,
        walk: _Walk,
        is_primary: bool,
        now: float,
    ) -> _GroupFailed:
        if is_primary:
            walk.primary_cooling = dict(unavailable.cooling)
            walk.primary_limited = unavailable.limited_for is not None
        if unavailable.too_long and not unavailable.cooling and unavailable.limited_for is None:
            error: GatewayError = ContextWindowExceeded(
                f"The request (about {walk.estimate} tokens) is longer than the context "
                f"window of every deployment of {group.name!r}.",
                upstream_status=400,
            )
            walk.trail.append(f"{group.name}: context window too small (pre-call check)")
            return _GroupFailed(error, FallbackKind.CONTEXT_WINDOW)
        if unavailable.limited_for is not None and not unavailable.cooling:
            walk.trail.append(f"{group.name}: every deployment at its rpm/tpm limit")
            return _GroupFailed(
                RateLimited(
                    f"Every deployment of {group.name!r} is at its rpm/tpm limit; "
                    f"retry in {unavailable.limited_for:.0f}s.",
                    retry_after=unavailable.limited_for,
                ),
                FallbackKind.GENERAL,
            )
        walk.trail.append(f"{group.name}: every deployment cooling down")
        return _GroupFailed(
            _all_cooling(group.name, unavailable.cooling, now), FallbackKind.GENERAL
        )

    async def _last_resort_probe(
        self, group: ModelGroup, walk: _Walk, attempt: Attempt[T]
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
            self._on_failure(group, deployment, error, verdict, probing=True, walk=walk)
            now = time.time()
            cooling = dict(walk.primary_cooling)
            current = self._cooldowns.health(deployment.id, now)[1]
            if current is not None:
                cooling[deployment.id] = current
            raise _all_cooling(group.name, cooling, now) from error
        if self._cooldowns.record_success(deployment.id):
            self._observer.recovered(group.name, deployment.id)
        walk.trace.model_group = group.name
        return result, deployment, walk.trace

    # --- bookkeeping ------------------------------------------------------------

    def _on_failure(
        self,
        group: ModelGroup,
        deployment: Deployment,
        error: UpstreamError,
        verdict: Verdict,
        *,
        probing: bool,
        walk: _Walk | None,
    ) -> None:
        if walk is not None:
            walk.note(group.name, deployment.id, error)
            self._observer.attempt_failed(walk.request.request_id, group.name, deployment.id, error)
        if verdict.cooldown is Cooldown.NO and not probing:
            return
        now = time.time()
        cooldown_time = self._cooldown_time(deployment)
        if probing or verdict.cooldown is Cooldown.AT_ONCE:
            reason = "its half-open probe failed" if probing else f"{error.label} from upstream"
            self._cool(group, deployment, now + cooldown_time, f"{reason}: {error.message}")
            return
        if verdict.cooldown is Cooldown.AT_ONCE_IF_GROUP_HAS_OTHERS and len(group.deployments) > 1:
            seconds = min(
                error.retry_after if error.retry_after is not None else cooldown_time,
                self._policy.max_retry_after_cooldown,
            )
            self._cool(group, deployment, now + seconds, f"rate limited (429): {error.message}")
            return
        error_class = verdict.policy_class
        if error_class in self._policy.allowed_fails_policy:
            allowed = self._policy.allowed_fails_policy[error_class]
            counter = error_class
        else:
            own = deployment.spec.info.allowed_fails
            allowed = own if own is not None else self._policy.allowed_fails
            counter = "*"
        window = max(cooldown_time, 1.0)
        if self._cooldowns.record_failure(deployment.id, counter, allowed, window, now):
            self._cool(
                group,
                deployment,
                now + cooldown_time,
                f"{allowed + 1} failures within {window:g}s, last: {error.label}",
            )

    def _cool(self, group: ModelGroup, deployment: Deployment, until: float, reason: str) -> None:
        cooling = self._cooldowns.cool(deployment.id, until, reason[:300])
        self._observer.cooled_down(group.name, deployment.id, cooling)

    def _cooldown_time(self, deployment: Deployment) -> float:
        own = deployment.spec.info.cooldown_time
        return own if own is not None else self._policy.cooldown_time

    def _charge_tokens(self, deployment: Deployment, usage: Usage | None) -> None:
        if usage is not None and deployment.spec.params.tpm is not None:
            self._limits.add_tokens(deployment.id, usage.total_tokens, time.time())

    def stream_failed(self, deployment: Deployment, group_name: str, error: UpstreamError) -> None:
        """A stream broke after its first chunk: it still counts against the deployment."""
        group = self._groups.get(group_name)
        if group is not None:
            self._on_failure(group, deployment, error, classify(error), probing=False, walk=None)

    def stream_finished(self, deployment: Deployment, usage: Usage | None) -> None:
        self._charge_tokens(deployment, usage)

    def _final(self, error: GatewayError, walk: _Walk) -> GatewayError:
        if walk.trace.attempts > 1 or walk.trace.fallbacks:
            error.message = f"{error.message} (tried: {walk.describe()})"
        return error


def _all_cooling(group: str, cooling: dict[str, Cooling], now: float) -> NoDeploymentAvailable:
    if not cooling:
        return NoDeploymentAvailable(f"No deployment of {group!r} can take this request now.")
    soonest = min(c.until for c in cooling.values())
    details = "; ".join(
        f"{deployment_id} until {time.strftime('%H:%M:%S', time.gmtime(c.until))}Z "
        f"({max(0.0, c.until - now):.0f}s): {c.reason}"
        for deployment_id, c in sorted(cooling.items(), key=lambda item: item[1].until)
    )
    return NoDeploymentAvailable(
        f"Every deployment of {group!r} is cooling down: {details}",
        retry_after=max(1.0, soonest - now),
    )


async def _send(deployment: Deployment, call: UpstreamCall) -> UpstreamResult:
    return await deployment.provider.send(call)


async def _open_stream(deployment: Deployment, call: UpstreamCall) -> ChunkStream:
    return await deployment.provider.open_stream(call)


class _TrackedStream:
    """Reports a stream's end to the router: tokens for limits, failures for cooldowns."""

    def __init__(
        self, stream: ChunkStream, router: Router, deployment: Deployment, group: str
    ) -> None:
        self._stream = stream
        self._router = router
        self._deployment = deployment
        self._group = group

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        usage: Usage | None = None
        try:
            async for chunk in self._stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                yield chunk
        except UpstreamError as error:
            self._router.stream_failed(self._deployment, self._group, error)
            raise
        self._router.stream_finished(self._deployment, usage)

    async def aclose(self) -> None:
        await self._stream.aclose()
