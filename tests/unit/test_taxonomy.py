"""DESIGN.md's error table, row by row: retry, cooldown and fallback for each outcome."""

from __future__ import annotations

import time

import pytest
from router_harness import RouterUnderTest, deployment

from gateway.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)

ROWS = [
    # error, first deployment's calls, the other's calls, cooled at once, fell back to
    (UpstreamBadRequest("bad", upstream_status=400), 1, 0, False, None),
    (ContextWindowExceeded("long", upstream_status=400), 1, 0, False, "big"),
    (ContentPolicyViolation("no", upstream_status=400), 1, 0, False, "safe"),
    (UpstreamAuthError("key", upstream_status=401), 1, 1, True, None),
    (UpstreamNotFound("gone", upstream_status=404), 1, 0, True, "other"),
    (UpstreamTimeout("slow", upstream_status=None), 1, 1, False, None),
    (UpstreamRateLimited("busy", upstream_status=429), 1, 1, True, None),
    (UpstreamServerError("boom", upstream_status=500), 1, 1, False, None),
]


def harness() -> RouterUnderTest:
    return RouterUnderTest(
        [
            deployment("g", "first", order=1),
            deployment("g", "second", order=2),
            deployment("big", "big"),
            deployment("safe", "safe"),
            deployment("other", "other"),
        ],
        num_retries=1,
        allowed_fails=3,
        fallbacks=[{"g": ["other"]}],
        context_window_fallbacks=[{"g": ["big"]}],
        content_policy_fallbacks=[{"g": ["safe"]}],
    )


@pytest.mark.parametrize(
    ("error", "first_calls", "second_calls", "cooled", "fell_back_to"),
    ROWS,
    ids=[type(row[0]).__name__ for row in ROWS],
)
async def test_each_outcome_routes_as_the_table_says(
    error: UpstreamError,
    first_calls: int,
    second_calls: int,
    cooled: bool,
    fell_back_to: str | None,
) -> None:
    router = harness()
    router["first"].fail_next(error)
    try:
        served = await router.send("g")
    except UpstreamError as raised:
        served = None
        assert type(raised) is type(error)
    assert router["first"].calls == first_calls
    assert router["second"].calls == second_calls
    assert ("first" in router.cooldowns.cooling_all(time.time())) is cooled
    if fell_back_to is not None:
        assert served == fell_back_to
    elif second_calls:
        assert served == "second"  # moved to the other deployment
    else:
        assert served is None
