"""Medians over repeats, ratios between the proxies, the markdown tables and the charts.

Every number in a table is the median of the repeated runs of that cell. The
"added" latencies subtract the median of the mock hit directly, with the same
load generator, concurrency and pinning. A ratio to the floor is paired: each
proxy's CPU per request over the floor's in the same repeat of the same cell,
then the median of those ratios.

    python bench/report.py RESULT.json                       # the markdown of a run.py run
    python bench/report.py --run-json RESULT.json --out DIR  # its charts, again
    python bench/report.py --features-json RESULT.json --out DIR  # features.py's costs

The charts are PNG files drawn with matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

MOCK, GATEWAY, LITELLM, FLOOR, PORTKEY = "mock", "gateway", "litellm", "floor", "portkey"
# In the order the tables list them and the charts draw them.
CONTENDERS = (GATEWAY, LITELLM, FLOOR, PORTKEY)
LABELS = {
    MOCK: "mock alone",
    GATEWAY: "gateway",
    LITELLM: "LiteLLM",
    FLOOR: "floor",
    PORTKEY: "Portkey",
}
# One colour per contender in every chart, so charts of different runs read alike.
COLOURS = {GATEWAY: "#1f77b4", LITELLM: "#d62728", FLOOR: "#7f7f7f", PORTKEY: "#2ca02c"}
METRICS = ("rps", "cpu_ms_per_req", "p50_ms", "p99_ms", "errors", "requests")

Cells = dict[tuple[Any, ...], dict[str, float]]
# What a line chart draws of a cell, given the mock's cell beside it.
CellValue = Callable[[dict[str, float], dict[str, float] | None], float | None]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats' surprises
    return ordered[int(rank) - 1]


def medians(runs: Iterable[dict[str, Any]]) -> Cells:
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


def floor_ratios(runs: Iterable[dict[str, Any]]) -> dict[tuple[Any, ...], float]:
    """(target, stream, latency_ms, concurrency) -> median over repeats of the target's CPU
    per request over the floor's in the same repeat (neighbouring runs share the machine's
    mood, so a paired ratio is steadier than a ratio of medians)."""
    by_repeat: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for run in runs:
        if run.get("cpu_ms_per_req"):
            key = (run["stream"], run["latency_ms"], run["concurrency"], run.get("repeat", 0))
            by_repeat[key][run["target"]] = run["cpu_ms_per_req"]
    ratios: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for (stream, latency, concurrency, _repeat), cpus in by_repeat.items():
        floor = cpus.get(FLOOR)
        for target, cpu in cpus.items():
            if floor and target != MOCK:
                ratios[(target, stream, latency, concurrency)].append(cpu / floor)
    return {key: statistics.median(values) for key, values in ratios.items()}


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
    return _times(numerator / denominator)


def _times(value: float | None) -> str:
    if value is None:
        return "-"
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


def contenders(cells: Cells | Iterable[tuple[Any, ...]]) -> list[str]:
    """The proxies that ran, in table order (results of older runs have fewer)."""
    present = {key[0] for key in cells}
    return [target for target in CONTENDERS if target in present]


def _proxy_row(
    cells: Cells,
    ratios: dict[tuple[Any, ...], float],
    target: str,
    key: tuple[bool, int, int],
) -> str | None:
    _stream, latency, concurrency = key
    cell = cells.get((target, *key))
    if cell is None:
        return None
    mock = cells.get((MOCK, *key))
    short = _too_short(cell, concurrency)
    ratio = "(reference)" if target == FLOOR else _times(ratios.get((target, *key)))
    return (
        f"| {latency} ms | {concurrency} | {LABELS[target]} "
        f"| {num(cell['rps'])}{'*' if short else ''} "
        f"| {num(cell.get('cpu_ms_per_req'), 3)} | {ratio} "
        f"| {_added_pair(cell, mock, short)} | {num(cell['errors'], 0)} |"
    )


def scenario_table(
    cells: Cells,
    ratios: dict[tuple[Any, ...], float],
    stream: bool,
    latencies: list[int],
    concurrencies: list[int],
) -> str:
    """One row per proxy per cell, the mock alone first (its capacity in that cell)."""
    unit = "stream" if stream else "req"
    lines = [
        f"| upstream | c | proxy | req/s | CPU ms/{unit} | CPU ÷ floor "
        "| added p50 / p99 ms | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    targets = contenders(cells)
    for latency in latencies:
        for concurrency in concurrencies:
            key = (stream, latency, concurrency)
            rows = [_proxy_row(cells, ratios, target, key) for target in targets]
            if not any(rows):
                continue
            mock = cells.get((MOCK, *key))
            lines.append(
                f"| {latency} ms | {concurrency} | {LABELS[MOCK]} "
                f"| {num(mock['rps'] if mock else None)} | - | - | - | - |"
            )
            lines += [row for row in rows if row]
    return "\n".join(lines)


def ttfb_table(ttfb: dict[tuple[str, int], dict[str, float]], latencies: list[int]) -> str:
    lines = [
        "| upstream | proxy | TTFB p50 / p99 ms | added p50 ms |",
        "|---|---|---:|---:|",
    ]
    targets = contenders(ttfb)
    for latency in latencies:
        mock = ttfb.get((MOCK, latency))
        if mock is None:
            continue
        lines.append(
            f"| {latency} ms | {LABELS[MOCK]} "
            f"| {num(mock['ttfb_p50_ms'])} / {num(mock['ttfb_p99_ms'])} | - |"
        )
        for target in targets:
            row = ttfb.get((target, latency))
            if row is None:
                continue
            lines.append(
                f"| {latency} ms | {LABELS[target]} "
                f"| {num(row['ttfb_p50_ms'])} / {num(row['ttfb_p99_ms'])} "
                f"| {num(row['ttfb_p50_ms'] - mock['ttfb_p50_ms'])} |"
            )
    return "\n".join(lines)


def memory_table(memory: dict[str, dict[str, float]]) -> str:
    """RSS of the serving process, and of its whole tree (helpers such as a health process)."""
    lines = [
        "| proxy | idle RSS, serving process MiB | idle RSS, process tree MiB "
        "| after the runs, serving process MiB | after the runs, process tree MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for target in CONTENDERS:
        row = memory.get(target)
        if row:
            main_idle = row.get("idle_main_mib", row["idle_mib"])
            main_after = row.get("after_main_mib", row["after_mib"])
            lines.append(
                f"| {LABELS[target]} | {main_idle:.0f} | {row['idle_mib']:.0f} "
                f"| {main_after:.0f} | {row['after_mib']:.0f} |"
            )
    return "\n".join(lines)


def headline(cells: Cells, ratios: dict[tuple[Any, ...], float]) -> str:
    """The ratios in one paragraph: fastest upstream, c=64 (else the highest run)."""
    parts = []
    for stream in (False, True):
        keys = sorted(k for k in cells if k[0] == GATEWAY and k[1] == stream and k[2] == 0)
        if not keys:
            continue
        key = next((k for k in keys if k[3] == 64), keys[-1])
        _, _, latency, concurrency = key
        gateway = cells[key]
        said = []
        litellm = cells.get((LITELLM, stream, latency, concurrency))
        if litellm:
            said.append(
                f"{_ratio(gateway['rps'], litellm['rps'])} LiteLLM's throughput, "
                f"{_ratio(litellm.get('cpu_ms_per_req'), gateway.get('cpu_ms_per_req'))}"
                " less CPU per request"
            )
        floor = ratios.get((GATEWAY, stream, latency, concurrency))
        if floor:
            said.append(f"{_times(floor)} the floor's CPU per request")
        if said:
            kind = "streams" if stream else "non-streaming requests"
            parts.append(f"{kind} at c={concurrency}: " + ", ".join(said))
    return "; ".join(parts)


def versions_line(result: dict[str, Any]) -> str:
    versions = result.get("versions", {})
    parts = [f"gateway {result['gateway_version']}"]
    # Earlier results name LiteLLM's version at the top level only, and always ran it.
    litellm = versions.get(LITELLM) if versions else result.get("litellm_version")
    if litellm:
        parts.append(f"LiteLLM proxy {litellm}")
    if versions.get(PORTKEY):
        parts.append(
            f"Portkey gateway {versions[PORTKEY]} on Node {versions.get('node', '?')} "
            f"(@hono/node-server {versions.get('hono_node_server', '?')})"
        )
    if versions.get(FLOOR):
        parts.append(f"floor on {versions[FLOOR]}")
    return ", ".join(parts)


def notes(result: dict[str, Any]) -> list[str]:
    """What the reader needs to know about the contenders of this run, in words."""
    out = []
    targets = result["conditions"].get("targets", [])
    if FLOOR in targets:
        out.append(
            "The floor is `bench/floor.py`: a raw ASGI app on uvicorn (one worker, uvloop, "
            "httptools) that checks the master key, takes the next of the group's two "
            "deployments in turn, forwards the body's bytes with one aiohttp session and "
            "relays the answer, streams chunk by chunk; no JSON parsing. It is the least a "
            "Python proxy can cost: CPU ÷ floor is what everything else a proxy does costs."
        )
    if PORTKEY in targets:
        out.append(
            "Portkey's open-source gateway has no key of its own to check: it takes the two "
            "targets from the `x-portkey-config` header of every request (`loadbalance`: one "
            "drawn at random per request) and sends each target's own upstream key. It runs "
            "with `--headless` (no log console)."
        )
        if any(r["target"] == PORTKEY and r["stream"] for r in result["runs"]):
            out.append(
                "Portkey waits 25 ms before it relays a stream's first chunk (a fixed timer in "
                "its stream reader), so its stream TTFB and latency carry those 25 ms, and so "
                "does its req/s wherever it is not CPU-bound; its CPU per stream does not."
            )
        out.append(
            "`bench/setup.sh` holds Portkey's `@hono/node-server` at 1.13.5, the version of "
            "Portkey's own lockfile: npm resolves Portkey's `^1.3.3` to the newest 1.x, and "
            "from 1.14.2 on Portkey answers every streamed request with a 500 (`TypeError: "
            "immutable`: it appends headers to a Response whose headers that adapter froze)."
        )
    for target, modes in result.get("skipped", {}).items():
        for mode, reason in modes.items():
            kind = "streaming" if mode == "stream" else "non-streaming"
            said = reason if reason.endswith(".") else f"{reason}."
            out.append(f"**{LABELS.get(target, target)} did not run {kind}**: {said}")
    return out


def markdown(result: dict[str, Any]) -> str:
    cells = medians(result["runs"])
    ratios = floor_ratios(result["runs"])
    latencies = result["conditions"]["latencies_ms"]
    concurrencies = result["conditions"]["concurrencies"]
    machine = result["machine"]
    conditions = result["conditions"]
    names = [LABELS[target] for target in contenders(cells)]
    out = [
        "### Side by side: " + ", ".join(names),
        "",
        f"Machine: {machine['cpu_model']}, {machine['nproc']} cores, {machine['kernel']}, "
        f"Python {machine['python']}. {versions_line(result)}.",
        "",
        f"Conditions: each proxy is one process (one worker) pinned to core "
        f"{conditions['proxy_core']}; the mock upstream and wrk (one thread) share core "
        f"{conditions['load_core']}. Same deployments for all: master-key auth, one model "
        f"group per upstream latency, two deployments each on the same mock. "
        f"{conditions['seconds']:g} s per run, {conditions['repeats']} repeats interleaved, "
        f"medians shown. CPU is the proxy's process-tree CPU time divided by the requests "
        f"it forwarded to the mock; CPU ÷ floor is the median over repeats of that over the "
        f"floor's in the same repeat. Added latency = the proxy's percentile minus the "
        f"mock's, hit directly at the same concurrency.",
        "",
    ]
    summary = headline(cells, ratios)
    if summary:
        out += [f"In short, the gateway: {summary}.", ""]
    out += [
        "Non-streaming chat completions:",
        "",
        scenario_table(cells, ratios, False, latencies, concurrencies),
        "",
    ]
    if any(k[1] for k in cells):
        out += [
            f"Streaming chat completions ({conditions['chunks']} chunks, "
            f"{conditions.get('chunk_delay_ms', 0):g} ms apart at the mock):",
            "",
            scenario_table(cells, ratios, True, latencies, concurrencies),
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
    out += [f"- {note}" for note in notes(result)]
    out += ["", "Memory:", "", memory_table(result["memory"]), ""]
    out += [f"Reproduce: `{result['command']}`", ""]
    return "\n".join(out)


# --- charts --------------------------------------------------------------------------------


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib  # noqa: PLC0415 - only charts need it (the ``bench`` extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _series(
    cells: Cells, target: str, stream: bool, latency: int, value: CellValue
) -> tuple[list[int], list[float]]:
    """(concurrencies, values) of one contender's line; cells without a value are left out."""
    xs, ys = [], []
    keys = sorted(k for k in cells if k[:3] == (target, stream, latency))
    for key in keys:
        y = value(cells[key], cells.get((MOCK, *key[1:])))
        if y is not None:
            xs.append(key[3])
            ys.append(y)
    return xs, ys


