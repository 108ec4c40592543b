"""Medians over repeats, ratios between the proxies, and the markdown table.

Every number in a table is the median of the repeated runs of that cell. The
"added" latencies subtract the median of the mock hit directly, with the same
load generator, concurrency and pinning.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

MOCK, GATEWAY, LITELLM = "mock", "gateway", "litellm"
METRICS = ("rps", "cpu_ms_per_req", "p50_ms", "p99_ms", "errors", "requests")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats' surprises
    return ordered[int(rank) - 1]


def medians(runs: Iterable[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, float]]:
    """(target, stream, latency_ms, concurrency) -> median of each metric over repeats."""
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        key = (run["target"], run["stream"], run["latency_ms"], run["concurrency"])
        grouped[key].append(run)
    return {
        key: {
            metric: statistics.median(r[metric] for r in rows if r.get(metric) is not None)
            for metric in METRICS
            if any(r.get(metric) is not None for r in rows)
        }
        for key, rows in grouped.items()
    }


def ttfb_medians(probes: Iterable[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for probe in probes:
        grouped[(probe["target"], probe["latency_ms"])].append(probe)
    return {
        key: {
            metric: statistics.median(r[metric] for r in rows)
            for metric in ("ttfb_p50_ms", "ttfb_p99_ms", "total_p50_ms")
        }
        for key, rows in grouped.items()
    }


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    value = numerator / denominator
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _added(target: dict[str, float] | None, mock: dict[str, float] | None, metric: str) -> str:
    """The proxy's value minus the mock's. Below zero means within the noise: shown as is."""
    if not target or not mock or not target.get("requests"):
        return "-"
    return num(target[metric] - mock[metric])


def _added_pair(target: dict[str, float] | None, mock: dict[str, float] | None, short: bool) -> str:
    if short:
        return "-"
    return f"{_added(target, mock, 'p50_ms')} / {_added(target, mock, 'p99_ms')}"


def _too_short(cell: dict[str, float] | None, concurrency: int) -> bool:
    """Fewer completions than twice the connections: the run was short for this proxy."""
    return cell is not None and cell.get("requests", 0) < 2 * concurrency


def scenario_table(
    cells: dict[tuple[Any, ...], dict[str, float]],
    stream: bool,
    latencies: list[int],
    concurrencies: list[int],
) -> str:
    unit = "stream" if stream else "req"
    lines = [
        f"| upstream | c | mock alone req/s | gateway req/s | LiteLLM req/s | throughput x "
        f"| gateway CPU ms/{unit} | LiteLLM CPU ms/{unit} | CPU x "
        "| gateway added p50 / p99 ms | LiteLLM added p50 / p99 ms | errors gw / LiteLLM |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for latency in latencies:
        for concurrency in concurrencies:
            mock = cells.get((MOCK, stream, latency, concurrency))
            gateway = cells.get((GATEWAY, stream, latency, concurrency))
            litellm = cells.get((LITELLM, stream, latency, concurrency))
            if gateway is None and litellm is None:
                continue
            gw_rps = gateway["rps"] if gateway else None
            ll_rps = litellm["rps"] if litellm else None
            short = [_too_short(gateway, concurrency), _too_short(litellm, concurrency)]
            gw_cpu = gateway.get("cpu_ms_per_req") if gateway else None
            ll_cpu = litellm.get("cpu_ms_per_req") if litellm else None
            lines.append(
                f"| {latency} ms | {concurrency} | {num(mock['rps'] if mock else None)} "
                f"| {num(gw_rps)}{'*' if short[0] else ''} "
                f"| {num(ll_rps)}{'*' if short[1] else ''} "
                f"| {'-' if any(short) else _ratio(gw_rps, ll_rps)} "
                f"| {num(gw_cpu, 3)} | {num(ll_cpu)} | {_ratio(ll_cpu, gw_cpu)} "
                f"| {_added_pair(gateway, mock, short[0])} "
                f"| {_added_pair(litellm, mock, short[1])} "
                f"| {num(gateway['errors'] if gateway else None, 0)} "
                f"/ {num(litellm['errors'] if litellm else None, 0)} |"
            )
    return "\n".join(lines)


def ttfb_table(ttfb: dict[tuple[str, int], dict[str, float]], latencies: list[int]) -> str:
    lines = [
        "| upstream | mock alone p50 / p99 ms | gateway p50 / p99 ms | gateway added p50 ms "
        "| LiteLLM p50 / p99 ms | LiteLLM added p50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for latency in latencies:
        mock = ttfb.get((MOCK, latency))
        if mock is None:
            continue
        cells = [f"{num(mock['ttfb_p50_ms'])} / {num(mock['ttfb_p99_ms'])}"]
        for target in (GATEWAY, LITELLM):
            row = ttfb.get((target, latency))
            if row is None:
                cells += ["-", "-"]
                continue
            cells.append(f"{num(row['ttfb_p50_ms'])} / {num(row['ttfb_p99_ms'])}")
            cells.append(num(row["ttfb_p50_ms"] - mock["ttfb_p50_ms"]))
        lines.append(f"| {latency} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_table(memory: dict[str, dict[str, float]]) -> str:
    """RSS of the serving process, and of its whole tree (helpers such as a health process)."""
    lines = [
        "| proxy | idle RSS, serving process MiB | idle RSS, process tree MiB "
        "| after the runs, serving process MiB | after the runs, process tree MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for target, label in ((GATEWAY, "gateway"), (LITELLM, "LiteLLM proxy")):
        row = memory.get(target)
        if row:
            main_idle = row.get("idle_main_mib", row["idle_mib"])
            main_after = row.get("after_main_mib", row["after_mib"])
            lines.append(
                f"| {label} | {main_idle:.0f} | {row['idle_mib']:.0f} "
                f"| {main_after:.0f} | {row['after_mib']:.0f} |"
            )
    return "\n".join(lines)


def headline(cells: dict[tuple[Any, ...], dict[str, float]], latencies: list[int]) -> str:
    """The ratios in one paragraph: non-streaming, fastest upstream, highest concurrency."""
    parts = []
    for stream in (False, True):
        keys = sorted(k for k in cells if k[0] == GATEWAY and k[1] == stream and k[2] == 0)
        if not keys:
            continue
        # c=64 is where the reference measurements compare proxies; else the highest run.
        key = next((k for k in keys if k[3] == 64), keys[-1])
        _, _, latency, concurrency = key
        gateway = cells[key]
        litellm = cells.get((LITELLM, stream, latency, concurrency))
        if not litellm:
            continue
        kind = "20-chunk streams" if stream else "non-streaming requests"
        parts.append(
            f"{kind} at c={concurrency}: {_ratio(gateway['rps'], litellm['rps'])} the "
            f"throughput, {_ratio(litellm.get('cpu_ms_per_req'), gateway.get('cpu_ms_per_req'))}"
            " less CPU per request"
        )
    return "; ".join(parts)


def markdown(result: dict[str, Any]) -> str:
    cells = medians(result["runs"])
    latencies = result["conditions"]["latencies_ms"]
    concurrencies = result["conditions"]["concurrencies"]
    machine = result["machine"]
    conditions = result["conditions"]
    out = [
        "### Side by side with the LiteLLM proxy",
        "",
        f"Machine: {machine['cpu_model']}, {machine['nproc']} cores, {machine['kernel']}, "
        f"Python {machine['python']}. LiteLLM proxy {result['litellm_version']} "
        f"vs gateway {result['gateway_version']}.",
        "",
        f"Conditions: each proxy is one process (one worker) pinned to core "
        f"{conditions['proxy_core']}; the mock upstream and wrk (one thread) share core "
        f"{conditions['load_core']}. Same config for both: master-key auth, one model group "
        f"per upstream latency, two deployments each on the same mock. "
        f"{conditions['seconds']:g} s per run, {conditions['repeats']} repeats interleaved, "
        f"medians shown. CPU is the proxy's process-tree CPU time divided by the requests "
        f"it forwarded to the mock. Added latency = the proxy's percentile minus the mock's, "
        f"hit directly at the same concurrency.",
        "",
    ]
    summary = headline(cells, latencies)
    if summary:
        out += [f"In short: {summary}.", ""]
    out += [
        "Non-streaming chat completions:",
        "",
        scenario_table(cells, False, latencies, concurrencies),
        "",
    ]
    if any(k[1] for k in cells):
        out += [
            f"Streaming chat completions ({conditions['chunks']} chunks, "
            f"{conditions.get('chunk_delay_ms', 0):g} ms apart at the mock):",
            "",
            scenario_table(cells, True, latencies, concurrencies),
            "",
        ]
    if result.get("ttfb"):
        out += [
            f"Time to first byte of a stream, one connection, sequential requests "
            f"({conditions['ttfb_seconds']:g} s per probe):",
            "",
            ttfb_table(ttfb_medians(result["ttfb"]), latencies),
            "",
        ]
    out += [
        "\\* fewer completed requests than twice the connections: the run was too short for "
        "this proxy at this concurrency (its requests take longer than the run); its req/s "
        "and latency are not comparable, its CPU per request still is. Negative added "
        "latency means the difference is within the noise.",
        "",
    ]
    out += ["Memory:", "", memory_table(result["memory"]), ""]
    out += [f"Reproduce: `{result['command']}`", ""]
    return "\n".join(out)


def main() -> None:
    """``python bench/report.py RESULT.json``: the markdown of an earlier run."""
    import json  # noqa: PLC0415
    import sys  # noqa: PLC0415

    with open(sys.argv[1], encoding="utf-8") as handle:
        print(markdown(json.load(handle)))


if __name__ == "__main__":
    main()
