"""Spend that matches the invoice: each kind of token at its own price, in the Postgres ledger.

Real gateway, real Postgres, mock Anthropic and OpenAI-compatible upstreams that report
cache reads, cache writes (5-minute and 1-hour), long prompts and service tiers. The
expected costs are computed here from the providers' public price lists, not from the
gateway's table, so a wrong row in either is caught.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.ledger import _admin, database_url, fetch, wait_until
from support.mock_anthropic import MockAnthropic, Text, claude_deployment
from support.mock_upstream import MockUpstream, Reply

# Claude Sonnet 4.5, USD per million tokens: input, output, cache read, 5-minute write,
# 1-hour write; and above 200k prompt tokens.
SONNET = (3.0, 15.0, 0.30, 3.75, 6.0)
SONNET_LONG = (6.0, 22.5, 0.60, 7.5, 12.0)
# Claude Haiku 4.5, the model the "claude-opus-4-5" alias below really serves.
HAIKU = (1.0, 5.0, 0.10, 1.25, 2.0)
# An OpenAI-compatible deployment priced in its model_info (cache writes reported as
# OpenRouter reports them), and GPT-5 at its standard and flex prices.
HOUSE = (2.0, 8.0, 0.5, 2.5, 2.5)
GPT5 = (1.25, 10.0, 0.125, 1.25, 1.25)
GPT5_FLEX = (0.625, 5.0, 0.0625, 0.625, 0.625)
CACHED = Text(
    content="Cached answer.",
    input_tokens=1_200,
    cache_read=40_000,
    cache_creation=9_000,
    cache_creation_1h=3_000,
    output_tokens=800,
)
QUESTION = [{"role": "user", "content": "Summarise the repository."}]


def expected_cost(
    prices: tuple[float, ...], *, plain: int, read: int, write_5m: int, write_1h: int, output: int
) -> Decimal:
    """Prices are (input, output, cache read, 5-minute write, 1-hour write) per million."""
    tokens = (plain, output, read, write_5m, write_1h)
    pairs = zip(tokens, prices, strict=True)
    total = sum((Decimal(n) * Decimal(str(p)) for n, p in pairs), Decimal(0))
    return total / Decimal(1_000_000)


@pytest.fixture(scope="module")
def invoice_db() -> Iterator[str]:
    """A database of this module's own: its rows are read by request id, never truncated."""
    name = f"gateway_invoice_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def claude() -> Iterator[MockAnthropic]:
    with MockAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def compatible() -> Iterator[MockUpstream]:
    with MockUpstream() as server:
        yield server


def _openai(group: str, model: str, base: str, **info: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": f"openai/{model}", "api_base": base, "api_key": "sk-up"},
        "model_info": {"id": group, **info},
    }


