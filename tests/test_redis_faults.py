"""Redis faults never take traffic down: a Redis that dies, or answers only after 20 s.

Each test runs its own ``redis-server`` (a subprocess on a free port), so it
can stop it or slow it down without disturbing anyone else. The gateways
cache in Redis, so every request reads Redis on its hot path.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import redis

from support.clients import CLIENT_TIMEOUT_S
from support.control import Admin
from support.delay_proxy import DelayProxy
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import Fail, Reply
from support.redis_server import PrivateRedis, private_redis

__all__ = ["private_redis"]

OPENED = "redis unavailable: serving from local state"
RESUMED = "redis healthy: shared state resumed"
LOG_WAIT_S = 20.0
RESUME_BOUND_S = 5.0
POLL_S = 0.05
# Latencies are compared with a healthy phase of the same test, never with a clock.
PHASE_REQUESTS = 600
P99_RATIO_BOUND = 5.0
SLOW_REPLY_S = 20.0


def fault_config(fleet: UpstreamFleet, **router: Any) -> dict[str, Any]:
    return {
        "model_list": [
            fleet.deployment("steady", "steady-a", rpm=1_000_000),
            fleet.deployment("flaky", "flaky-a"),
            fleet.deployment("spare", "spare-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1,
            "cooldown_time": 60,
            "fallbacks": [{"flaky": ["spare"]}],
            "redis_key_prefix": "faults",
            **router,
        },
        "litellm_settings": {"cache": True, "cache_params": {"type": "redis"}},
    }


def chat(http: httpx.Client, gateway: GatewayProcess, model: str, text: str) -> httpx.Response:
    return http.post(
        f"{gateway.v1_url}/chat/completions",
        headers=gateway.auth_headers(),
        json={"model": model, "messages": [{"role": "user", "content": text}]},
    )


def wait_for_log(gateway: GatewayProcess, text: str, mark: int = 0) -> None:
    deadline = time.monotonic() + LOG_WAIT_S
    while text not in gateway.log_since(mark):
        assert time.monotonic() < deadline, f"{gateway.name} never logged {text!r}"
        time.sleep(POLL_S)


def eventually_hit(http: httpx.Client, gateway: GatewayProcess, text: str) -> bool:
    """The answer stored by an earlier request is served (stores finish after the response)."""
    deadline = time.monotonic() + RESUME_BOUND_S
    while time.monotonic() < deadline:
        if chat(http, gateway, "steady", text).headers["x-gateway-cache"] == "hit":
            return True
        time.sleep(POLL_S)
    return False


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def test_redis_stopped_mid_run_costs_no_request_and_shared_state_resumes_by_itself(
    fleet: UpstreamFleet, start_gateway: StartGateway, private_redis: PrivateRedis
) -> None:
    env = {"REDIS_URL": private_redis.url}
    one = start_gateway(fault_config(fleet), env=env)
    other = start_gateway(fault_config(fleet), env=env)
    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        for index in range(20):
            gateway = (one, other)[index % 2]
            assert chat(http, gateway, "steady", f"before {index % 5}").status_code == 200
        ping = http.get(f"{one.base_url}/cache/ping", headers=one.auth_headers())
        assert ping.json()["shared_state"] == "ok"

        private_redis.stop()
        statuses = [
            chat(http, (one, other)[index % 2], "steady", f"during {index}").status_code
            for index in range(100)
        ]
        assert statuses == [200] * 100
        for gateway in (one, other):
            wait_for_log(gateway, OPENED)
        ping = http.get(f"{one.base_url}/cache/ping", headers=one.auth_headers())
        assert ping.status_code == 503
        assert "unavailable" in ping.json()["error"]["message"]

        # The breaker still works on one process alone while Redis is away.
        fleet["flaky-a"].default = Fail(500, "boom", type="server_error")
        served = [chat(http, one, "flaky", f"x{i}").headers["x-gateway-model-group"] for i in "ab"]
        assert served == ["spare", "spare"]
        fleet["flaky-a"].default = Reply(content="flaky is back")

        marks = {gateway.name: gateway.log_mark() for gateway in (one, other)}
        private_redis.start()  # an empty Redis, on the same port
        for gateway in (one, other):
            wait_for_log(gateway, RESUMED, marks[gateway.name])
        # The cooldown set during the outage was pushed to the fleet when Redis returned.
        # (Each probe asks something new: a cached answer would not tell who routes where.)
        resumed = time.monotonic()
        probes = iter(range(1_000_000))
        while chat(http, other, "flaky", f"y{next(probes)}").headers["x-gateway-model-group"] != (
            "spare"
        ):
            assert time.monotonic() - resumed < RESUME_BOUND_S, "the other process never learnt"
            time.sleep(POLL_S)
        calls = fleet["flaky-a"].calls()
        assert chat(http, other, "flaky", "z").headers["x-gateway-model-group"] == "spare"
        assert fleet["flaky-a"].calls() == calls
        # And the shared cache works again.
        assert chat(http, one, "steady", "after").headers["x-gateway-cache"] == "miss"
        assert eventually_hit(http, other, "after")


def test_redis_answering_after_20s_keeps_requests_fast_and_the_breaker_opens_then_closes(
    fleet: UpstreamFleet, start_gateway: StartGateway, private_redis: PrivateRedis
) -> None:
    with DelayProxy(private_redis.port) as proxy:
        gateway = start_gateway(
            fault_config(fleet), env={"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}
        )
        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:

            def phase(name: str) -> list[float]:
                latencies = []
                for index in range(PHASE_REQUESTS):
                    started = time.perf_counter()
                    response = chat(http, gateway, "steady", f"{name} {index}")
                    latencies.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                return latencies

            phase("warm-up")
            healthy = phase("healthy")
            assert OPENED not in gateway.log_text()

            proxy.delay = SLOW_REPLY_S
            slow = phase("slow")
            wait_for_log(gateway, OPENED)
            ratio = p99(slow) / p99(healthy)
            print(f"p99 healthy {p99(healthy) * 1000:.2f} ms, slow {p99(slow) * 1000:.2f} ms")
            assert ratio <= P99_RATIO_BOUND, f"p99 grew {ratio:.1f}x while Redis was slow"

            mark = gateway.log_mark()
            proxy.delay = 0.0
            wait_for_log(gateway, RESUMED, mark)
            assert chat(http, gateway, "steady", "again").headers["x-gateway-cache"] == "miss"
            assert eventually_hit(http, gateway, "again")


def test_parallel_slots_taken_while_redis_was_slow_are_given_back(
    fleet: UpstreamFleet, start_gateway: StartGateway, private_redis: PrivateRedis
) -> None:
    """A slot's Lua call that lands after the time budget ran out (the request went on with a
    local slot) and releases dropped while the breaker was open leak nothing: once Redis
    answers again, the key's slots on Redis are all free."""
    config = {
        "model_list": [fleet.deployment("steady", "steady-a")],
        "router_settings": {"num_retries": 0, "redis_key_prefix": "slots"},
    }
    with DelayProxy(private_redis.port) as proxy:
        gateway = start_gateway(config, env={"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"})
        with Admin(gateway) as admin:
            created = admin.generate_key(max_parallel_requests=2)
        key, key_hash = created["key"], created["token"]
        headers = {"Authorization": f"Bearer {key}"}
        slots = redis.Redis(port=private_redis.port)
        zset = f"slots:slots:key:{key_hash}"

        def ask(http: httpx.Client, text: str) -> int:
            response = http.post(
                f"{gateway.v1_url}/chat/completions",
                headers=headers,
                json={"model": "steady", "messages": [{"role": "user", "content": text}]},
            )
            return response.status_code

        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
            assert [ask(http, f"healthy {i}") for i in range(3)] == [200] * 3
            proxy.delay = 0.3  # past the 50 ms budget: each call lands on Redis too late
            assert [ask(http, f"slow {i}") for i in range(6)] == [200] * 6
            wait_for_log(gateway, OPENED)
            mark = gateway.log_mark()
            proxy.delay = 0.0
            wait_for_log(gateway, RESUMED, mark)
            assert ask(http, "after") == 200  # carries the releases Redis never confirmed
            deadline = time.monotonic() + RESUME_BOUND_S
            while slots.zcard(zset) != 0:
                assert time.monotonic() < deadline, f"leases left: {slots.zrange(zset, 0, -1)}"
                time.sleep(POLL_S)
            assert [ask(http, f"again {i}") for i in range(3)] == [200] * 3
        slots.close()
