"""The spend ledger in Postgres: one row per request, priced, rolled up, readable.

Requests go through a real gateway process to the mock upstream; the rows are
read straight from Postgres and through ``/spend/logs`` and ``/spend/report``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai

from support.clients import async_sdk_client
from support.configs import CHAT, EMBED, MASTER_KEY, TEXT
from support.gateway_process import StartGateway
from support.ledger import (
    execute,
    fetch,
    rollups_match_rows,
    row_count,
    wait_for_rows,
)
from support.ledger_configs import (
    CHAT_INPUT,
    CHAT_OUTPUT,
    EMBED_INPUT,
    MASTER_KEY_HASH,
    MINI,
    MINI_INPUT,
    MINI_OUTPUT,
    UNPRICED,
    ledger_config,
)
from support.mock_upstream import Fail, MockUpstream

MESSAGES = [{"role": "user", "content": "What did this cost?"}]
PROMPT_TOKENS = 11  # the mock upstream's default usage
COMPLETION_TOKENS = 7
TOLERANCE = Decimal("1e-15")


def embedding_tokens(inputs: Any) -> int:
    """What the mock upstream reports for an embedding input."""
    return max(1, len(json.dumps(inputs)) // 4)


async def chat(sdk: openai.AsyncOpenAI, model: str, **options: Any) -> str:
    raw = await sdk.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, **options
    )
    raw.parse()
    return raw.headers["x-request-id"]


async def stream(sdk: openai.AsyncOpenAI, model: str, **options: Any) -> str:
    async with sdk.chat.completions.with_streaming_response.create(
        model=model, messages=MESSAGES, stream=True, **options
    ) as response:
        async for _line in response.iter_lines():
            pass
        return response.headers["x-request-id"]


async def failed(sdk: openai.AsyncOpenAI, model: str) -> tuple[str, int]:
    try:
        await sdk.chat.completions.create(model=model, messages=MESSAGES)
    except openai.APIStatusError as exc:
        return exc.response.headers["x-request-id"], exc.status_code
    raise AssertionError("the request was expected to fail")


def near(actual: Any, expected: float) -> bool:
    return actual is not None and abs(Decimal(actual) - Decimal(repr(expected))) < TOLERANCE


async def test_every_request_is_one_row_with_its_tokens_and_cost(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(
        ledger_config(upstream.base_url, tmp_path / "data"), env={"DATABASE_URL": ledger_db}
    )
    sdk = async_sdk_client(gateway)
    async with sdk:
        chats = await asyncio.gather(*(chat(sdk, CHAT, user="end-user-7") for _ in range(12)))
        streams = [await stream(sdk, CHAT) for _ in range(3)]
        streams += [await stream(sdk, CHAT, stream_options={"include_usage": True})]
        inputs = ["first text", "second, longer text to embed"]
        embeds = []
        for text in inputs:
            raw = await sdk.embeddings.with_raw_response.create(model=EMBED, input=text)
            embeds.append((raw.headers["x-request-id"], embedding_tokens(text)))
        unpriced = [await chat(sdk, UNPRICED) for _ in range(3)]
        minis = [await chat(sdk, MINI) for _ in range(2)]
        upstream.script(Fail(400, "The mock refuses this prompt."))
        refused = await failed(sdk, CHAT)
        unknown = await failed(sdk, "no-such-model")
    total = len(chats) + len(streams) + len(embeds) + len(unpriced) + len(minis) + 2

    await wait_for_rows(ledger_db, total)
    rows = {r["request_id"]: r for r in await fetch(ledger_db, "SELECT * FROM spend_log")}
    assert len(rows) == total
    chat_cost = PROMPT_TOKENS * CHAT_INPUT + COMPLETION_TOKENS * CHAT_OUTPUT
    for request_id in chats + streams:
        row = rows[request_id]
        assert row["model_group"] == CHAT
        assert row["deployment_id"] == "chat-deployment"
        assert row["provider"] == "openai"
        assert row["model"] == "gpt-upstream-chat"
        assert row["api_base_host"] == f"127.0.0.1:{upstream.port}"
        assert (row["prompt_tokens"], row["completion_tokens"]) == (
            PROMPT_TOKENS,
            COMPLETION_TOKENS,
        )
        assert near(row["cost_usd"], chat_cost), row["cost_usd"]
        assert row["status"] == 200 and row["error_type"] is None
        assert row["key_hash"] == MASTER_KEY_HASH and row["key_alias"] == "master"
        assert row["attempts"] == 1 and row["fallbacks"] == []
        assert row["latency_ms"] > 0
    for request_id in chats:
        assert rows[request_id]["end_user"] == "end-user-7"
        assert rows[request_id]["stream"] is False and rows[request_id]["ttft_ms"] is None
    for request_id in streams:
        assert rows[request_id]["stream"] is True
        assert 0 < rows[request_id]["ttft_ms"] <= rows[request_id]["latency_ms"]
    for request_id, tokens in embeds:
        row = rows[request_id]
        assert (row["call_type"], row["prompt_tokens"], row["completion_tokens"]) == (
            "embedding",
            tokens,
            0,
        )
        assert near(row["cost_usd"], tokens * EMBED_INPUT)
    for request_id in unpriced:
        assert rows[request_id]["prompt_tokens"] == PROMPT_TOKENS
        assert rows[request_id]["cost_usd"] is None, "an unknown price is recorded as unknown"
    for request_id in minis:
        expected = PROMPT_TOKENS * MINI_INPUT + COMPLETION_TOKENS * MINI_OUTPUT
        assert near(rows[request_id]["cost_usd"], expected)
    refused_row = rows[refused[0]]
    assert (refused_row["status"], refused_row["error_type"]) == (400, "upstream_bad_request")
    assert refused_row["deployment_id"] == "chat-deployment" and refused_row["attempts"] == 1
    unknown_row = rows[unknown[0]]
    assert (unknown_row["status"], unknown_row["error_type"]) == (404, "model_not_found")
    assert unknown_row["model_group"] == "no-such-model" and unknown_row["attempts"] == 0

    await rollups_match_rows(ledger_db)
    by_model = {
        r["model_group"]: r for r in await fetch(ledger_db, "SELECT * FROM spend_daily_model")
    }
    assert by_model[CHAT]["requests"] == len(chats) + len(streams) + 1
    assert by_model[CHAT]["failed_requests"] == 1
    assert by_model[UNPRICED]["unpriced_requests"] == len(unpriced)


async def test_spend_logs_pages_through_every_row_and_the_report_sums_the_rollups(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(
        ledger_config(upstream.base_url, tmp_path / "data"), env={"DATABASE_URL": ledger_db}
    )
    async with async_sdk_client(gateway) as sdk:
        ids = [await chat(sdk, CHAT) for _ in range(7)]
        ids += [await chat(sdk, MINI) for _ in range(4)]
    await wait_for_rows(ledger_db, len(ids))

    async with httpx.AsyncClient(
        base_url=gateway.base_url, headers=gateway.auth_headers(), timeout=30
    ) as http:
        seen: list[str] = []
        cursor = None
        for _page in range(len(ids)):
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/spend/logs", params=params)).raise_for_status().json()
            seen += [row["request_id"] for row in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids), "each row exactly once, none missing"
        started = [
            r["started_at"]
            for r in (await http.get("/spend/logs", params={"limit": "100"})).json()["data"]
        ]
        assert started == sorted(started, reverse=True), "newest first"

        only_mini = (await http.get("/spend/logs", params={"model": MINI})).json()["data"]
        assert sorted(r["request_id"] for r in only_mini) == sorted(ids[7:])
        by_key = (await http.get("/spend/logs", params={"key": MASTER_KEY_HASH})).json()
        assert len(by_key["data"]) == len(ids)
        nobody = (await http.get("/spend/logs", params={"team": "no-such-team"})).json()
        assert nobody["data"] == []
        future = (await http.get("/spend/logs", params={"start": "2999-01-01"})).json()
        assert future["data"] == []

        report = (await http.get("/spend/report", params={"group_by": "model"})).json()
        rollups = await fetch(
            ledger_db,
            "SELECT model_group, sum(requests) AS requests, sum(cost_usd) AS cost"
            " FROM spend_daily_model GROUP BY 1",
        )
        assert {r["model_group"]: r["requests"] for r in report["data"]} == {
            CHAT: 7,
            MINI: 4,
        }
        assert {r["model_group"]: r["cost_usd"] for r in report["data"]} == {
            r["model_group"]: float(r["cost"]) for r in rollups
        }
        keys = (await http.get("/spend/report", params={"group_by": "key"})).json()["data"]
        assert keys == [
            {
                "key_hash": MASTER_KEY_HASH,
                "key_alias": "master",
                "requests": 11,
                "failed_requests": 0,
                "prompt_tokens": 11 * PROMPT_TOKENS,
                "completion_tokens": 11 * COMPLETION_TOKENS,
                "cached_tokens": 0,
                "cache_write_tokens": 0,
                "cost_usd": keys[0]["cost_usd"],
                "unpriced_requests": 0,
            }
        ]
        providers = (await http.get("/spend/report", params={"group_by": "provider"})).json()
        assert [r["provider"] for r in providers["data"]] == ["openai"]
        teams = (await http.get("/spend/report", params={"group_by": "team"})).json()
        assert [(r["team_id"], r["requests"]) for r in teams["data"]] == [(None, 11)]
        # By day: every request once per UTC day, oldest day first (an earlier day's
        # roll-up put in place as the writer would have left it).
        today = datetime.now(UTC).date()
        earlier = today - timedelta(days=3)
        await execute(
            ledger_db,
            "INSERT INTO spend_daily_provider (day, provider, requests, failed_requests,"
            " prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, cost_usd,"
            " unpriced_requests) VALUES ($1, 'anthropic', 2, 1, 20, 10, 0, 0, 0.5, 0)",
            earlier,
        )
        days = (await http.get("/spend/report", params={"group_by": "day"})).json()["data"]
        assert [(r["day"], r["requests"], r["failed_requests"]) for r in days] == [
            (earlier.isoformat(), 2, 1),
            (today.isoformat(), 11, 0),
        ]
        assert days[1]["cost_usd"] == sum(r["cost_usd"] for r in report["data"])
        assert days[0]["cost_usd"] == 0.5


async def test_spend_endpoints_need_the_master_key_and_reject_bad_input(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(
        ledger_config(upstream.base_url, tmp_path / "data"), env={"DATABASE_URL": ledger_db}
    )
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
        for path in ("/spend/logs", "/spend/report?group_by=model"):
            assert (await http.get(path)).status_code == 401
            wrong = await http.get(path, headers={"Authorization": "Bearer sk-wrong"})
            assert wrong.status_code == 401
        http.headers["Authorization"] = f"Bearer {MASTER_KEY}"
        bad = {
            "/spend/report": "group_by",
            "/spend/report?group_by=region": "group_by",
            "/spend/report?group_by=model&start=yesterday": "start",
            "/spend/report?group_by=model&start=2026-02-01&end=2026-01-01": "end",
            "/spend/report?group_by=model&limit=0": "limit",
            "/spend/logs?limit=5000": "limit",
            "/spend/logs?limit=ten": "limit",
            "/spend/logs?cursor=not-a-cursor": "cursor",
            "/spend/logs?start=2026-01-02&end=2026-01-01": "end",
            "/spend/logs?modle=chat": "modle",
            "/spend/logs?model=a&model=b": "model",
        }
        for path, param in bad.items():
            response = await http.get(path)
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert error["param"] == param, (path, error)
        assert (await http.post("/spend/logs")).status_code == 405


async def test_a_graceful_shutdown_writes_every_queued_record(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    # An hour between flushes: only the shutdown can write these rows.
    config = ledger_config(upstream.base_url, tmp_path / "data", proxy_batch_write_at=3600)
    gateway = start_gateway(config, env={"DATABASE_URL": ledger_db})
    async with async_sdk_client(gateway) as sdk:
        ids = [await chat(sdk, CHAT) for _ in range(5)]
    assert await row_count(ledger_db) == 0

    assert gateway.stop() == 0

    rows = await fetch(ledger_db, "SELECT request_id FROM spend_log")
    assert sorted(r["request_id"] for r in rows) == sorted(ids)
    await rollups_match_rows(ledger_db)


async def test_a_text_completion_is_metered_like_a_chat(
    ledger_db: str, upstream: MockUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(
        ledger_config(upstream.base_url, tmp_path / "data"), env={"DATABASE_URL": ledger_db}
    )
    async with async_sdk_client(gateway) as sdk:
        raw = await sdk.completions.with_raw_response.create(model=TEXT, prompt="Say hi")
    await wait_for_rows(ledger_db, 1)
    (row,) = await fetch(ledger_db, "SELECT * FROM spend_log")
    assert row["request_id"] == raw.headers["x-request-id"]
    assert (row["call_type"], row["prompt_tokens"], row["completion_tokens"]) == (
        "completion",
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
