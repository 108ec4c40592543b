"""Hostile traffic cannot grow ``/metrics``: made-up model names (on every inference route,
a wildcard's included) and made-up paths are counted under fixed label values, so the set
of series stays what the config makes it."""

from __future__ import annotations

import random
import re
import string

import httpx

from support.configs import MASTER_KEY
from support.gateway_process import StartGateway

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) ", re.MULTILINE)
REQUESTS = 10_000


def _series(client: httpx.Client) -> set[str]:
    exposition = client.get("/metrics").text
    return set(SAMPLE.findall(exposition))


def _junk(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits + "-./", k=12))


def test_random_model_names_and_paths_leave_the_series_unchanged(
    start_gateway: StartGateway,
) -> None:
    config = {
        "model_list": [
            {"model_name": "chat", "litellm_params": {"model": "mock/chat"}},
            {
                "model_name": "mock/*",
                "litellm_params": {"model": "mock/*", "mock_failure_rate": 1.0,
                                   "mock_failure_status": 404},
            },
        ],
        "router_settings": {"num_retries": 0},
    }  # fmt: skip
    gateway = start_gateway(config, master_key=MASTER_KEY)
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as client:

        def junk_round() -> None:
            name = _junk(rng)
            message = [{"role": "user", "content": "hi"}]
            client.post("/v1/chat/completions", json={"model": name, "messages": message})
            client.post("/v1/chat/completions", json={"model": f"mock/{name}", "messages": message})
            client.post("/v1/embeddings", json={"model": name, "input": "x"})
            client.post("/v1/responses", json={"model": name, "input": "x"})
            client.get(f"/{_junk(rng)}")
            client.post(f"/v1/{_junk(rng)}", json={})

        junk_round()  # the fixed "unknown" series exist from here on
        before = _series(client)
        for _ in range(REQUESTS // 6):
            junk_round()
        after = _series(client)
    assert after == before, sorted(after - before)[:10]