@pytest.fixture(scope="module")
def gateway(
    claude: MockAnthropic,
    compatible: MockUpstream,
    invoice_db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("invoice")
    config = {
        "model_list": [
            claude_deployment("sonnet", "claude-sonnet-4-5-20250929", claude.api_base),
            # A group named like a pricier model: priced as the model it serves.
            claude_deployment("claude-opus-4-5", "claude-haiku-4-5-20251001", claude.api_base),
            _openai(
                "house",
                "house-model",
                compatible.base_url,
                input_cost_per_token=2e-06,
                output_cost_per_token=8e-06,
                cache_read_input_token_cost=5e-07,
                cache_creation_input_token_cost=2.5e-06,
            ),
            _openai("gpt5", "gpt-5", compatible.base_url),
        ],
        "router_settings": {"num_retries": 0, "model_group_alias": {"writer": "sonnet"}},
        "general_settings": {"proxy_batch_write_at": 0.1, "ledger_data_dir": str(workdir)},
    }
    process = GatewayProcess(
        workdir, config, master_key=MASTER_KEY, env={"DATABASE_URL": invoice_db}
    )
    with process.start():
        yield process


@pytest.fixture
def openai_client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with sdk_client(gateway) as sdk:
        yield sdk


@pytest.fixture
def anthropic_client(gateway: GatewayProcess) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as client:
        yield client


def ledger_row(url: str, request_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def written() -> bool:
            rows = await fetch(url, "SELECT * FROM spend_log WHERE request_id = $1", request_id)
            found[:] = [dict(r) for r in rows]
            return bool(found)

        await wait_until(written, f"the ledger row of {request_id}")
        return found[0]

    return asyncio.run(read())


def assert_priced(row: dict[str, Any], expected: Decimal) -> None:
    cost = row["cost_usd"]
    assert cost is not None, "the row is unpriced"
    assert round(cost, 2) == round(expected, 2), (cost, expected)
    assert abs(cost - expected) < Decimal("1e-9"), (cost, expected)


SONNET_CACHED = expected_cost(
    SONNET, plain=1_200, read=40_000, write_5m=6_000, write_1h=3_000, output=800
)


def test_anthropic_cache_reads_and_writes_through_chat_cost_their_own_prices(
    claude: MockAnthropic, openai_client: openai.OpenAI, invoice_db: str
) -> None:
    claude.script(CACHED, CACHED)
    raw = openai_client.chat.completions.with_raw_response.create(model="sonnet", messages=QUESTION)
    usage = raw.parse().usage
    assert usage is not None and usage.prompt_tokens == 50_200
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 40_000
    assert usage.model_dump()["prompt_tokens_details"]["cache_write_tokens"] == 9_000
    stream = openai_client.chat.completions.with_raw_response.create(
        model="sonnet", messages=QUESTION, stream=True
    )
    stream_id = stream.headers["x-request-id"]
    assert "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    for request_id in (raw.headers["x-request-id"], stream_id):
        row = ledger_row(invoice_db, request_id)
        assert (row["prompt_tokens"], row["completion_tokens"]) == (50_200, 800)
        assert (row["cached_tokens"], row["cache_write_tokens"]) == (40_000, 9_000)
        assert row["model"] == "claude-sonnet-4-5-20250929"
        assert_priced(row, SONNET_CACHED)


def test_anthropic_cache_usage_on_native_messages_is_priced_the_same(
    claude: MockAnthropic, anthropic_client: anthropic.Anthropic, invoice_db: str
) -> None:
    claude.script(CACHED, CACHED)
    message = anthropic_client.messages.with_raw_response.create(
        model="writer", max_tokens=1_000, messages=QUESTION
    )
    usage = message.parse().usage
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == 3_000
    with anthropic_client.messages.stream(
        model="writer", max_tokens=1_000, messages=QUESTION
    ) as stream:
        final = stream.get_final_message()
        stream_id = stream.response.headers["x-request-id"]
    assert final.usage.cache_read_input_tokens == 40_000
    for request_id in (message.headers["x-request-id"], stream_id):
        row = ledger_row(invoice_db, request_id)
        assert row["call_type"] == "messages"
        assert row["model_group"] == "sonnet", "the alias is metered as the group it names"
        assert (row["cached_tokens"], row["cache_write_tokens"]) == (40_000, 9_000)
        assert_priced(row, SONNET_CACHED)


def test_a_prompt_above_200k_tokens_pays_the_long_context_price_on_every_token(
    claude: MockAnthropic, openai_client: openai.OpenAI, invoice_db: str
) -> None:
    long = Text(content="Long.", input_tokens=150_000, cache_read=60_000, output_tokens=1_000)
    claude.script(long)
    raw = openai_client.chat.completions.with_raw_response.create(model="sonnet", messages=QUESTION)
    row = ledger_row(invoice_db, raw.headers["x-request-id"])
    assert row["prompt_tokens"] == 210_000
    assert_priced(
        row,
        expected_cost(
            SONNET_LONG, plain=150_000, read=60_000, write_5m=0, write_1h=0, output=1_000
        ),
    )


def test_a_group_named_like_another_model_is_priced_as_the_model_it_serves(
    claude: MockAnthropic, openai_client: openai.OpenAI, invoice_db: str
) -> None:
    claude.script(CACHED)
    raw = openai_client.chat.completions.with_raw_response.create(
        model="claude-opus-4-5", messages=QUESTION
    )
    row = ledger_row(invoice_db, raw.headers["x-request-id"])
    assert row["model_group"] == "claude-opus-4-5"
    assert row["model"] == "claude-haiku-4-5-20251001"
    assert_priced(
        row,
        expected_cost(HAIKU, plain=1_200, read=40_000, write_5m=6_000, write_1h=3_000, output=800),
    )


def test_openai_shaped_cache_usage_costs_the_deployments_four_prices(
    compatible: MockUpstream, openai_client: openai.OpenAI, invoice_db: str
) -> None:
    reply = Reply(
        content="Compatible.",
        prompt_tokens=30_000,
        cached_tokens=20_000,
        cache_write_tokens=5_000,
        completion_tokens=500,
    )
    compatible.script(reply, reply)
    raw = openai_client.chat.completions.with_raw_response.create(model="house", messages=QUESTION)
    stream = openai_client.chat.completions.with_raw_response.create(
        model="house", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    stream_id = stream.headers["x-request-id"]
    chunks = list(stream.parse())
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 30_000
    expected = expected_cost(
        HOUSE, plain=5_000, read=20_000, write_5m=5_000, write_1h=0, output=500
    )
    for request_id in (raw.headers["x-request-id"], stream_id):
        row = ledger_row(invoice_db, request_id)
        assert (row["cached_tokens"], row["cache_write_tokens"]) == (20_000, 5_000)
        assert_priced(row, expected)


def test_the_flex_tier_is_priced_at_flex_rates(
    compatible: MockUpstream, openai_client: openai.OpenAI, invoice_db: str
) -> None:
    flex = Reply(
        content="Later.", prompt_tokens=40_000, completion_tokens=4_000, service_tier="flex"
    )
    standard = Reply(content="Now.", prompt_tokens=40_000, completion_tokens=4_000)
    compatible.script(flex, standard)
    flexed = openai_client.chat.completions.with_raw_response.create(
        model="gpt5", messages=QUESTION, stream=True
    )
    list(flexed.parse())
    plain = openai_client.chat.completions.with_raw_response.create(model="gpt5", messages=QUESTION)
    tokens = {"plain": 40_000, "read": 0, "write_5m": 0, "write_1h": 0, "output": 4_000}
    assert_priced(
        ledger_row(invoice_db, flexed.headers["x-request-id"]), expected_cost(GPT5_FLEX, **tokens)
    )
    assert_priced(
        ledger_row(invoice_db, plain.headers["x-request-id"]), expected_cost(GPT5, **tokens)
    )


def test_the_report_and_the_metrics_carry_cache_writes(
    gateway: GatewayProcess, invoice_db: str
) -> None:
    rows = asyncio.run(
        fetch(
            invoice_db,
            "SELECT model_group, sum(cache_write_tokens) AS written, sum(cached_tokens) AS read"
            " FROM spend_log GROUP BY model_group",
        )
    )
    written = {r["model_group"]: int(r["written"]) for r in rows}
    assert written["sonnet"] == 4 * 9_000
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as http:
        report = http.get("/spend/report", params={"group_by": "model"}).json()["data"]
        by_group = {r["model_group"]: r for r in report}
        assert by_group["sonnet"]["cache_write_tokens"] == written["sonnet"]
        assert by_group["house"]["cache_write_tokens"] == written["house"] == 10_000
        metrics = http.get("/metrics").text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("gateway_tokens_total{")
        and 'model_group="sonnet"' in line
        and 'direction="cache_write"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == written["sonnet"]
