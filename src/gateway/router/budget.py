"""The retry budget: retries may be at most a share of recent requests per deployment.

A failing provider then cannot multiply its own load by ``num_retries``. When
traffic is low, ``min_per_window`` retries are always allowed, so a quiet
gateway retries exactly as configured.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Counts:
    bucket: int = 0
    requests: int = 0
    retries: int = 0
    previous_requests: int = 0
    previous_retries: int = 0


class RetryBudget:
    def __init__(self, ratio: float, min_per_window: int, window: float) -> None:
        self._ratio = ratio
        self._min = min_per_window
        self._window = window
        self._counts: dict[str, _Counts] = {}

    def record_attempt(self, deployment_id: str, now: float) -> None:
        self._current(deployment_id, now).requests += 1

    def try_spend(self, deployment_id: str, now: float) -> bool:
        counts = self._current(deployment_id, now)
        # A sliding window approximated from the current and previous buckets.
        elapsed = (now / self._window) % 1.0
        requests = counts.requests + counts.previous_requests * (1.0 - elapsed)
        retries = counts.retries + counts.previous_retries * (1.0 - elapsed)
        if retries >= max(self._min, self._ratio * requests):
            return False
        counts.retries += 1
        return True

    def _current(self, deployment_id: str, now: float) -> _Counts:
        bucket = int(now // self._window)
        counts = self._counts.get(deployment_id)
        if counts is None:
            counts = self._counts[deployment_id] = _Counts(bucket)
        elif counts.bucket != bucket:
            adjacent = counts.bucket == bucket - 1
            counts.previous_requests = counts.requests if adjacent else 0
            counts.previous_retries = counts.retries if adjacent else 0
            counts.bucket, counts.requests, counts.retries = bucket, 0, 0
        return counts
