"""The half-open probe: Retry-After honoured, and failed probes in a row cool for longer."""

from __future__ import annotations

import asyncio
import time

import pytest
from router_harness import RouterUnderTest, deployment

from gateway.errors import NoDeploymentAvailable, UpstreamRateLimited, UpstreamServerError


def cooling_left(harness: RouterUnderTest, deployment_id: str) -> float:
    cooling = harness.cooldowns.cooling_all(time.time())[deployment_id]
    return cooling.until - time.time()


async def wait_until_probe_ready(harness: RouterUnderTest, deployment_id: str) -> None:
    while deployment_id in harness.cooldowns.cooling_all(time.time()):
        await asyncio.sleep(0.01)


async def test_a_probe_answered_429_stays_out_for_its_retry_after() -> None:
    harness = RouterUnderTest(
        [deployment("g", "a"), deployment("g", "b")], cooldown_time=0.05, num_retries=0
    )
    harness.cooldowns.cool("a", time.time() + 0.05, "test")
    await wait_until_probe_ready(harness, "a")
    harness["a"].fail_next(UpstreamRateLimited("slow down", upstream_status=429, retry_after=5))
    harness["b"].delay = 0.0
    served = set()
    for _ in range(20):
        try:
            served.add(await harness.send("g"))
        except UpstreamRateLimited:
            served.add("probe failed")
    assert harness["a"].calls == 1  # the probe, then out for 5 s (not cooldown_time)
    assert 4.0 < cooling_left(harness, "a") <= 5.0


async def test_failed_probes_in_a_row_double_the_cooldown_up_to_the_cap() -> None:
    harness = RouterUnderTest(
        [deployment("g", "a")], cooldown_time=0.05, num_retries=0, max_cooldown_time=0.3
    )
    harness.cooldowns.cool("a", time.time() + 0.05, "test")
    lengths = []
    for _ in range(4):
        await wait_until_probe_ready(harness, "a")
        harness["a"].fail_next(UpstreamServerError("still down", upstream_status=500))
        with pytest.raises((UpstreamServerError, NoDeploymentAvailable)):
            await harness.send("g")
        lengths.append(cooling_left(harness, "a"))
    assert lengths[0] == pytest.approx(0.05, abs=0.03)
    assert lengths[1] == pytest.approx(0.10, abs=0.03)
    assert lengths[2] == pytest.approx(0.20, abs=0.03)
    assert lengths[3] == pytest.approx(0.30, abs=0.03)  # capped by max_cooldown_time
    await wait_until_probe_ready(harness, "a")
    assert await harness.send("g") == "a"  # the probe succeeds: the breaker closes
    assert harness.cooldowns.failed_probes("a") == 0
