"""The load test's arithmetic: percentiles, req/s and counts per model. Pure functions.

Percentiles use the nearest-rank method: the p-th percentile of n sorted
values is the value at rank ceil(p/100 * n) (1-based), so it is always one of
the measured values. Latency percentiles are over successful requests only:
a fast error would otherwise flatter them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.loadtest.records import RequestRecord

ALL_MODELS = "all"


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def elapsed(records: Iterable[RequestRecord]) -> float:
    """From the first request's start to the last one's end, in seconds (0 when none)."""
    starts, ends = [], []
    for record in records:
        starts.append(record.started)
        ends.append(record.ended)
    if not starts:
        return 0.0
    return max(ends) - min(starts)


@dataclass(slots=True)
class Summary:
    """What the table shows for one model (or for ``all``). Latencies in seconds."""

    model: str
    requests: int = 0
    ok: int = 0
    rps: float = 0.0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    ttfb_p50: float | None = None
    errors: int = 0
    errors_by_status: dict[str, int] = field(default_factory=dict)
    # The first error message seen for each kind, to tell what went wrong.
    first_errors: dict[str, str] = field(default_factory=dict)
    rate_limited: int = 0
    fallbacks: int = 0
    cache_hits: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def summarize(records: Sequence[RequestRecord], model: str, seconds: float) -> Summary:
    """The summary of ``records`` (all of one model, or all models), over ``seconds``."""
    latencies = [r.latency for r in records if r.ok]
    ttfbs = [r.ttfb for r in records if r.ok and r.ttfb is not None]
    by_status: Counter[str] = Counter(r.error_kind for r in records if r.error_kind is not None)
    first_errors: dict[str, str] = {}
    for record in records:
        if record.error_kind is not None and record.error_kind not in first_errors:
            first_errors[record.error_kind] = record.error or ""
    return Summary(
        model=model,
        requests=len(records),
        ok=len(latencies),
        rps=len(records) / seconds if seconds > 0 else 0.0,
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        p99=percentile(latencies, 99),
        max=max(latencies) if latencies else None,
        ttfb_p50=percentile(ttfbs, 50),
        errors=sum(by_status.values()),
        errors_by_status=dict(sorted(by_status.items())),
        first_errors=dict(sorted(first_errors.items())),
        rate_limited=sum(1 for r in records if r.status == 429),
        fallbacks=sum(1 for r in records if r.fallbacks),
        cache_hits=sum(1 for r in records if r.cache == "hit"),
    )


def summarize_by_model(
    records: Sequence[RequestRecord], seconds: float | None = None
) -> list[Summary]:
    """One summary per model in first-seen order, then ``all`` when there are several.

    ``seconds`` is the run's wall time; by default, the span of the records.
    """
    span = elapsed(records) if seconds is None else seconds
    grouped: dict[str, list[RequestRecord]] = {}
    for record in records:
        grouped.setdefault(record.model, []).append(record)
    summaries = [summarize(rows, model, span) for model, rows in grouped.items()]
    if len(grouped) > 1:
        summaries.append(summarize(records, ALL_MODELS, span))
    return summaries


def error_rate(records: Sequence[RequestRecord]) -> float:
    if not records:
        return 0.0
    return sum(1 for r in records if not r.ok) / len(records)
