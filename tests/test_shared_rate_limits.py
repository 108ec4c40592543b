"""A deployment's rpm limit holds for the fleet: N per minute across two processes, not 2N."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from support.clients import CLIENT_TIMEOUT_S
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.minutes import current_minute, wait_for_room_in_the_minute
from support.redis_server import SHARED_REDIS_URL, shared_redis_prefix

__all__ = ["shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]
CONCURRENCY = 16


def limited_config(fleet: UpstreamFleet, prefix: str, rpm: int) -> dict[str, Any]:
    return {
        "model_list": [fleet.deployment("limited", "limited-a", rpm=rpm)],
        # A loaded test machine can stall a process past the 50 ms default; exactness,
        # not the budget, is under test here (test_redis_faults covers the budget).
        "router_settings": {"num_retries": 0, "redis_key_prefix": prefix, "redis_timeout_ms": 500},
    }


async def burst(gateways: list[GatewayProcess], total: int) -> Counter[int]:
    """``total`` requests spread over ``gateways`` in turn, ``CONCURRENCY`` at a time."""
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[GatewayProcess] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(gateways[index % len(gateways)])

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            gateway = queue.get_nowait()
            response = await http.post(
                f"{gateway.v1_url}/chat/completions",
                headers=gateway.auth_headers(),
                json={"model": "limited", "messages": MESSAGES},
            )
            statuses[response.status_code] += 1

    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    return statuses


def test_an_rpm_limit_admits_exactly_n_across_two_processes(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    rpm = 150  # leases of 3 permits: most requests never wait on Redis
    config = limited_config(fleet, shared_redis_prefix, rpm)
    env = {"REDIS_URL": SHARED_REDIS_URL}
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    minute = wait_for_room_in_the_minute()
    statuses = asyncio.run(burst(gateways, 3 * rpm))
    assert current_minute() == minute, "the burst straddled a minute; counts are per minute"
    assert statuses == Counter({200: rpm, 429: 2 * rpm})
    assert fleet["limited-a"].calls() == rpm


def test_without_redis_each_process_counts_alone(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    # The contrast: the same config without REDIS_URL admits N per process.
    rpm = 20
    config = limited_config(fleet, "unused", rpm)
    gateways = [start_gateway(config), start_gateway(config)]
    minute = wait_for_room_in_the_minute()
    statuses = asyncio.run(burst(gateways, 3 * rpm))
    assert current_minute() == minute, "the burst straddled a minute; counts are per minute"
    assert statuses == Counter({200: 2 * rpm, 429: rpm})
