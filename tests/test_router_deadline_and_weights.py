"""One deadline for the whole walk, and simple-shuffle's weights."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

import httpx
import openai
import pytest

from support.clients import sdk_client
from support.fleet import UpstreamFleet
from support.gateway_process import StartGateway
from support.mock_upstream import Reply

MESSAGES = [{"role": "user", "content": "hello"}]


def test_a_chain_whose_every_hop_hangs_returns_within_request_timeout(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    request_timeout = 2.0
    for name in ("hang-a", "hang-b", "hang-c"):
        fleet[name].default = Reply(delay=25)
    config = {
        "model_list": [
            fleet.deployment("hang", "hang-a"),
            fleet.deployment("hang", "hang-b"),
            fleet.deployment("hang-fallback", "hang-c"),
        ],
        "router_settings": {
            "num_retries": 3,
            "timeout": request_timeout,
            "fallbacks": [{"hang": ["hang-fallback"]}],
        },
    }
    gateway = start_gateway(config)
    started = time.monotonic()
    with sdk_client(gateway) as client, pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="hang", messages=MESSAGES)
    elapsed = time.monotonic() - started
    # Each retry and fallback got only what was left of one deadline (generous margin:
    # the point is that the walk did not restart the clock, as 3 retries + a fallback
    # with fresh budgets would take five times as long).
    assert elapsed < request_timeout + 3.0
    assert raised.value.status_code == 504
    assert "timed out after 2s" in raised.value.message
    assert "hang-a" in raised.value.message or "hang-b" in raised.value.message


def test_the_per_request_timeout_field_sets_the_deadline(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["slow-a"].default = Reply(delay=25)
    gateway = start_gateway({"model_list": [fleet.deployment("slow", "slow-a")]})
    started = time.monotonic()
    with sdk_client(gateway) as client, pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="slow", messages=MESSAGES, extra_body={"timeout": 1})
    assert raised.value.status_code == 504
    assert time.monotonic() - started < 1.0 + 3.0


async def test_weights_split_traffic_in_proportion_over_10000_requests(
    start_gateway: StartGateway,
) -> None:
    picks = 10_000
    config = {
        "model_list": [
            {
                "model_name": "weighted",
                "litellm_params": {"model": "mock/light", "weight": 1},
                "model_info": {"id": "light"},
            },
            {
                "model_name": "weighted",
                "litellm_params": {"model": "mock/heavy", "weight": 3},
                "model_info": {"id": "heavy"},
            },
        ]
    }
    gateway = start_gateway(config)
    served: Counter[str] = Counter()
    body = {"model": "weighted", "messages": MESSAGES}
    remaining = iter(range(picks))

    async def worker(http: httpx.AsyncClient) -> None:
        for _ in remaining:
            response = await http.post("/v1/chat/completions", json=body)
            assert response.status_code == 200, response.text
            served[response.headers["x-gateway-deployment"]] += 1

    async with httpx.AsyncClient(
        base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
    ) as http:
        await asyncio.gather(*(worker(http) for _ in range(16)))
    assert sum(served.values()) == picks
    expected = picks * 0.25
    sigma = math.sqrt(picks * 0.25 * 0.75)
    # Five standard deviations: a correct shuffle fails this about once in 1.7 million runs.
    assert abs(served["light"] - expected) < 5 * sigma, served
