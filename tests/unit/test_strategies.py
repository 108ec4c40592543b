"""Each routing strategy, on the real Router with fake providers."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from router_harness import RouterUnderTest, deployment

from gateway.config.loader import ConfigError, build_config
from gateway.errors import UpstreamServerError
from gateway.router.stats import MAX_TRACKED, RoutingStats


def two(group: str = "g", **params: object) -> list[dict[str, object]]:
    return [deployment(group, "a", **params), deployment(group, "b", **params)]


def test_every_litellm_strategy_name_loads() -> None:
    for name in (
        "simple-shuffle",
        "least-busy",
        "latency-based-routing",
        "usage-based-routing",
        "usage-based-routing-v2",
        "cost-based-routing",
    ):
        harness = RouterUnderTest(two(), routing_strategy=name)
        assert harness.router.strategies.name_for("g").startswith(name.removesuffix("-v2"))


def test_an_unknown_strategy_is_refused_with_the_names_it_could_be() -> None:
    with pytest.raises(ConfigError) as refused:
        build_config(
            {"model_list": two(), "router_settings": {"routing_strategy": "fastest"}}, {}, "t"
        )
    assert "latency-based-routing" in str(refused.value)


async def test_least_busy_spreads_a_burst_of_long_requests_evenly() -> None:
    harness = RouterUnderTest(
        [deployment("g", name) for name in "abc"], routing_strategy="least-busy"
    )
    for provider in harness.providers.values():
        provider.delay = 0.05
    served = Counter(await asyncio.gather(*(harness.send("g") for _ in range(30))))
    assert served == Counter({"a": 10, "b": 10, "c": 10})


async def test_least_busy_counts_a_stream_in_flight_until_it_ends() -> None:
    harness = RouterUnderTest(two(), routing_strategy="least-busy")
    stream, trace = await harness.router.open_stream(harness.request("g", stream=True))
    first = trace.deployment_id
    # While the first stream is open, every new request goes to the other deployment.
    assert {await harness.send("g") for _ in range(5)} == {"b" if first == "a" else "a"}
    async for _ in stream:
        pass
    assert harness.router.stats.in_flight(first) == 0


async def test_latency_routing_prefers_the_fast_deployment_and_moves_when_it_slows() -> None:
    harness = RouterUnderTest(
        two(),
        routing_strategy="latency-based-routing",
        routing_strategy_args={"explore_after_s": 0.5},
    )
    harness["a"].delay, harness["b"].delay = 0.002, 0.04
    served = Counter([await harness.send("g") for _ in range(100)])
    assert served["a"] >= 80, served
    harness["a"].delay = 0.1  # the fast one turns slow
    later = [await harness.send("g") for _ in range(40)]
    assert Counter(later[-20:])["b"] >= 16, later


async def test_latency_routing_weighs_load_so_the_fast_one_is_not_stampeded() -> None:
    harness = RouterUnderTest(two(), routing_strategy="latency-based-routing")
    harness["a"].delay, harness["b"].delay = 0.01, 0.02
    for _ in range(6):  # learn both latencies
        await harness.send("g")
    harness["a"].delay, harness["b"].delay = 0.2, 0.2
    served = Counter(await asyncio.gather(*(harness.send("g") for _ in range(20))))
    assert served["b"] >= 5, served  # latency x (1 + in flight) sends the overflow on


async def test_usage_routing_picks_the_most_headroom_and_never_passes_a_limit() -> None:
    harness = RouterUnderTest(
        [deployment("g", "small", rpm=10), deployment("g", "large", rpm=40)],
        routing_strategy="usage-based-routing-v2",
        num_retries=0,
    )
    served = Counter()
    for _ in range(60):
        try:
            served[await harness.send("g")] += 1
        except Exception:
            served["refused"] += 1
    assert served == Counter({"large": 40, "small": 10, "refused": 10})


async def test_usage_routing_without_limits_sends_to_the_fewest_tokens() -> None:
    harness = RouterUnderTest(two(), routing_strategy="usage-based-routing")
    served = Counter([await harness.send("g") for _ in range(20)])
    assert served == Counter({"a": 10, "b": 10})


async def test_cost_routing_picks_the_cheaper_deployment_while_it_is_healthy() -> None:
    harness = RouterUnderTest(
        [
            deployment("g", "dear", model_info={"input_cost_per_token": 3e-6}),
            deployment("g", "cheap", model_info={"input_cost_per_token": 1e-6}),
        ],
        routing_strategy="cost-based-routing",
        allowed_fails=0,
        num_retries=1,
    )
    assert {await harness.send("g") for _ in range(10)} == {"cheap"}
    harness["cheap"].fail_next(UpstreamServerError("down", upstream_status=500))
    assert await harness.send("g") == "dear"  # retried on the other, and cheap cools
    assert {await harness.send("g") for _ in range(5)} == {"dear"}


async def test_a_group_may_use_its_own_strategy() -> None:
    harness = RouterUnderTest(
        [*two("shuffled"), *[deployment("busy", n) for n in ("c", "d")]],
        model_group_routing_strategy={"busy": "least-busy"},
    )
    assert harness.router.strategies.name_for("busy") == "least-busy"
    assert harness.router.strategies.name_for("shuffled") == "simple-shuffle"


def test_model_info_names_a_group_strategy() -> None:
    harness = RouterUnderTest(
        [deployment("g", "a", model_info={"routing_strategy": "cost-based-routing"})]
    )
    assert harness.router.strategies.name_for("g") == "cost-based-routing"


def test_the_load_figures_forget_idle_deployments_past_their_bound() -> None:
    stats = RoutingStats()
    stats.started("busy", 0.0)
    for index in range(MAX_TRACKED * 2):
        stats.started(f"made-up-{index}", 0.0)
        stats.ended(f"made-up-{index}")
    assert len(stats) <= MAX_TRACKED
    assert stats.in_flight("busy") == 1  # what is in flight is never forgotten
