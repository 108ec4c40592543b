"""The health port: its own process, answering while the data plane is saturated."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Reply

MESSAGES = [{"role": "user", "content": "hello"}]
PROBES = 15


def test_liveliness_and_readiness_report_the_workers(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(
        {"model_list": [fleet.deployment("chat", "chat-a")]}, args=["--workers", "2"]
    )
    with httpx.Client(base_url=gateway.health_url, timeout=10) as health:
        assert health.get("/health/liveliness").json() == {"status": "alive"}
        # Workers report in within a heartbeat or two.
        deadline = time.monotonic() + 15
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            response = health.get("/health/readiness")
            body = response.json()
            if body.get("status") == "ready":
                break
            time.sleep(0.2)
        assert body["status"] == "ready", body
        assert body["workers"] == {"alive": 2, "responsive": 2, "expected": 2}
        assert health.get("/health/nope").status_code == 404
        assert health.post("/health/liveliness").status_code == 405


async def _probe(health: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await health.get("/health/liveliness")
    assert response.status_code == 200
    return time.perf_counter() - started


async def test_liveliness_answers_promptly_while_every_worker_is_saturated(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["slow-a"].default = Reply(delay=4.0)
    gateway = start_gateway({"model_list": [fleet.deployment("slow", "slow-a")]})
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with (
        httpx.AsyncClient(base_url=gateway.health_url, timeout=30) as health,
        httpx.AsyncClient(
            base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=60, limits=limits
        ) as data,
    ):
        idle = [await _probe(health) for _ in range(PROBES)]
        body = {"model": "slow", "messages": MESSAGES}
        load = [
            asyncio.create_task(data.post("/v1/chat/completions", json=body)) for _ in range(300)
        ]
        # Wait until the upstream holds a large share of them: the workers are saturated.
        deadline = time.monotonic() + 20
        while fleet["slow-a"].calls() < 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert fleet["slow-a"].calls() >= 200
        busy = [await _probe(health) for _ in range(PROBES)]
        responses = await asyncio.gather(*load)
    assert all(r.status_code == 200 for r in responses)
    # A ratio, not a time: the busy answer stays within a small multiple of the idle one
    # (a health check queued behind inference traffic would wait for the 4 s upstream).
    assert statistics.median(busy) < 20 * statistics.median(idle) + 0.05, (idle, busy)


def test_background_checks_probe_each_deployment_and_admin_health_reads_them_without_calls(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    from support.mock_upstream import Fail  # noqa: PLC0415

    fleet["broken-a"].default = Fail(401, "Incorrect API key provided.")
    config = {
        "model_list": [fleet.deployment("chat", "chat-a"), fleet.deployment("broken", "broken-a")],
        "general_settings": {"background_health_checks": True, "health_check_interval": 300},
    }
    gateway = start_gateway(config, args=["--workers", "2"])
    with httpx.Client(base_url=gateway.base_url, timeout=10) as http:
        assert http.get("/health").status_code == 401  # admin only
        deadline = time.monotonic() + 20
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            body = http.get("/health", headers=gateway.auth_headers()).json()
            if body.get("checked_at"):
                break
            time.sleep(0.2)
        assert body["healthy_count"] == 1 and body["unhealthy_count"] == 1, body
        calls = fleet.calls()
        for _ in range(5):
            http.get("/health", headers=gateway.auth_headers())
    healthy = body["healthy_endpoints"][0]  # type: ignore[index]
    unhealthy = body["unhealthy_endpoints"][0]  # type: ignore[index]
    assert healthy["deployment"] == "chat-a"
    assert unhealthy["deployment"] == "broken-a" and unhealthy["error_type"] == "upstream_auth"
    # One probe per deployment for the machine (not per worker), a one-token call...
    assert calls == {"chat-a": 1, "broken-a": 1}
    assert fleet["chat-a"].last_request().body["max_tokens"] == 1
    # ...and reading the results made no call at all.
    assert fleet.calls() == calls
