"""Hedged requests, black-box: a real gateway, counting mocks, the Postgres ledger."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import openai

from support.configs import MASTER_KEY
from support.fleet import UpstreamFleet
from support.gateway_process import GatewayProcess, StartGateway
from support.ledger import fetch, wait_for_rows
from support.mock_upstream import Reply

MESSAGES: Any = [{"role": "user", "content": "hello"}]
WAIT_S = 20.0


def sdk(gateway: GatewayProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0)


async def one(client: openai.AsyncOpenAI, stream: bool) -> dict[str, str]:
    """One request; the response's headers (after the whole stream, for a stream)."""
    if stream:
        async with client.chat.completions.with_streaming_response.create(
            model="g", messages=MESSAGES, stream=True
        ) as response:
            async for _ in response.iter_lines():
                pass
            return dict(response.headers)
    raw = await client.chat.completions.with_raw_response.create(model="g", messages=MESSAGES)
    raw.parse()
    return dict(raw.headers)


async def test_a_slow_deployment_is_hedged_the_fast_answer_wins_and_both_are_in_the_ledger(
    fleet: UpstreamFleet, start_gateway: StartGateway, ledger_db: str, tmp_path: Path
) -> None:
    fleet["slow"].set_default(Reply(delay=2.0))
    fleet["fast"].set_default(Reply(delay=0.05))
    config = {
        "model_list": [fleet.deployment("g", "slow"), fleet.deployment("g", "fast")],
        # A burst of 24 at once: room in the retry budget (which hedges draw from) for all.
        "router_settings": {"hedge_after_ms": 200, "retry_budget": {"min_retries_per_window": 30}},
        "general_settings": {"proxy_batch_write_at": 0.2, "ledger_data_dir": str(tmp_path)},
    }
    gateway = start_gateway(config, env={"DATABASE_URL": ledger_db})
    async with sdk(gateway) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(one(client, stream=i % 4 == 0) for i in range(24)))
        elapsed = time.monotonic() - started
    # Every answer came from the fast deployment: the slow one would have taken 2 s.
    assert {a["x-gateway-deployment"] for a in answers} == {"fast"}, elapsed
    hedged = [a["x-request-id"] for a in answers if a.get("x-gateway-hedge") == "won"]
    # A fast first attempt that a busy machine kept past 200 ms is hedged too (to the slow
    # deployment), and wins its race: "lost" is the hedge's outcome then.
    outrun = [a["x-request-id"] for a in answers if a.get("x-gateway-hedge") == "lost"]
    plain = [a["x-request-id"] for a in answers if "x-gateway-hedge" not in a]
    raced = len(hedged) + len(outrun)
    assert len(hedged) >= 1 and raced == fleet["slow"].calls(), (hedged, outrun)
    assert raced + len(plain) == 24
    # The slow upstream saw each of its requests cancelled (its connection closed).
    deadline = time.monotonic() + WAIT_S
    while fleet["slow"].gone_count < raced and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fleet["slow"].gone_count == raced

    await wait_for_rows(ledger_db, 24 + raced)
    rows = {r["request_id"]: r for r in await fetch(ledger_db, "SELECT * FROM spend_log")}
    assert len(rows) == 24 + raced
    for request_id in outrun:
        won, lost = rows[request_id], rows[f"{request_id}:hedge"]
        assert (won["deployment_id"], won["status"]) == ("fast", 200)
        assert (lost["deployment_id"], lost["status"], lost["error_type"]) == (
            "slow",
            499,
            "hedge_lost",
        )
    for request_id in hedged:
        won, lost = rows[request_id], rows[f"{request_id}:primary"]
        assert (won["deployment_id"], won["status"], won["attempts"]) == ("fast", 200, 2)
        assert (lost["deployment_id"], lost["status"], lost["error_type"]) == (
            "slow",
            499,
            "hedge_lost",
        )
        # Cancelled before it answered: no tokens reported, and its cost is not made up.
        assert (lost["prompt_tokens"], lost["completion_tokens"], lost["cost_usd"]) == (0, 0, None)
    for request_id in plain:
        assert rows[request_id]["attempts"] == 1


async def test_without_hedge_after_ms_no_request_is_duplicated(
    fleet: UpstreamFleet, start_gateway: StartGateway
) -> None:
    fleet["slow"].set_default(Reply(delay=0.3))
    fleet["fast"].set_default(Reply(delay=0.01))
    config = {"model_list": [fleet.deployment("g", "slow"), fleet.deployment("g", "fast")]}
    gateway = start_gateway(config)
    async with sdk(gateway) as client:
        answers = await asyncio.gather(*(one(client, stream=i % 4 == 0) for i in range(20)))
    assert sum(fleet.calls().values()) == 20
    assert not any("x-gateway-hedge" in a for a in answers)
    assert fleet["slow"].calls() >= 1  # slow answers were waited for, not hedged
