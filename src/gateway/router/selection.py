"""Choosing a deployment of a group: the preferred one, a half-open probe, or a healthy one.

Tier by tier (lowest ``order`` first), skipping deployments that are cooling,
at their rpm/tpm limit or (with pre-call checks) too small for the prompt; an
untried deployment beats one that already failed this request. When none can
be chosen, ``unavailable`` says why, as the error the group fails with.
"""

from __future__ import annotations

import time

from gateway.errors import ContextWindowExceeded, GatewayError, NoDeploymentAvailable, RateLimited
from gateway.router.affinity import SessionPin
from gateway.router.classify import FallbackKind
from gateway.router.cooldown import CooldownStore, Cooling, Health
from gateway.router.groups import Deployment, ModelGroup
from gateway.router.limits import UsageLimits
from gateway.router.policy import RouterPolicy
from gateway.router.precall import clearly_too_long, estimate_prompt_tokens
from gateway.router.strategy import Strategies, Strategy
from gateway.router.tags import tagged
from gateway.router.walk import GroupFailed, Unavailable, Walk


class Selector:
    def __init__(
        self,
        policy: RouterPolicy,
        cooldowns: CooldownStore,
        limits: UsageLimits,
        strategies: Strategies,
    ) -> None:
        self._policy = policy
        self._cooldowns = cooldowns
        self._limits = limits
        self._strategies = strategies

    async def choose(
        self,
        group: ModelGroup,
        walk: Walk,
        tried: set[str],
        now: float,
        pin: SessionPin | None = None,
        *,
        untried_only: bool = False,
    ) -> tuple[Deployment, bool] | Unavailable:
        """A deployment to try and whether it is a half-open probe, or why there is none;
        ``untried_only``: never one in ``tried``."""
        unavailable = Unavailable()
        for wanted in (walk.request.prefer, pin.deployment_id if pin is not None else None):
            if wanted is None or wanted in tried:
                continue
            preferred, limited = await self._preferred(group, walk, wanted, now, unavailable)
            if preferred is not None:
                return preferred, False
            if limited and pin is not None and wanted == pin.deployment_id:
                pin.at_limit = True  # healthy, only at its limit: the pin stays
        # Tier by tier (lowest order first), an untried deployment beats one that
        # already failed this request; only when none is left is a failed one retried.
        strategy = self._strategies.for_group(group)
        stream = walk.request.stream
        retry_pool: list[Deployment] = []
        for tier in self.tiers(group, walk):
            ready, probes = self._eligible(tier, walk, now, unavailable)
            # A deployment whose cooldown just ended gets the next request as its probe.
            for deployment in probes:
                if await self._admit(deployment, now, unavailable) and self._cooldowns.claim_probe(
                    deployment.id, now
                ):
                    return deployment, True
            untried = [d for d in ready if d.id not in tried]
            chosen = await self._pick_admitted(strategy, untried, stream, now, unavailable)
            if chosen is not None:
                return chosen, False
            if not retry_pool and not untried_only:
                retry_pool = ready
        chosen = await self._pick_admitted(strategy, retry_pool, stream, now, unavailable)
        if chosen is not None:
            return chosen, False
        return unavailable

    def tiers(self, group: ModelGroup, walk: Walk) -> list[list[Deployment]]:
        """The group's tiers, less the deployments the request's tags rule out."""
        allowed = self._allowed(group, walk)
        if allowed is None:
            return group.tiers
        tiers = [[d for d in tier if d.id in allowed] for tier in group.tiers]
        return [tier for tier in tiers if tier]

    def _allowed(self, group: ModelGroup, walk: Walk) -> frozenset[str] | None:
        if not self._policy.tag_filtering:
            return None
        if group.name not in walk.allowed:
            walk.allowed[group.name] = tagged(
                group, walk.request.tags, match_any=self._policy.tag_match_any
            )
        return walk.allowed[group.name]

    async def _preferred(
        self, group: ModelGroup, walk: Walk, wanted: str, now: float, unavailable: Unavailable
    ) -> tuple[Deployment | None, bool]:
        """``wanted`` (the deployment holding the request's state, or its session's), when
        it is in the group, healthy, allowed by the tags and within its limits; and
        whether its limits alone refused it."""
        deployment = next((d for d in group.deployments if d.id == wanted), None)
        if deployment is None or self._cooldowns.health(deployment.id, now)[0] is not Health.OK:
            return None, False
        if self._policy.pre_call_checks and self._too_long(deployment, walk):
            return None, False
        allowed = self._allowed(group, walk)
        if allowed is not None and deployment.id not in allowed:
            return None, False
        if await self._admit(deployment, now, unavailable):
            return deployment, False
        return None, True

    async def _pick_admitted(
        self,
        strategy: Strategy,
        candidates: list[Deployment],
        stream: bool,
        now: float,
        unavailable: Unavailable,
    ) -> Deployment | None:
        while candidates:
            deployment = strategy.pick(candidates, stream, now)
            if await self._admit(deployment, now, unavailable):
                return deployment
            candidates = [d for d in candidates if d is not deployment]
        return None

    def _eligible(
        self, tier: list[Deployment], walk: Walk, now: float, unavailable: Unavailable
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
                spans = walk.request.spans
                if spans is not None:
                    spans.event(
                        "gateway.cooldown_skip",
                        {
                            "gateway.deployment": deployment.id,
                            "gateway.cooling_until": cooling.until,
                            "gateway.reason": cooling.reason,
                        },
                    )
        return ready, probes

    async def _admit(self, deployment: Deployment, now: float, unavailable: Unavailable) -> bool:
        params = deployment.spec.params
        if params.rpm is None and params.tpm is None:
            return True
        wait = await self._limits.try_acquire(deployment.id, params.rpm, params.tpm, now)
        if wait is None:
            return True
        if unavailable.limited_for is None or wait < unavailable.limited_for:
            unavailable.limited_for = wait
        return False

    def _too_long(self, deployment: Deployment, walk: Walk) -> bool:
        limit = deployment.spec.info.max_input_tokens
        if limit is None:
            return False
        if walk.estimate is None:
            walk.estimate = estimate_prompt_tokens(walk.request.body)
        return clearly_too_long(walk.estimate, limit)

    def any_available(self, group: ModelGroup, walk: Walk, *, exclude: set[str]) -> bool:
        """Whether a deployment outside ``exclude`` could take a request now."""
        now = time.time()
        for tier in self.tiers(group, walk):
            for deployment in tier:
                if deployment.id in exclude:
                    continue
                if self._policy.pre_call_checks and self._too_long(deployment, walk):
                    continue
                if self._cooldowns.health(deployment.id, now)[0] is not Health.COOLING:
                    return True
        return False

    def unavailable(
        self,
        group: ModelGroup,
        unavailable: Unavailable,
        walk: Walk,
        is_primary: bool,
        now: float,
    ) -> GroupFailed:
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
            return GroupFailed(error, FallbackKind.CONTEXT_WINDOW)
        if unavailable.limited_for is not None and not unavailable.cooling:
            walk.trail.append(f"{group.name}: every deployment at its rpm/tpm limit")
            return GroupFailed(
                RateLimited(
                    f"Every deployment of {group.name!r} is at its rpm/tpm limit; "
                    f"retry in {unavailable.limited_for:.0f}s.",
                    retry_after=unavailable.limited_for,
                ),
                FallbackKind.GENERAL,
            )
        walk.trail.append(f"{group.name}: every deployment cooling down")
        return GroupFailed(all_cooling(group.name, unavailable.cooling, now), FallbackKind.GENERAL)


def all_cooling(group: str, cooling: dict[str, Cooling], now: float) -> NoDeploymentAvailable:
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
