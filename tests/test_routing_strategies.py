"""Routing strategies, tags and the probe, black-box: real gateway processes, counting mocks."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from support.clients import CLIENT_TIMEOUT_S
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.minutes import current_minute, wait_for_room_in_the_minute
from support.mock_upstream import Fail, Reply
from support.redis_server import SHARED_REDIS_URL, shared_redis_prefix

__all__ = ["shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]


def chat(gateway: GatewayProcess, http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post(
        f"{gateway.v1_url}/chat/completions",
        headers=gateway.auth_headers(),
        json={"model": "g", "messages": MESSAGES, **body},
    )


def served_by(gateway: GatewayProcess, http: httpx.Client, **body: Any) -> str:
    response = chat(gateway, http, **body)
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-deployment"]


async def concurrent(gateway: GatewayProcess, count: int) -> list[str]:
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{gateway.v1_url}/chat/completions",
                    headers=gateway.auth_headers(),
                    json={"model": "g", "messages": MESSAGES},
                )
                for _ in range(count)
            )
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.headers["x-gateway-deployment"] for r in responses]


def test_latency_routing_sends_most_traffic_to_the_fast_deployment_and_follows_a_change(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["fast"].set_default(Reply(delay=0.005))
    fleet["slow"].set_default(Reply(delay=0.2))
    config = {
        "model_list": [fleet.deployment("g", "fast"), fleet.deployment("g", "slow")],
        "router_settings": {
            "routing_strategy": "latency-based-routing",
            "routing_strategy_args": {"explore_after_s": 2},
        },
    }
    gateway = start_gateway(config)
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        for _ in range(4):  # warm-up: each deployment measured
            served_by(gateway, http)
        served = Counter(served_by(gateway, http) for _ in range(200))
        assert served["fast"] >= 160, served
        fleet["fast"].set_default(Reply(delay=0.6))  # the fast one turns slow
        after = [served_by(gateway, http) for _ in range(30)]
    # A few requests find it slow; from then on traffic is on the other deployment.
    assert Counter(after[-20:])["slow"] >= 18, after


def test_least_busy_counts_in_flight_requests_across_two_processes(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    for name in ("a", "b"):
        fleet[name].set_default(Reply(delay=2.0))
    config = {
        "model_list": [fleet.deployment("g", "a"), fleet.deployment("g", "b")],
        "router_settings": {
            "routing_strategy": "least-busy",
            "redis_key_prefix": shared_redis_prefix,
            "redis_timeout_ms": 500,
        },
    }
    env = {"REDIS_URL": SHARED_REDIS_URL}
    first, second = start_gateway(config, env=env), start_gateway(config, env=env)

    async def both() -> Counter[str]:
        # Three long requests on the first process (2 + 1), then, once the fleet has seen
        # them, three on the second: fleet-wide least-busy evens it out at 3 + 3.
        early = asyncio.create_task(concurrent(first, 3))
        await asyncio.sleep(1.0)
        late = await concurrent(second, 3)
        return Counter([*await early, *late])

    assert asyncio.run(both()) == Counter({"a": 3, "b": 3})


def test_usage_routing_never_sends_a_deployment_past_its_rpm_across_two_processes(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    config = {
        "model_list": [
            fleet.deployment("g", "small", rpm=10),
            fleet.deployment("g", "large", rpm=30),
        ],
        "router_settings": {
            "routing_strategy": "usage-based-routing-v2",
            "num_retries": 0,
            "redis_key_prefix": shared_redis_prefix,
            "redis_timeout_ms": 500,
        },
    }
    env = {"REDIS_URL": SHARED_REDIS_URL}
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    minute = wait_for_room_in_the_minute()
    statuses: Counter[int] = Counter()
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        for index in range(60):
            statuses[chat(gateways[index % 2], http).status_code] += 1
    assert current_minute() == minute, "the run straddled a minute; counts are per minute"
    assert fleet["small"].calls() == 10
    assert fleet["large"].calls() == 30
    assert statuses == Counter({200: 40, 429: 20})


def test_cost_routing_picks_the_cheaper_deployment(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    dear = fleet.deployment("g", "dear")
    dear["model_info"]["input_cost_per_token"] = 5e-6
    cheap = fleet.deployment("g", "cheap")
    cheap["model_info"]["input_cost_per_token"] = 1e-6
    config = {
        "model_list": [dear, cheap],
        "router_settings": {"routing_strategy": "cost-based-routing"},
    }
    gateway = start_gateway(config)
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        assert {served_by(gateway, http) for _ in range(20)} == {"cheap"}
    assert fleet["dear"].calls() == 0


def test_tagged_requests_reach_only_matching_deployments(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    team_a = fleet.deployment("g", "team-a", tags=["teamA"])
    team_b = fleet.deployment("g", "team-b", tags=["teamB"])
    config = {"model_list": [team_a, team_b], "router_settings": {"enable_tag_filtering": True}}
    gateway = start_gateway(config)
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        assert {served_by(gateway, http, tags=["teamA"]) for _ in range(10)} == {"team-a"}
        in_metadata = {served_by(gateway, http, metadata={"tags": ["teamB"]}) for _ in range(10)}
        assert in_metadata == {"team-b"}
        refused = chat(gateway, http, tags=["teamZ"])
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "tags" and "teamZ" in error["message"]
    assert "team-a: teamA" in error["message"]
    # The tags steer the gateway; no provider is sent them.
    sent = [r.body for r in fleet["team-a"].requests + fleet["team-b"].requests]
    assert sent and all("tags" not in body and "metadata" not in body for body in sent)


def test_a_probe_answered_429_keeps_the_deployment_out_for_its_retry_after(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    config = {
        "model_list": [fleet.deployment("g", "flaky"), fleet.deployment("g", "steady")],
        "router_settings": {"cooldown_time": 1, "allowed_fails": 0, "num_retries": 1},
    }
    gateway = start_gateway(config)
    flaky = fleet["flaky"]
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        flaky.set_default(Fail(500))
        while fleet["flaky"].calls() == 0:  # until the flaky one has failed and cooled
            served_by(gateway, http)
        flaky.set_default(Fail(429, retry_after=5))
        time.sleep(1.2)  # its 1 s cooldown ends: the next request to pick it is a probe
        while flaky.calls() < 2:
            served_by(gateway, http)
        probed_at = time.monotonic()
        flaky.set_default(Reply())
        # For the next few seconds (inside the 5 s it asked for) it gets nothing more,
        # though cooldown_time (1 s) has long passed.
        while time.monotonic() - probed_at < 3.5:
            assert served_by(gateway, http) == "steady"
            time.sleep(0.05)
        assert flaky.calls() == 2
        while time.monotonic() - probed_at < 5.5:
            time.sleep(0.1)
        assert {served_by(gateway, http) for _ in range(20)} == {"flaky", "steady"}