def _cpu(cell: dict[str, float], _mock: dict[str, float] | None) -> float | None:
    return cell.get("cpu_ms_per_req")


def _added_p99(cell: dict[str, float], mock: dict[str, float] | None) -> float | None:
    if mock is None or not cell.get("requests"):
        return None
    return cell["p99_ms"] - mock["p99_ms"]


def _line_chart(
    result: dict[str, Any], stream: bool, value: CellValue, ylabel: str, yscale: str, path: Path
) -> Path | None:
    """One panel per upstream latency, one line per contender, concurrency on x."""
    cells = medians(result["runs"])
    latencies = result["conditions"]["latencies_ms"]
    targets = [t for t in contenders(cells) if any(k[1] == stream for k in cells if k[0] == t)]
    if not targets:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(
        1, len(latencies), figsize=(5.5 * len(latencies), 4.2), squeeze=False
    )
    for ax, latency in zip(axes[0], latencies, strict=True):
        drawn: list[float] = []
        for target in targets:
            xs, ys = _series(cells, target, stream, latency, value)
            if xs:
                ax.plot(xs, ys, marker="o", label=LABELS[target], color=COLOURS[target])
                drawn += ys
        ax.set_xscale("log", base=2)
        ax.set_xticks(result["conditions"]["concurrencies"])
        ax.set_xticklabels([str(c) for c in result["conditions"]["concurrencies"]])
        if yscale == "symlog":
            ax.set_yscale("symlog", linthresh=1.0)
            if drawn and min(drawn) >= 0:
                ax.set_ylim(bottom=0)  # no empty negative half when nothing fell below zero
        else:
            ax.set_yscale(yscale)
        _plain_ticks(ax.yaxis)
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(ylabel)
        ax.set_title(f"upstream {latency} ms")
        ax.grid(True, which="both", alpha=0.3)
    # One legend for the panels, under them: inside a panel it hides the lines it names.
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    kind = "streaming" if stream else "non-streaming"
    figure.suptitle(f"{ylabel}, {kind} ({result['gateway_version']})")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _plain_ticks(axis: Any) -> None:
    """Tick labels as plain numbers (0.5, 2, 100), not powers of ten, on log axes too; of
    the minor ticks only the 2s and 5s are labelled, so the labels never crowd."""
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda value, _position: _two_or_five(value)))


