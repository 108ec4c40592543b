"""The same shared state on a Redis Cluster (``redis+cluster://``): a one-node cluster holding
every slot, run by the test. Multi-key Lua scripts only work there when their keys share a
slot, so this catches any key that escaped its hash tag.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.clients import CLIENT_TIMEOUT_S
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.minutes import current_minute, wait_for_room_in_the_minute
from support.mock_upstream import Fail, Reply
from support.redis_server import PrivateRedis

PROPAGATION_BOUND_S = 1.0
POLL_S = 0.02


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    with PrivateRedis(tmp_path, cluster=True) as server:
        yield server


def chat(http: httpx.Client, gateway: GatewayProcess, model: str, text: str) -> httpx.Response:
    response = http.post(
        f"{gateway.v1_url}/chat/completions",
        headers=gateway.auth_headers(),
        json={"model": model, "messages": [{"role": "user", "content": text}]},
    )
    assert response.status_code in (200, 429), response.text
    return response


def test_cooldowns_limits_and_the_cache_work_on_a_redis_cluster(
    fleet: UpstreamFleet, start_gateway: StartGateway, cluster: PrivateRedis
) -> None:
    config = {
        "model_list": [
            fleet.deployment("flaky", "flaky-a"),
            fleet.deployment("spare", "spare-a"),
            fleet.deployment("limited", "limited-a", rpm=6),
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1,
            "cooldown_time": 60,
            "fallbacks": [{"flaky": ["spare"]}],
        },
        "litellm_settings": {"cache": True, "cache_params": {"type": "redis"}},
    }
    env = {"REDIS_URL": cluster.url}
    one = start_gateway(config, env=env)
    other = start_gateway(config, env=env)
    assert '"cluster":true' in one.log_text()
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        # The response cache, shared through the cluster.
        assert chat(http, one, "spare", "cached").headers["x-gateway-cache"] == "miss"
        deadline = time.monotonic() + 5.0
        while chat(http, other, "spare", "cached").headers["x-gateway-cache"] != "hit":
            assert time.monotonic() < deadline, "the other process never saw the cached answer"
            time.sleep(POLL_S)

        # A cooldown tripped on one process reaches the other.
        fleet["flaky-a"].default = Fail(500, "boom", type="server_error")
        chat(http, one, "flaky", "f1")
        chat(http, one, "flaky", "f2")
        tripped_at = time.monotonic()
        fleet["flaky-a"].default = Reply(content="back")
        probes = 0
        while chat(http, other, "flaky", f"p{probes}").headers["x-gateway-model-group"] != "spare":
            assert time.monotonic() - tripped_at < PROPAGATION_BOUND_S, "cooldown not shared"
            probes += 1
            time.sleep(POLL_S)

        # rpm across both processes.
        minute = wait_for_room_in_the_minute()
        statuses = [
            chat(http, (one, other)[i % 2], "limited", f"l{i}").status_code for i in range(18)
        ]
        assert current_minute() == minute, "the burst straddled a minute; counts are per minute"
        assert statuses.count(200) == 6

        # flushall walks every node of the cluster.
        flushed = http.post(f"{one.base_url}/cache/flushall", headers=one.auth_headers())
        assert flushed.status_code == 200, flushed.text
        assert flushed.json()["deleted"] >= 1
        assert chat(http, other, "spare", "cached").headers["x-gateway-cache"] == "miss"
