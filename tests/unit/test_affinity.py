"""Session affinity on the real Router with fake providers: keep, move, hold, never override."""

from __future__ import annotations

import time
from collections import Counter

from router_harness import RouterUnderTest, deployment

from gateway.api.http import RequestHeaders
from gateway.api.parse import session_of
from gateway.errors import UpstreamServerError
from gateway.router.affinity import pin_key
from gateway.state.pins import LocalPins


def three(**params: object) -> list[dict[str, object]]:
    return [deployment("g", name, **params) for name in "abc"]


async def test_a_session_stays_on_one_deployment_and_sessions_spread() -> None:
    harness = RouterUnderTest(three(), session_affinity=True)
    assert harness.router.affinity_enabled
    for session in ("s1", "s2", "s3", "s4", "s5", "s6"):
        served = {await harness.send("g", session=session) for _ in range(20)}
        assert len(served) == 1, (session, served)
    # Without a session the strategy spreads as before.
    assert len({await harness.send("g") for _ in range(30)}) == 3


async def test_without_the_setting_a_session_is_not_pinned() -> None:
    harness = RouterUnderTest(three())
    assert not harness.router.affinity_enabled
    assert len({await harness.send("g", session="s1") for _ in range(30)}) == 3


async def test_a_failing_pinned_deployment_moves_the_session_for_good() -> None:
    harness = RouterUnderTest(three(), session_affinity={"ttl": 600}, num_retries=2)
    first = await harness.send("g", session="s")
    harness[first].fail_next(UpstreamServerError("boom", upstream_status=500))
    moved = await harness.send("g", session="s")
    assert moved != first
    # It stays on the new deployment, even once the old one answers again.
    assert {await harness.send("g", session="s") for _ in range(20)} == {moved}


async def test_a_cooling_pinned_deployment_is_never_used() -> None:
    harness = RouterUnderTest(three(), session_affinity=True)
    first = await harness.send("g", session="s")
    harness.cooldowns.cool(first, until=10**10, reason="test")
    served = Counter([await harness.send("g", session="s") for _ in range(10)])
    assert first not in served and len(served) == 1


async def test_a_deployment_at_its_limit_serves_elsewhere_and_keeps_the_pin() -> None:
    harness = RouterUnderTest(three(rpm=3), session_affinity=True)
    served = [await harness.send("g", session="s") for _ in range(5)]
    pinned = served[0]
    assert served[:3] == [pinned] * 3
    assert pinned not in served[3:]  # past its rpm: elsewhere, never over the limit
    held = harness.pins.entry(pin_key("g", "s"), time.time())
    assert held is not None and held.deployment_id == pinned


async def test_one_deployment_groups_and_tags_are_respected() -> None:
    harness = RouterUnderTest(
        [deployment("solo", "x"), *three(tags=["t1"]), deployment("g", "d", tags=["t2"])],
        session_affinity=True,
        enable_tag_filtering=True,
    )
    assert await harness.send("solo", session="s") == "x"
    pinned = await harness.send("g", session="s", tags=("t1",))
    assert pinned in "abc"
    # A request of the same session whose tags rule the pin out goes where its tags say.
    assert await harness.send("g", session="s", tags=("t2",)) == "d"


def test_local_pins_forget_after_their_ttl_and_past_their_size() -> None:
    pins = LocalPins(ttl=10, max_sessions=2)
    pins.put("a", "d1", now=0)
    pins.put("b", "d2", now=0)
    assert pins.entry("a", now=5) is not None  # renewed until 15; "b" is now the oldest
    pins.put("c", "d3", now=6)
    assert pins.entry("b", now=6) is None and len(pins) == 2
    assert pins.entry("a", now=14) is not None
    assert pins.entry("c", now=17) is None  # 6 + 10 passed without a request


def test_the_session_is_the_first_of_the_headers_and_fields() -> None:
    headers = RequestHeaders(session_id=b"hdr", agent_session_id=b"claude")
    body = {"prompt_cache_key": "pck", "metadata": {"session_id": "meta"}, "user": "u"}
    assert session_of(headers, body, body["user"]) == "hdr"
    assert session_of(RequestHeaders(agent_session_id=b"claude"), body, "u") == "claude"
    assert session_of(RequestHeaders(), body, "u") == "pck"
    del body["prompt_cache_key"]
    assert session_of(RequestHeaders(), body, "u") == "meta"
    assert session_of(RequestHeaders(), {"user": "u"}, "u") == "u"
    assert session_of(RequestHeaders(), {"user": 7}, 7) is None


def test_a_pin_name_never_holds_the_session_id() -> None:
    key = pin_key("g", "alice@example.com")
    assert key.startswith("g:") and "alice" not in key
    assert key == pin_key("g", "alice@example.com") != pin_key("h", "alice@example.com")
