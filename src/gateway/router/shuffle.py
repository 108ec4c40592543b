"""simple-shuffle: a weighted random pick among the candidates (the default)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gateway.router.groups import Deployment


def pick(candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    """Weighted by ``pick_weight`` when any candidate has one, else uniform."""
    if len(candidates) == 1:
        return candidates[0]
    if any(d.pick_weight is not None for d in candidates):
        # A deployment without a weight among weighted ones counts as weight 1.
        weights = [d.pick_weight if d.pick_weight is not None else 1.0 for d in candidates]
        return rng.choices(candidates, weights=weights, k=1)[0]
    return candidates[rng.randrange(len(candidates))]


class SimpleShuffle:
    name = "simple-shuffle"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, candidates: Sequence[Deployment], stream: bool, now: float) -> Deployment:
        return pick(candidates, self._rng)
