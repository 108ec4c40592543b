"""Two gateway processes writing spend at once: no deadlock, totals exact.

Both flush tiny batches as often as they can, so their transactions upsert the
same roll-up rows (same day, key, team, model, provider) at the same time.
Each upsert takes its row locks in key order, so they wait for each other
instead of deadlocking; and the totals are exactly what was sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai

from support.clients import async_sdk_client
from support.configs import CHAT
from support.gateway_process import GatewayProcess, StartGateway
from support.ledger import (
    fetch,
    fetchval,
    rollups_match_rows,
    wait_for_rows,
)
from support.ledger_configs import CHAT_INPUT, CHAT_OUTPUT, MINI, ledger_config
from support.mock_upstream import MockUpstream

MESSAGES = [{"role": "user", "content": "Split the bill."}]
PER_GATEWAY = 150
CONCURRENCY = 8
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7


async def load(gateway: GatewayProcess) -> list[str]:
    ids: list[str] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for index in range(PER_GATEWAY):
        queue.put_nowait(CHAT if index % 3 else MINI)

    async def client(sdk: openai.AsyncOpenAI) -> None:
        while not queue.empty():
            model = queue.get_nowait()
            raw = await sdk.chat.completions.with_raw_response.create(
                model=model, messages=MESSAGES
            )
            ids.append(raw.headers["x-request-id"])

    async with async_sdk_client(gateway) as sdk:
        await asyncio.gather(*(client(sdk) for _ in range(CONCURRENCY)))
    return ids


async def deadlocks(url: str) -> int:
    return int(
        await fetchval(
            url, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
    )


async def test_two_gateways_writing_at_once_never_deadlock_and_sum_exactly(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    before = await deadlocks(ledger_db)
    config = ledger_config(
        upstream.base_url, tmp_path / "data", proxy_batch_write_at=0.02, ledger_batch_size=5
    )
    first = start_gateway(config, env={"DATABASE_URL": ledger_db})
    second = start_gateway(config, env={"DATABASE_URL": ledger_db})

    ids_first, ids_second = await asyncio.gather(load(first), load(second))
    total = len(ids_first) + len(ids_second)
    await wait_for_rows(ledger_db, total)
    # Closing the gateways ends their database sessions, which publishes their statistics.
    assert first.stop() == 0 and second.stop() == 0

    rows = await fetch(ledger_db, "SELECT request_id FROM spend_log")
    assert sorted(r["request_id"] for r in rows) == sorted(ids_first + ids_second)
    await rollups_match_rows(ledger_db)
    (chat,) = await fetch(
        ledger_db,
        "SELECT sum(requests) AS requests, sum(prompt_tokens) AS prompt,"
        " sum(completion_tokens) AS completion, sum(cost_usd) AS cost"
        " FROM spend_daily_model WHERE model_group = $1",
        CHAT,
    )
    chats = 2 * sum(1 for index in range(PER_GATEWAY) if index % 3)
    assert (chat["requests"], chat["prompt"], chat["completion"]) == (
        chats,
        chats * PROMPT_TOKENS,
        chats * COMPLETION_TOKENS,
    )
    row_cost = await fetchval(
        ledger_db, "SELECT sum(cost_usd) FROM spend_log WHERE model_group = $1", CHAT
    )
    assert chat["cost"] == row_cost
    expected = chats * (PROMPT_TOKENS * CHAT_INPUT + COMPLETION_TOKENS * CHAT_OUTPUT)
    assert abs(float(chat["cost"]) - expected) < 1e-9
    (key,) = await fetch(ledger_db, "SELECT sum(requests) AS requests FROM spend_daily_key")
    assert key["requests"] == total
    assert await deadlocks(ledger_db) == before, "Postgres detected a deadlock"
    for gateway in (first, second):
        assert "cannot deliver" not in gateway.log_text()
