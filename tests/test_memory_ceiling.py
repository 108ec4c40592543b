"""The memory ceiling: a worker whose own memory passes ``--max-worker-memory`` stops
accepting, finishes its requests and is replaced, and no caller sees a failure.

The workers' memory grows for a real reason: the local response cache keeps every large
answer. The ceiling is set a little above what a fresh worker holds (measured first, from
``/proc/<pid>/status``), so the load pushes each worker past it in a few seconds.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.memory_ceiling import MIB, anonymous_rss
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import Reply

ANSWER_CHARS = 256 * 1024
HEADROOM_MIB = 40
CLIENTS = 4
# Bounds on the load: it stops once enough workers were replaced, or after this long.
MAX_LOAD_S = 90.0
REPLACEMENTS = 3


def cache_config(fleet: UpstreamFleet) -> dict[str, Any]:
    fleet["big-a"].default = Reply(content="x" * ANSWER_CHARS)
    return {
        "model_list": [fleet.deployment("big", "big-a")],
        "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
    }


def worker_pids(run_dir: Path) -> set[int]:
    return {int(p.stem) for p in (run_dir / "workers").glob("*.json")}


def fresh_worker_mib(gateway: GatewayProcess, run_dir: Path) -> float:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sizes = [anonymous_rss(pid) for pid in worker_pids(run_dir)]
        known = [s for s in sizes if s]
        if len(known) == 2:
            return max(known) / MIB
        time.sleep(0.1)
    raise AssertionError(f"no worker status files in {run_dir}: {gateway.log_tail()}")


def load(gateway: GatewayProcess, stop: threading.Event, results: list[int], tag: int) -> None:
    index = 0
    while not stop.is_set():
        index += 1
        # A new connection per request, as independent callers arrive; a unique prompt,
        # so the answer is cached anew.
        with httpx.Client(
            base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=60
        ) as http:
            try:
                response = http.post(
                    "/v1/chat/completions",
                    json={
                        "model": "big",
                        "messages": [{"role": "user", "content": f"{tag}-{index}"}],
                    },
                )
                results.append(response.status_code)
            except httpx.HTTPError as exc:
                results.append(-1)
                print("request failed:", type(exc).__name__, exc)


def test_a_worker_past_the_memory_ceiling_is_replaced_with_no_failed_request(
    fleet: UpstreamFleet, start_gateway: StartGateway, tmp_path: Path
) -> None:
    config = cache_config(fleet)
    probe_dir = tmp_path / "probe-run"
    probe = start_gateway(config, args=["--workers", "2"], env={"GATEWAY_RUN_DIR": str(probe_dir)})
    baseline = fresh_worker_mib(probe, probe_dir)
    probe.stop()

    ceiling = round(baseline + HEADROOM_MIB)
    run_dir = tmp_path / "run"
    gateway = start_gateway(
        config,
        args=["--workers", "2", "--max-worker-memory", str(ceiling)],
        env={"GATEWAY_RUN_DIR": str(run_dir)},
    )
    first = worker_pids(run_dir)
    results: list[int] = []
    stop = threading.Event()
    clients = [
        threading.Thread(target=load, args=(gateway, stop, results, tag)) for tag in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    started = time.monotonic()
    while time.monotonic() - started < MAX_LOAD_S:
        if gateway.log_text().count("worker past its memory ceiling") >= REPLACEMENTS:
            break
        time.sleep(0.2)
    # Keep loading through the last replacement's boot.
    time.sleep(2.0)
    stop.set()
    for client in clients:
        client.join(60)

    log = gateway.log_text()
    recycled = log.count("worker past its memory ceiling")
    assert recycled >= REPLACEMENTS, f"{recycled} recycles with a ceiling of {ceiling} MiB"
    assert results and set(results) == {200}, {s: results.count(s) for s in set(results)}
    # The workers serving now are new ones, each under the ceiling (as far as it got).
    now = worker_pids(run_dir)
    assert now - first, (first, now)
    assert log.count("Booting worker with pid") >= 2 + REPLACEMENTS
    # Each recycle happened alone: the claim file is free again once its worker is gone.
    assert "memory ceiling is below" not in log
    print(
        f"baseline {baseline:.0f} MiB, ceiling {ceiling} MiB, {len(results)} requests, "
        f"{recycled} recycles"
    )