def _two_or_five(value: float) -> str:
    if value == 0:
        return ""
    mantissa = abs(value) / 10 ** math.floor(math.log10(abs(value)))
    return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2, 5)) else ""


def run_charts(result: dict[str, Any], stem: Path) -> list[Path]:
    """``<stem>-cpu-<mode>.png`` and ``<stem>-p99-<mode>.png`` for each mode that ran."""
    written = []
    for mode in result["conditions"]["modes"]:
        stream = mode == "stream"
        unit = "stream" if stream else "request"
        # CPU per request spans about two orders of magnitude between the contenders: a log
        # axis keeps the floor and the gateway readable next to LiteLLM.
        charts: list[tuple[CellValue, str, str, str]] = [
            (_cpu, f"CPU ms per {unit}", "log", f"{stem}-cpu-{mode}.png"),
            # Added p99 can be below zero (within the noise): symlog takes both signs.
            (_added_p99, "added p99 ms", "symlog", f"{stem}-p99-{mode}.png"),
        ]
        for value, label, scale, name in charts:
            path = _line_chart(result, stream, value, label, scale, Path(name))
            if path:
                written.append(path)
    return written


def features_chart(result: dict[str, Any], path: Path) -> Path:
    """Each ``features.py`` variant's CPU per request against ``base`` in the same repeat,
    as horizontal bars (median, whiskers from the lowest to the highest repeat), one panel
    per mode, one bar per concurrency, the 10% target drawn in."""
    import features  # noqa: PLC0415 - its pairing of runs with base is the one to draw

    conditions = result["conditions"]
    if "variants" not in conditions:
        raise ValueError("not a features.py result (its conditions name no variants)")
    plt = _pyplot()
    variants = [v for v in conditions["variants"] if v != features.BASE]
    concurrencies = conditions["concurrencies"]
    modes = conditions["modes"]
    paired = features.costs(result["runs"])
    height = 0.8 / len(concurrencies)
    figure, axes = plt.subplots(
        1, len(modes), figsize=(6.5 * len(modes), 1.6 + 0.55 * len(variants)), squeeze=False
    )
    for ax, mode in zip(axes[0], modes, strict=True):
        stream = mode == "stream"
        for index, concurrency in enumerate(concurrencies):
            _feature_bars(ax, paired, variants, stream, concurrency, index, height)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.axvline(features.TARGET_COST * 100, color="#d62728", linestyle="--", label="10% target")
        ax.set_yticks(range(len(variants)))
        ax.set_yticklabels(variants)
        ax.invert_yaxis()
        ax.set_xlabel(f"CPU per {'stream' if stream else 'request'} vs base, %")
        ax.set_title("streaming" if stream else "non-streaming")
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    figure.suptitle(f"What each feature costs ({result.get('gateway_version', '?')})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _feature_bars(
    ax: Any,
    paired: dict[tuple[str, bool, int], dict[str, list[float]]],
    variants: list[str],
    stream: bool,
    concurrency: int,
    index: int,
    height: float,
) -> None:
    """One concurrency's bars, offset within each variant's row."""
    ys, widths, low, high = [], [], [], []
    for row, variant in enumerate(variants):
        values = paired.get((variant, stream, concurrency), {}).get("cpu", [])
        if not values:
            continue
        middle = statistics.median(values) * 100
        ys.append(row - 0.4 + height * (index + 0.5))
        widths.append(middle)
        low.append(middle - min(values) * 100)
        high.append(max(values) * 100 - middle)
    ax.barh(ys, widths, height=height * 0.9, xerr=[low, high], capsize=2, label=f"c={concurrency}")


