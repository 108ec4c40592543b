"""Cooldowns shared by the fleet: two gateway processes, one Redis, no shared memory.

Each test starts two gateways on the same Redis under its own key prefix.
The deployment under test is a mock upstream of its own, so its call count
says exactly who sent it traffic.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from support.clients import CLIENT_TIMEOUT_S
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import Fail, Reply
from support.redis_server import SHARED_REDIS_URL, shared_redis_prefix

__all__ = ["shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]
# Cooldowns and published changes must reach the other process within this.
PROPAGATION_BOUND_S = 1.0
POLL_S = 0.02


def fleet_config(fleet: UpstreamFleet, prefix: str, **router: Any) -> dict[str, Any]:
    return {
        "model_list": [fleet.deployment("flaky", "flaky-a"), fleet.deployment("spare", "spare-a")],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1,
            "cooldown_time": 60,
            "fallbacks": [{"flaky": ["spare"]}],
            "redis_key_prefix": prefix,
            **router,
        },
    }


def start_pair(
    start_gateway: StartGateway, config: dict[str, Any]
) -> tuple[GatewayProcess, GatewayProcess]:
    env = {"REDIS_URL": SHARED_REDIS_URL}
    return start_gateway(config, env=env), start_gateway(config, env=env)


def group_served(http: httpx.Client, gateway: GatewayProcess) -> str:
    """The model group that answered one request for ``flaky`` on ``gateway``."""
    response = http.post(
        f"{gateway.v1_url}/chat/completions",
        headers=gateway.auth_headers(),
        json={"model": "flaky", "messages": MESSAGES},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-model-group"]


def wait_until_diverted(http: httpx.Client, gateway: GatewayProcess, since: float) -> float:
    """Seconds from ``since`` until ``gateway`` sends ``flaky`` traffic to the fallback."""
    while time.monotonic() - since < PROPAGATION_BOUND_S:
        if group_served(http, gateway) == "spare":
            return time.monotonic() - since
        time.sleep(POLL_S)
    raise AssertionError(
        f"{gateway.name} still routes to the cooled deployment after {PROPAGATION_BOUND_S}s"
    )


def test_a_cooldown_tripped_on_one_process_stops_traffic_on_the_other_within_a_second(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    one, other = start_pair(start_gateway, fleet_config(fleet, shared_redis_prefix))
    flaky = fleet["flaky-a"]
    flaky.default = Fail(500, "boom", type="server_error")
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        # allowed_fails + 1 failures on the first process trip its breaker.
        assert group_served(http, one) == "spare"
        assert group_served(http, one) == "spare"
        tripped_at = time.monotonic()
        # The deployment works again: whoever still routes to it gets an answer from it.
        flaky.default = Reply(content="flaky is back")
        wait_until_diverted(http, other, tripped_at)
        calls = flaky.calls()
        for gateway in (other, one, other, one):
            assert group_served(http, gateway) == "spare"
        assert flaky.calls() == calls, "a cooled deployment received traffic"
    assert "deployment cooling down" in one.log_text()


def test_failures_are_counted_across_the_fleet(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    one, other = start_pair(start_gateway, fleet_config(fleet, shared_redis_prefix))
    flaky = fleet["flaky-a"]
    flaky.default = Fail(500, "boom", type="server_error")
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        # One failure on each process: neither trips alone (allowed_fails: 1),
        # together they are allowed_fails + 1 within the window.
        assert group_served(http, one) == "spare"
        assert group_served(http, other) == "spare"
        second_failure_at = time.monotonic()
        flaky.default = Reply(content="flaky is back")
        for gateway in (one, other):
            wait_until_diverted(http, gateway, second_failure_at)
        calls = flaky.calls()
        for gateway in (one, other):
            assert group_served(http, gateway) == "spare"
        assert flaky.calls() == calls
    assert "failures across the fleet" in one.log_text() + other.log_text()


def test_a_process_started_later_loads_the_cooldowns_already_in_force(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    config = fleet_config(fleet, shared_redis_prefix)
    one = start_gateway(config, env={"REDIS_URL": SHARED_REDIS_URL})
    flaky = fleet["flaky-a"]
    flaky.default = Fail(500, "boom", type="server_error")
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        assert group_served(http, one) == "spare"
        assert group_served(http, one) == "spare"
        flaky.default = Reply(content="flaky is back")
        calls = flaky.calls()
        later = start_gateway(config, env={"REDIS_URL": SHARED_REDIS_URL})
        assert group_served(http, later) == "spare"
    assert flaky.calls() == calls
