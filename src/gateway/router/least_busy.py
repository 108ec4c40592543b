"""least-busy: the deployment with the fewest requests in flight, fleet-wide.

Ties are broken at random (LiteLLM's version favours the first deployment
listed). A stream counts as in flight until its last chunk.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.router.groups import Deployment
from gateway.router.stats import RoutingStats


class LeastBusy:
    name = "least-busy"

    def __init__(self, stats: RoutingStats, rng: random.Random) -> None:
        self._stats = stats
        self._rng = rng

    def pick(self, candidates: Sequence[Deployment], stream: bool, now: float) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        loads = [self._stats.in_flight(d.id) for d in candidates]
        fewest = min(loads)
        idle = [d for d, load in zip(candidates, loads, strict=True) if load == fewest]
        return idle[self._rng.randrange(len(idle))]
