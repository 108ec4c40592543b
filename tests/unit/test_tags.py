"""Tag-based routing on the real Router: matching, the default tag, and a clear refusal."""

from __future__ import annotations

import pytest
from router_harness import RouterUnderTest, deployment

from gateway.errors import InvalidRequest


def tagged_group(**settings: object) -> RouterUnderTest:
    return RouterUnderTest(
        [
            deployment("g", "team-a", tags=["teamA"]),
            deployment("g", "team-b", tags=["teamB", "eu"]),
            deployment("g", "fallback", tags=["default"]),
        ],
        enable_tag_filtering=True,
        **settings,
    )


async def test_a_tagged_request_goes_only_to_matching_deployments() -> None:
    harness = tagged_group()
    assert {await harness.send("g", tags=("teamA",)) for _ in range(10)} == {"team-a"}
    assert {await harness.send("g", tags=("eu", "nowhere")) for _ in range(10)} == {"team-b"}


async def test_untagged_and_unmatched_requests_go_to_the_default_deployments() -> None:
    harness = tagged_group()
    assert {await harness.send("g") for _ in range(5)} == {"fallback"}
    assert {await harness.send("g", tags=("teamZ",)) for _ in range(5)} == {"fallback"}


async def test_match_all_needs_every_tag() -> None:
    harness = tagged_group(tag_filtering_match_any=False)
    assert await harness.send("g", tags=("teamB", "eu")) == "team-b"
    assert await harness.send("g", tags=("teamA", "eu")) == "fallback"


async def test_no_match_and_no_default_is_a_clear_400() -> None:
    harness = RouterUnderTest(
        [deployment("g", "a", tags=["x"]), deployment("g", "b")], enable_tag_filtering=True
    )
    with pytest.raises(InvalidRequest) as refused:
        await harness.send("g", tags=("y",))
    assert "'y'" in refused.value.message and "a: x" in refused.value.message
    assert refused.value.param == "tags"
    assert harness.calls() == {"a": 0, "b": 0}
    # Untagged, with no default deployment: every deployment serves.
    assert {await harness.send("g") for _ in range(20)} == {"a", "b"}


async def test_tags_are_ignored_unless_tag_filtering_is_on() -> None:
    harness = RouterUnderTest([deployment("g", "a", tags=["x"]), deployment("g", "b")])
    assert len({await harness.send("g", tags=("x",)) for _ in range(30)}) == 2
