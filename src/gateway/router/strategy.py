"""Routing strategies: how a deployment is picked among the healthy candidates of a tier.

Every strategy answers one question, ``pick(candidates, stream, now)``, over
deployments already filtered by cooldowns, tags and pre-call checks; the rpm/tpm
admission that follows a pick applies to all of them alike. The strategy of a
group is ``router_settings.model_group_routing_strategy[group]``, else any of
its deployments' ``model_info.routing_strategy``, else ``routing_strategy``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from gateway.config.model import GatewayConfig
from gateway.config.routing_summary import strategy_of
from gateway.router.cost import CheapestFirst, PriceOf
from gateway.router.groups import Deployment, ModelGroup
from gateway.router.latency import LowestLatency
from gateway.router.least_busy import LeastBusy
from gateway.router.shuffle import SimpleShuffle
from gateway.router.stats import RoutingStats
from gateway.router.usage import MostHeadroom

# The strategies that read the fleet's load, so that processes must share it.
FLEET_STRATEGIES = frozenset(
    {"least-busy", "latency-based-routing", "usage-based-routing", "usage-based-routing-v2"}
)


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    def pick(self, candidates: Sequence[Deployment], stream: bool, now: float) -> Deployment:
        """One of ``candidates`` (never empty)."""


class Strategies:
    """One instance of each strategy a config uses, and which group uses which."""

    def __init__(
        self,
        config: GatewayConfig,
        stats: RoutingStats,
        rng: random.Random,
        price_of: PriceOf | None = None,
    ) -> None:
        settings = config.file.router_settings
        args = settings.routing_strategy_args
        self._made: dict[str, Strategy] = {
            "simple-shuffle": SimpleShuffle(rng),
            "least-busy": LeastBusy(stats, rng),
            "latency-based-routing": LowestLatency(stats, rng, args),
            "usage-based-routing": MostHeadroom(stats, rng),
            "cost-based-routing": CheapestFirst(price_of or _no_price, rng),
        }
        self._made["usage-based-routing-v2"] = self._made["usage-based-routing"]
        self._default = self._made[settings.routing_strategy]
        names: dict[str, str] = dict(settings.model_group_routing_strategy)
        for group in config.group_names():
            names[group] = strategy_of(config, group)
        self._by_group = {group: self._made[name] for group, name in names.items()}
        self.names_in_use = frozenset({settings.routing_strategy, *names.values()})

    def for_group(self, group: ModelGroup) -> Strategy:
        return self._by_group.get(group.name, self._default)

    def name_for(self, group_name: str) -> str:
        return self._by_group.get(group_name, self._default).name

    @property
    def needs_fleet_stats(self) -> bool:
        return not FLEET_STRATEGIES.isdisjoint(self.names_in_use)


def _no_price(spec: object) -> float | None:
    return None
