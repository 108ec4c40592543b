"""cost-based-routing: the cheapest healthy deployment, ties at random.

A deployment's price is its input plus output cost per token, from
``model_info`` or the shipped price table; one with no known price is picked
only when no priced deployment can take the request.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from gateway.config.model import DeploymentSpec
from gateway.router.groups import Deployment

MAX_PRICED = 4096
# A deployment's input + output price per token, or None when unknown.
PriceOf = Callable[[DeploymentSpec], float | None]


class CheapestFirst:
    name = "cost-based-routing"

    def __init__(self, price_of: PriceOf, rng: random.Random) -> None:
        self._price_of = price_of
        self._rng = rng
        self._prices: dict[str, float] = {}

    def price(self, deployment: Deployment) -> float:
        price = self._prices.get(deployment.id)
        if price is None:
            if len(self._prices) >= MAX_PRICED:
                self._prices.clear()  # wildcard deployments: one per name asked
            known = self._price_of(deployment.spec)
            price = self._prices[deployment.id] = math.inf if known is None else known
        return price

    def pick(self, candidates: Sequence[Deployment], stream: bool, now: float) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        prices = [self.price(d) for d in candidates]
        cheapest = min(prices)
        pool = [d for d, price in zip(candidates, prices, strict=True) if price == cheapest]
        return pool[self._rng.randrange(len(pool))]
