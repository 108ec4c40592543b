"""The end-of-run table: one row per model, then the errors by status."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.loadtest.stats import Summary

MESSAGE_WIDTH = 160
COLUMNS = (
    ("model", "<"),
    ("requests", ">"),
    ("ok", ">"),
    ("req/s", ">"),
    ("P50 ms", ">"),
    ("P95 ms", ">"),
    ("P99 ms", ">"),
    ("max ms", ">"),
    ("TTFB P50 ms", ">"),
    ("errors", ">"),
    ("429s", ">"),
    ("fallbacks", ">"),
    ("cache hits", ">"),
)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000.0:,.1f}"


def _row(summary: Summary, stream: bool) -> list[str]:
    return [
        summary.model,
        f"{summary.requests:,}",
        f"{summary.ok:,}",
        f"{summary.rps:,.2f}",
        _ms(summary.p50),
        _ms(summary.p95),
        _ms(summary.p99),
        _ms(summary.max),
        _ms(summary.ttfb_p50) if stream else "-",
        f"{summary.errors:,}",
        f"{summary.rate_limited:,}",
        f"{summary.fallbacks:,}",
        f"{summary.cache_hits:,}",
    ]


def render(summaries: Sequence[Summary], *, stream: bool, seconds: float) -> str:
    rows = [[name for name, _ in COLUMNS], *(_row(s, stream) for s in summaries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(row, COLUMNS, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append("")
    lines.append(f"{seconds:.1f}s; latencies are of successful requests.")
    failing = [s for s in summaries if s.errors_by_status and s.model != "all"]
    if failing:
        lines.append("errors by status:")
        for summary in failing:
            counts = ", ".join(f"{kind} x{n}" for kind, n in summary.errors_by_status.items())
            lines.append(f"  {summary.model}: {counts}")
            for kind, message in summary.first_errors.items():
                lines.append(f"    first {kind}: {message[:MESSAGE_WIDTH]}")
    return "\n".join(lines)
