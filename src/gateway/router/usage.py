"""usage-based-routing (and -v2): the most rpm/tpm headroom in the current minute.

Headroom is the share of a deployment's limit still free this minute, counted
fleet-wide (the smaller of the rpm and the tpm share when it has both). Among
deployments without limits, and between equal headroom, the one that used the
fewest tokens this minute wins (LiteLLM's rule), then one at random. No
deployment is ever sent past its limit: the rpm/tpm admission that every
strategy goes through still refuses it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.router.groups import Deployment
from gateway.router.stats import RoutingStats


class MostHeadroom:
    name = "usage-based-routing"

    def __init__(self, stats: RoutingStats, rng: random.Random) -> None:
        self._stats = stats
        self._rng = rng

    def headroom(self, deployment: Deployment, now: float) -> tuple[float, int]:
        requests, tokens = self._stats.usage(deployment.id, now)
        params = deployment.spec.params
        free = 1.0
        if params.rpm is not None:
            free = min(free, 1.0 - requests / params.rpm if params.rpm else 0.0)
        if params.tpm is not None:
            free = min(free, 1.0 - tokens / params.tpm if params.tpm else 0.0)
        return free, tokens

    def pick(self, candidates: Sequence[Deployment], stream: bool, now: float) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        scored = [(self.headroom(d, now), d) for d in candidates]
        best_free = max(free for (free, _), _ in scored)
        roomiest = [(tokens, d) for (free, tokens), d in scored if free == best_free]
        fewest = min(tokens for tokens, _ in roomiest)
        pool = [d for tokens, d in roomiest if tokens == fewest]
        return pool[self._rng.randrange(len(pool))]
