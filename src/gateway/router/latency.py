"""latency-based-routing: the deployment answering fastest lately, without stampeding it.

Each deployment's latency is a moving average (time to first chunk for
streams, the whole answer otherwise), the fleet's freshest estimate. A pick is
a power of two choices: two candidates at random, the one with the lower
latency x (1 + requests in flight) wins, so the fastest deployment takes most
traffic but not all of it once it queues. With ``lowest_latency_buffer`` (as
in LiteLLM), every deployment within that share of the best score is as good,
and one of them is picked at random. A deployment with no estimate, or none
newer than ``explore_after_s``, gets one request in that time to (re)measure
it; an estimate older than ``ttl`` is forgotten.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from gateway.config.schema import RoutingStrategyArgs
from gateway.router.groups import Deployment
from gateway.router.stats import RoutingStats


class LowestLatency:
    name = "latency-based-routing"

    def __init__(self, stats: RoutingStats, rng: random.Random, args: RoutingStrategyArgs) -> None:
        self._stats = stats
        self._rng = rng
        self._ttl = args.ttl
        self._buffer = args.lowest_latency_buffer
        self._explore_after = args.explore_after_s

    def score(self, deployment: Deployment, stream: bool, now: float) -> float:
        estimate = self._stats.latency(deployment.id, stream=stream)
        if estimate is None or now - estimate.at > self._ttl:
            return math.inf
        return estimate.seconds * (1 + self._stats.in_flight(deployment.id))

    def pick(self, candidates: Sequence[Deployment], stream: bool, now: float) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        for deployment in self._rng.sample(list(candidates), len(candidates)):
            if self._stale(deployment, stream, now) and self._stats.claim_exploration(
                deployment.id, now, self._explore_after
            ):
                return deployment
        if self._buffer > 0:
            scores = [self.score(d, stream, now) for d in candidates]
            bar = min(scores) * (1 + self._buffer)
            fast = [d for d, s in zip(candidates, scores, strict=True) if s <= bar]
            return fast[self._rng.randrange(len(fast))] if fast else candidates[0]
        first, second = self._rng.sample(list(candidates), 2)
        first_score, second_score = self.score(first, stream, now), self.score(second, stream, now)
        if first_score == second_score:
            return first  # already a random one of the two
        return first if first_score < second_score else second

    def _stale(self, deployment: Deployment, stream: bool, now: float) -> bool:
        estimate = self._stats.latency(deployment.id, stream=stream)
        return estimate is None or now - estimate.at > self._explore_after
