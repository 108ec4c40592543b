"""Wildcard deployments route as LiteLLM's do: ``openai/*`` serves ``openai/anything`` with
the concrete model upstream and its price in the ledger; fallbacks may name a
wildcard-served model; ``/v1/models`` lists each pattern once; and one model's failure
never cools the pattern's other models."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml

from gateway.ledger.prices import load_shipped_prices
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess, run_gateway
from support.mock_anthropic import API_KEY as ANTHROPIC_KEY
from support.mock_anthropic import MockAnthropic
from support.mock_anthropic import Text as ClaudeText
from support.mock_upstream import Fail, MockUpstream, Reply

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def wildcard_config(upstream: MockUpstream, claude: MockAnthropic) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "openai/*",
                "litellm_params": {
                    "model": "openai/*",
                    "api_base": upstream.base_url,
                    "api_key": "sk-up",
                },
            },
            {
                "model_name": "anthropic/*",
                "litellm_params": {
                    "model": "anthropic/*",
                    "api_base": claude.api_base,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            {
                "model_name": "gpt-4",
                "litellm_params": {
                    "model": "openai/gpt-4-0613",
                    "api_base": upstream.base_url,
                    "api_key": "sk-up",
                },
            },
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 0,
            "fallbacks": [{"gpt-4": ["openai/gpt-4o-mini"]}],
        },
        "general_settings": {"proxy_batch_write_at": 0.2},
    }


@pytest.fixture(scope="module")
def claude() -> Iterator[MockAnthropic]:
    with MockAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    mock_upstream_server: MockUpstream,
    claude: MockAnthropic,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    config = wildcard_config(mock_upstream_server, claude)
    process = GatewayProcess(tmp_path_factory.mktemp("wildcards"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0) as sdk:
        yield sdk


def _cost(gateway: GatewayProcess, request_id: str) -> tuple[Any, ...]:
    path = gateway.workdir / "gateway-data" / "spend.sqlite3"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(str(path)) as db:
                rows = db.execute(
                    "SELECT model_group, cost_usd FROM spend_log WHERE request_id = ?",
                    (request_id,),
                ).fetchall()
        except sqlite3.OperationalError:
            rows = []
        if rows:
            return tuple(rows[0])
        time.sleep(0.1)
    raise AssertionError(f"no ledger row for {request_id}")


def test_a_pattern_serves_any_name_with_the_concrete_model_and_price(
    client: openai.OpenAI, upstream: MockUpstream, gateway: GatewayProcess
) -> None:
    upstream.script(Reply(content="From the wildcard.", prompt_tokens=11, completion_tokens=7))
    raw = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=MESSAGES
    )
    assert raw.parse().choices[0].message.content == "From the wildcard."
    assert upstream.last_request(CHAT).body["model"] == "gpt-4o-mini"
    assert raw.headers["x-gateway-model-group"] == "openai/*"
    price = load_shipped_prices()["gpt-4o-mini"]
    group, cost = _cost(gateway, raw.headers["x-request-id"])
    assert group == "openai/*"
    assert cost == pytest.approx(11 * price.base.input + 7 * price.base.output)


def test_an_anthropic_pattern_calls_anthropic_with_the_asked_model(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    claude.script(ClaudeText(content="From Claude.", input_tokens=5, output_tokens=2))
    answer = client.chat.completions.create(
        model="anthropic/claude-sonnet-4-5-20250929", messages=MESSAGES
    )
    assert answer.choices[0].message.content == "From Claude."
    assert claude.requests[-1].body["model"] == "claude-sonnet-4-5-20250929"
    assert claude.violations == []


def test_models_lists_each_pattern_once_never_an_invented_model(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES)
    assert [model.id for model in client.models.list().data] == ["gpt-4", "openai/*", "anthropic/*"]


def test_a_fallback_to_a_wildcard_served_name(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Fail(500), Reply(content="Rescued."))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "Rescued."
    assert raw.headers["x-gateway-fallbacks"] == "openai/*"
    assert upstream.last_request(CHAT).body["model"] == "gpt-4o-mini"


def test_one_models_failure_never_cools_the_patterns_other_models(
    client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Fail(404, "The model `gpt-nonexistent` does not exist"))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="openai/gpt-nonexistent", messages=MESSAGES)
    upstream.script(Reply(content="Still served."))
    answer = client.chat.completions.create(model="openai/gpt-4.1-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == "Still served."


def test_an_unmatched_name_is_still_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="mistral/large", messages=MESSAGES)
    assert "openai/*" in missing.value.message


def test_check_config_accepts_fallbacks_and_aliases_to_wildcard_served_names(
    tmp_path: Any, upstream: MockUpstream, claude: MockAnthropic
) -> None:
    config = wildcard_config(upstream, claude)
    config["router_settings"]["model_group_alias"] = {"mini": "openai/gpt-4o-mini"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = run_gateway(["check-config", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config["router_settings"]["fallbacks"] = [{"gpt-4": ["mistral/large"]}]
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    refused = run_gateway(["check-config", str(path)])
    assert refused.returncode == 1
    assert "mistral/large" in refused.stdout + refused.stderr


def test_metrics_label_the_configured_deployment_never_a_callers_name(
    client: openai.OpenAI, upstream: MockUpstream, gateway: GatewayProcess
) -> None:
    upstream.script(Fail(404, "The model `gpt-made-up-name` does not exist"))
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="openai/gpt-made-up-name", messages=MESSAGES)
    exposition = httpx.get(gateway.base_url + "/metrics", timeout=10).text
    labels = re.findall(r'deployment="([^"]*)"', exposition)
    assert labels, "no deployment-labelled series"
    assert not [label for label in labels if "gpt-" in label or "/" in label]
    assert "gpt-made-up-name" not in exposition
