"""Changes published once take effect on every process within a second, with no restart.

Overrides: members of the fleet built as a gateway builds them (``SharedState``
on the real Redis, own key prefix); the admin API's own tests drive the same
path through two gateway processes. Invalidation: a cache flush or delete on
one gateway process drops the answers another gateway process holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from gateway.state.overrides import Override
from gateway.state.settings import RedisSettings
from gateway.state.shared import SharedState
from support.clients import CLIENT_TIMEOUT_S
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.redis_server import SHARED_REDIS_URL, shared_redis_prefix

__all__ = ["shared_redis_prefix"]

MESSAGES = [{"role": "user", "content": "hello"}]
PROPAGATION_BOUND_S = 1.0
EXPIRY_WAIT_S = 10.0
POLL_S = 0.02


def config_for(fleet: UpstreamFleet, prefix: str, **litellm: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": [fleet.deployment("alpha", "alpha-a"), fleet.deployment("beta", "beta-a")],
        "router_settings": {"num_retries": 0, "redis_key_prefix": prefix},
    }
    if litellm:
        config["litellm_settings"] = litellm
    return config


def wait_for(check: Callable[[], bool], since: float, what: str) -> None:
    while time.monotonic() - since < PROPAGATION_BOUND_S:
        if check():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"not within {PROPAGATION_BOUND_S}s: {what}")


def member(prefix: str) -> SharedState:
    """One process's shared state, as a gateway builds it."""
    return SharedState(
        RedisSettings(
            url=SHARED_REDIS_URL,
            where=SHARED_REDIS_URL,
            source="test",
            cluster=False,
            pool_size=4,
            budget_s=0.05,
            key_prefix=prefix,
        )
    )


async def until(check: Callable[[], bool], since: float, bound: float, what: str) -> float:
    while not check():
        assert time.monotonic() - since < bound, f"not within {bound}s: {what}"
        await asyncio.sleep(POLL_S / 4)
    return time.monotonic() - since


async def test_an_override_set_by_one_member_reaches_the_others_within_a_second(
    shared_redis_prefix: str,
) -> None:
    writer, reader = member(shared_redis_prefix), member(shared_redis_prefix)
    await writer.start()
    await reader.start()
    try:
        await writer.overrides.set(Override("alpha", redirect_to="beta", fallbacks=("gamma",)))
        published = time.monotonic()
        await until(
            lambda: reader.overrides.redirect("alpha") == "beta",
            published,
            PROPAGATION_BOUND_S,
            "redirect",
        )
        assert reader.overrides.fallbacks("alpha") == ("gamma",)

        # A member that joins later loads it before it serves anything.
        later = member(shared_redis_prefix)
        await later.start()
        try:
            assert later.overrides.redirect("alpha") == "beta"
            await writer.overrides.delete("alpha")
            deleted = time.monotonic()
            for other in (reader, later):
                await until(
                    lambda o=other: o.overrides.redirect("alpha") is None,
                    deleted,
                    PROPAGATION_BOUND_S,
                    "delete",
                )
        finally:
            await later.stop()

        # Expiry needs no message: past it, every member ignores the override.
        expires_at = time.time() + 0.5
        await writer.overrides.set(Override("alpha", redirect_to="beta", expires_at=expires_at))
        set_at = time.monotonic()
        await until(
            lambda: reader.overrides.redirect("alpha") == "beta", set_at, PROPAGATION_BOUND_S, "set"
        )
        await until(
            lambda: reader.overrides.redirect("alpha") is None, set_at, EXPIRY_WAIT_S, "expiry"
        )
        assert time.time() >= expires_at
    finally:
        await writer.stop()
        await reader.stop()


def test_a_cache_flush_or_delete_on_one_process_drops_the_answers_the_other_holds(
    fleet: UpstreamFleet, start_gateway: StartGateway, shared_redis_prefix: str
) -> None:
    config = config_for(
        fleet, shared_redis_prefix, cache=True, cache_params={"type": "local", "shared": True}
    )
    env = {"REDIS_URL": SHARED_REDIS_URL}
    one = start_gateway(config, env=env)
    other = start_gateway(config, env=env)

    def cache_state(http: httpx.Client, gateway: GatewayProcess) -> tuple[str, str]:
        response = http.post(
            f"{gateway.v1_url}/chat/completions",
            headers=gateway.auth_headers(),
            json={"model": "alpha", "messages": MESSAGES},
        )
        assert response.status_code == 200, response.text
        return response.headers["x-gateway-cache"], response.headers["x-gateway-cache-key"]

    with httpx.Client(timeout=CLIENT_TIMEOUT_S) as http:
        for action in ("flushall", "delete"):
            cache_state(http, other)
            state, key = cache_state(http, other)
            assert state == "hit"
            if action == "flushall":
                response = http.post(f"{one.base_url}/cache/flushall", headers=one.auth_headers())
            else:
                response = http.post(
                    f"{one.base_url}/cache/delete", headers=one.auth_headers(), json={"keys": [key]}
                )
            assert response.status_code == 200, response.text
            published = time.monotonic()
            # Each poll that misses stores the answer again, so poll until a miss shows.
            wait_for(lambda: cache_state(http, other)[0] == "miss", published, what=action)
