"""A deployment's rpm limit holds for the fleet: N per minute across two processes, not 2N."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import httpx
import redis

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


def test_token_counts_reach_redis_merged_and_exact(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    """Each process adds its tokens to the fleet's minute count in merged writes: far fewer
    Redis calls than requests, and not a token lost or counted twice."""
    config = {
        "model_list": [fleet.deployment("counted", "counted-a", tpm=10_000_000)],
        "router_settings": {"num_retries": 0, "redis_key_prefix": shared_redis_prefix},
    }
    env = {"REDIS_URL": SHARED_REDIS_URL}
    gateways = [start_gateway(config, env=env), start_gateway(config, env=env)]
    total = 400
    minute = wait_for_room_in_the_minute()
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    watcher = ScriptWatcher(shared_redis_prefix)

    async def run() -> int:
        tokens = 0
        queue: asyncio.Queue[GatewayProcess] = asyncio.Queue()
        for index in range(total):
            queue.put_nowait(gateways[index % 2])

        async def worker(http: httpx.AsyncClient) -> None:
            nonlocal tokens
            while not queue.empty():
                gateway = queue.get_nowait()
                response = await http.post(
                    f"{gateway.v1_url}/chat/completions",
                    headers=gateway.auth_headers(),
                    json={"model": "counted", "messages": MESSAGES},
                )
                assert response.status_code == 200, response.text
                tokens += response.json()["usage"]["total_tokens"]

        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as http:
            await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        return tokens

    tokens = asyncio.run(run())
    for gateway in gateways:
        assert gateway.stop() == 0  # stopping flushes what is still being merged
    try:
        assert current_minute() == minute, "the burst straddled a minute; rerun"
        counted = client.hget(f"{shared_redis_prefix}:usage:counted-a:{minute}", "t")
        assert counted is not None and int(counted) == tokens
        writes = watcher.stop()
        assert writes < total / 2, f"{writes} script calls for {total} requests"
    finally:
        client.close()


class ScriptWatcher:
    """Counts the scripts run on keys under ``prefix`` (Redis MONITOR: other users of the
    same Redis are not counted)."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._client = redis.Redis.from_url(SHARED_REDIS_URL)
        self._monitor = self._client.monitor()
        self._monitor.connection = self._monitor.connection_pool.get_connection()
        self._monitor.connection.send_command("MONITOR")
        assert self._monitor.connection.read_response() in (b"OK", "OK")
        self._stopping = threading.Event()
        self.count = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        for entry in self._monitor.listen():
            if self._stopping.is_set():
                return
            command = str(entry.get("command", ""))
            if command.upper().startswith("EVAL") and self._prefix in command:
                self.count += 1

    def stop(self) -> int:
        self._stopping.set()
        self._client.ping()  # the monitor sees it and looks at the flag
        self._thread.join(timeout=10)
        self._monitor.connection.disconnect()
        self._client.close()
        return self.count
