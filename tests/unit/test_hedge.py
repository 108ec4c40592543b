"""Hedged requests on the real Router with fake providers."""

from __future__ import annotations

import asyncio

from router_harness import RouterUnderTest, deployment

from gateway.errors import UpstreamBadRequest, UpstreamServerError


def slow_and_fast(**settings: object) -> RouterUnderTest:
    harness = RouterUnderTest(
        [deployment("g", "slow"), deployment("g", "fast")], hedge_after_ms=50, **settings
    )
    harness["slow"].delay = 1.0
    harness["fast"].delay = 0.01
    return harness


async def served_until_slow_is_first(harness: RouterUnderTest) -> tuple[str, str | None]:
    """Requests until one goes to the slow deployment first: (who served it, trace.hedge)."""
    for _ in range(50):
        calls = harness["slow"].calls
        _, trace = await harness.router.send(harness.request("g"))
        if harness["slow"].calls > calls:
            return trace.deployment_id, trace.hedge
    raise AssertionError("the slow deployment was never picked first")


async def test_a_slow_attempt_is_hedged_and_the_hedge_wins_and_the_loser_is_cancelled() -> None:
    harness = slow_and_fast()
    served, hedge = await served_until_slow_is_first(harness)
    assert (served, hedge) == ("fast", "won")
    await asyncio.sleep(0)
    assert harness["slow"].cancelled >= 1 and harness["slow"].in_flight == 0


async def test_the_losing_attempt_is_reported_for_the_ledger() -> None:
    harness = slow_and_fast()
    for _ in range(50):
        _, trace = await harness.router.send(harness.request("g"))
        if trace.hedge is not None:
            break
    assert trace.hedge == "won" and trace.attempts == 2
    (loss,) = trace.hedge_losses
    assert (loss.role, loss.deployment_id, loss.usage) == ("primary", "slow", None)
    # The race's upstream time is its own length, not both attempts' added up.
    assert trace.upstream_seconds < 0.5


async def test_an_answer_within_the_delay_is_never_hedged() -> None:
    harness = RouterUnderTest([deployment("g", "a"), deployment("g", "b")], hedge_after_ms=500)
    for provider in harness.providers.values():
        provider.delay = 0.005
    for _ in range(20):
        _, trace = await harness.router.send(harness.request("g"))
        assert trace.hedge is None and trace.attempts == 1
    assert sum(harness.calls().values()) == 20


async def test_without_the_setting_nothing_is_duplicated() -> None:
    harness = RouterUnderTest([deployment("g", "slow"), deployment("g", "fast")])
    harness["slow"].delay = 0.1
    for _ in range(10):
        await harness.send("g")
    assert sum(harness.calls().values()) == 10


async def test_a_failed_first_attempt_leaves_the_race_to_the_hedge() -> None:
    harness = slow_and_fast(num_retries=0)
    harness["slow"].fail_next(*[UpstreamServerError("boom", upstream_status=500)] * 50)
    served, hedge = await served_until_slow_is_first(harness)
    # The slow one fails after 1 s; the hedge has answered long before.
    assert (served, hedge) == ("fast", "won")


async def test_a_request_error_ends_the_race() -> None:
    harness = slow_and_fast()
    harness["slow"].delay = 0.1
    harness["fast"].delay = 0.5
    harness["slow"].fail_next(*[UpstreamBadRequest("bad", upstream_status=400)] * 50)
    harness["fast"].fail_next(*[UpstreamBadRequest("bad", upstream_status=400)] * 50)
    try:
        await harness.router.send(harness.request("g"))
    except UpstreamBadRequest:
        pass
    else:
        raise AssertionError("a 400 must end the request")
    await asyncio.sleep(0)
    assert all(provider.in_flight == 0 for provider in harness.providers.values())


async def test_hedges_are_drawn_from_the_retry_budget() -> None:
    harness = RouterUnderTest(
        [deployment("g", "slow", order=1), deployment("g", "other", order=2)],
        hedge_after_ms=20,
        retry_budget={"ratio": 0, "min_retries_per_window": 2},
    )
    harness["slow"].delay = 0.2  # every request goes to it first, and would be hedged
    results = await asyncio.gather(*(harness.router.send(harness.request("g")) for _ in range(8)))
    hedged = [trace for _, trace in results if trace.attempts == 2]
    assert len(hedged) == 2, [trace.attempts for _, trace in results]


async def test_a_group_of_one_is_never_hedged_and_model_info_sets_a_groups_delay() -> None:
    harness = RouterUnderTest(
        [
            deployment("solo", "only"),
            deployment("g", "a", model_info={"hedge_after_ms": 20}),
            deployment("g", "b"),
        ]
    )
    harness["only"].delay = 0.1
    _, trace = await harness.router.send(harness.request("solo"))
    assert trace.hedge is None and trace.attempts == 1
    harness["a"].delay = harness["b"].delay = 0.2
    _, trace = await harness.router.send(harness.request("g"))
    assert trace.attempts == 2 and trace.hedge in {"won", "lost"}
