"""Prometheus metrics: summed over every gunicorn worker, valid exposition, bounded labels."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from support.configs import MASTER_KEY
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Fail, Reply

MESSAGES = [{"role": "user", "content": "hello"}]


def _requests_per_worker(metrics_dir: Path) -> dict[str, float]:
    """gateway_requests_total as each worker's own file holds it."""
    per_worker: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        per_worker[path.stem.removeprefix("counter_")] = sum(
            value
            for key, value, _, _ in values
            if '"gateway_requests_total"' in key.split(",", 2)[1]
        )
    return per_worker


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_metrics_sum_every_worker_and_pass_promtool(
    fleet: UpstreamFleet, start_gateway: StartGateway, tmp_path: Path
) -> None:
    fleet["chat-a"].default = Reply(delay=0.05, prompt_tokens=5, completion_tokens=3)
    run_dir = tmp_path / "run"
    gateway = start_gateway(
        {"model_list": [fleet.deployment("chat", "chat-a")]},
        args=["--workers", "2"],
        env={"GATEWAY_RUN_DIR": str(run_dir)},
    )
    body = {"model": "chat", "messages": MESSAGES}
    sent = 0

    async def one() -> None:
        # Concurrent callers on fresh connections, so both workers accept some.
        async with httpx.AsyncClient(
            base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
        ) as http:
            response = await http.post("/v1/chat/completions", json=body)
            assert response.status_code == 200

    for _ in range(10):
        await asyncio.gather(*(one() for _ in range(20)))
        sent += 20
        per_worker = _requests_per_worker(run_dir / "metrics")
        if sum(1 for count in per_worker.values() if count > 0) >= 2:
            break
    assert sum(1 for count in per_worker.values() if count > 0) >= 2, per_worker

    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
        plain = (await http.get("/metrics")).text
        slashed = await http.get("/metrics/")
    assert slashed.status_code == 200
    for text in (plain, slashed.text):
        served = _samples(text, "gateway_requests_total")
        assert sum(value for _, value in served) == sent
        assert all(labels["status_class"] == "2xx" for labels, _ in served)
        tokens = {
            labels["direction"]: value for labels, value in _samples(text, "gateway_tokens_total")
        }
        assert tokens == {"input": 5 * sent, "output": 3 * sent}
        assert _samples(text, "gateway_overhead_seconds_count")[0][1] == sent
    # No raw key or client address ever becomes a label.
    assert MASTER_KEY not in plain and "127.0.0.1" not in plain

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    check = subprocess.run(
        [promtool, "check", "metrics"], input=plain, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_failures_retries_fallbacks_and_cooldowns_are_counted(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["bad-a"].default = Fail(500, "boom", type="server_error")
    config = {
        "model_list": [fleet.deployment("bad", "bad-a"), fleet.deployment("good", "good-a")],
        "router_settings": {
            "num_retries": 1,
            "allowed_fails": 1,
            "cooldown_time": 60,
            "fallbacks": [{"bad": ["good"]}],
        },
    }
    gateway = start_gateway(config)
    with httpx.Client(
        base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
    ) as http:
        for _ in range(3):
            response = http.post(
                "/v1/chat/completions", json={"model": "bad", "messages": MESSAGES}
            )
            assert response.status_code == 200
        text = http.get("/metrics").text
    failures = _samples(text, "gateway_upstream_failures_total")
    assert sum(value for _, value in failures) == 2  # then the breaker kept traffic off
    assert {labels["error_type"] for labels, _ in failures} == {"upstream_server_error"}
    retries = _samples(text, "gateway_retries_total")
    assert sum(value for _, value in retries) == 1
    hops = {
        (labels["from_group"], labels["to_group"], labels["outcome"]): value
        for labels, value in _samples(text, "gateway_fallbacks_total")
    }
    assert hops == {("bad", "good", "served"): 3}
    cooling = {
        labels["deployment"]: value for labels, value in _samples(text, "gateway_deployment_state")
    }
    assert cooling["bad-a"] == 1
    assert sum(value for _, value in _samples(text, "gateway_cooldowns_total")) == 1


def test_metrics_can_require_the_master_key(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(
        {
            "model_list": [fleet.deployment("chat", "chat-a")],
            "litellm_settings": {"require_auth_for_metrics_endpoint": True},
        }
    )
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        assert http.get("/metrics").status_code == 401
        allowed = http.get("/metrics", headers=gateway.auth_headers())
    assert allowed.status_code == 200
    assert "# TYPE gateway_requests_total counter" in allowed.text