# --- command line --------------------------------------------------------------------------


def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        result: dict[str, Any] = json.load(handle)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The markdown and charts of a saved run.")
    parser.add_argument("result", nargs="?", help="a run.py JSON: print its markdown")
    parser.add_argument("--run-json", help="a run.py JSON: draw its charts into --out")
    parser.add_argument("--features-json", help="a features.py JSON: draw its costs into --out")
    parser.add_argument("--out", help="where charts go (default: beside the JSON)")
    args = parser.parse_args(argv)
    if not (args.result or args.run_json or args.features_json):
        parser.error("give a RESULT.json, --run-json or --features-json")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.result:
        print(markdown(_load(args.result)))
    for source, draw in ((args.run_json, _draw_run), (args.features_json, _draw_features)):
        if source:
            out = Path(args.out) if args.out else Path(source).parent
            out.mkdir(parents=True, exist_ok=True)
            for path in draw(_load(source), out / Path(source).stem):
                print(f"wrote {path}", file=sys.stderr)
    return 0


def _draw_run(result: dict[str, Any], stem: Path) -> list[Path]:
    return run_charts(result, stem)


def _draw_features(result: dict[str, Any], stem: Path) -> list[Path]:
    return [features_chart(result, Path(f"{stem}-costs.png"))]


if __name__ == "__main__":
    sys.exit(main())
