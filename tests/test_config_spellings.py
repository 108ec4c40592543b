"""LiteLLM configs mean what they say: other spellings of honoured settings, providers
inferred from bare model names, per-deployment request defaults, ``mock_response`` on any
deployment, ``base_model`` pricing and the ``prometheus`` callback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from gateway.config.loader import build_config
from gateway.ledger.prices import PriceBook, load_shipped_prices
from gateway.providers.azure import azure_ai_base
from support.configs import MASTER_KEY
from support.gateway_process import StartGateway, run_gateway
from support.mock_anthropic import API_KEY as ANTHROPIC_KEY
from support.mock_anthropic import MockAnthropic
from support.mock_anthropic import Text as ClaudeText
from support.mock_upstream import MockUpstream, Reply


def _load(config: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return build_config(config, env or {}, "test.yaml")


def _entry(model: str, **params: Any) -> dict[str, Any]:
    return {"model_name": "m", "litellm_params": {"model": model, **params}}


def test_other_spellings_are_read_as_the_canonical_keys() -> None:
    loaded = _load(
        {
            "model_list": [
                _entry(
                    "vertex_ai/gemini-2.5-flash", vertex_ai_project="p1", vertex_ai_location="eu"
                )
            ],
            "litellm_settings": {"fallbacks": [{"m": ["n"]}], "master_key": "sk-from-litellm"},
        }
        | {"router_settings": {"model_group_alias": {"n": "m"}}}
    )
    [spec] = loaded.config.deployments
    assert (spec.params.vertex_project, spec.params.vertex_location) == ("p1", "eu")
    assert loaded.config.fallbacks == {"m": ("n",)}
    assert loaded.config.master_key.get_secret_value() == "sk-from-litellm"
    assert "model_list[0].litellm_params.vertex_ai_project: honoured as " in "\n".join(loaded.notes)
    assert not [w for w in loaded.warnings if "vertex_ai" in w or "fallbacks" in w]


def test_the_canonical_spelling_wins_when_both_are_set() -> None:
    loaded = _load(
        {
            "model_list": [_entry("mock/x")],
            "general_settings": {"master_key": "sk-general"},
            "litellm_settings": {"master_key": "sk-litellm"},
        }
    )
    assert loaded.config.master_key.get_secret_value() == "sk-general"
    assert "litellm_settings.master_key: overridden by general_settings.master_key" in (
        "\n".join(loaded.notes)
    )


@pytest.mark.parametrize(
    ("params", "provider", "model"),
    [
        ({"model": "claude-3-5-sonnet-20240620"}, "anthropic", "claude-3-5-sonnet-20240620"),
        ({"model": "gemini-2.0-flash"}, "gemini", "gemini-2.0-flash"),
        ({"model": "gemini-2.0-flash", "vertex_ai_project": "p"}, "vertex_ai", "gemini-2.0-flash"),
        ({"model": "anthropic.claude-3-haiku-20240307-v1:0"}, "bedrock", None),
        ({"model": "us.anthropic.claude-sonnet-4-20250514-v1:0"}, "bedrock", None),
        ({"model": "gpt-4o"}, "openai", "gpt-4o"),
        ({"model": "meta-llama/Llama-3-8b", "custom_llm_provider": "openai"}, "openai",
         "meta-llama/Llama-3-8b"),
        ({"model": "openai/gpt-4o", "custom_llm_provider": "openai"}, "openai", "gpt-4o"),
    ],
)  # fmt: skip
def test_the_provider_of_a_model_is_inferred_as_litellm_does(
    params: dict[str, Any], provider: str, model: str | None
) -> None:
    [spec] = _load(
        {"model_list": [{"model_name": "m", "litellm_params": params}]}
    ).config.deployments
    assert spec.provider == provider
    assert spec.model == (model or params["model"])


def test_check_config_notes_what_it_inferred_and_takes_prometheus(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    config = {
        "model_list": [_entry("claude-3-5-sonnet-20240620", api_key="sk-ant")],
        "litellm_settings": {"success_callback": ["prometheus"]},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = run_gateway(["check-config", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "note: model_list[0].litellm_params.model: a bare 'claude-3-5-sonnet-20240620'" in (
        checked.stdout
    )
    assert "prometheus" not in checked.stdout


def test_base_model_prices_a_deployment_whose_name_says_nothing() -> None:
    loaded = _load(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {"model": "azure/my-deployment", "api_base": "https://x"},
                    "model_info": {"id": "az", "base_model": "gpt-4o"},
                }
            ]
        }
    )
    prices = PriceBook(loaded.config.deployments, load_shipped_prices())
    assert prices.lookup("az", "my-deployment") == load_shipped_prices()["gpt-4o"]


@pytest.fixture
def claude() -> Iterator[MockAnthropic]:
    with MockAnthropic() as server:
        yield server


def test_a_bare_claude_model_goes_to_anthropic_with_the_anthropic_key(
    start_gateway: StartGateway, claude: MockAnthropic
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "sonnet",
                "litellm_params": {
                    "model": "claude-sonnet-4-5-20250929",
                    "api_base": claude.api_base,
                },
            }
        ]
    }
    claude.script(ClaudeText(content="From Anthropic.", input_tokens=9, output_tokens=3))
    gateway = start_gateway(config, env={"ANTHROPIC_API_KEY": ANTHROPIC_KEY})
    with openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0) as client:
        answer = client.chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content == "From Anthropic."
    assert claude.requests[-1].headers["x-api-key"] == ANTHROPIC_KEY
    assert claude.violations == []


def test_deployment_defaults_and_mock_response(
    start_gateway: StartGateway, upstream: MockUpstream
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "defaulted",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": upstream.base_url,
                    "api_key": "sk-up",
                    "max_tokens": 123,
                    "temperature": 0.1,
                },
            },
            {
                "model_name": "drill",
                # Never reached: mock_response answers locally, as in LiteLLM.
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": "http://127.0.0.1:9/v1",
                    "mock_response": "A drill answer.",
                },
            },
        ]
    }
    upstream.default = Reply(content="ok")
    gateway = start_gateway(config)
    messages = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0) as client:
        client.chat.completions.create(model="defaulted", messages=messages)
        first = upstream.last_request("/v1/chat/completions").body
        client.chat.completions.create(
            model="defaulted", messages=messages, temperature=0.9, max_completion_tokens=5
        )
        second = upstream.last_request("/v1/chat/completions").body
        drill = client.chat.completions.create(model="drill", messages=messages)
    assert (first["max_tokens"], first["temperature"]) == (123, 0.1)
    assert second["temperature"] == 0.9 and second["max_completion_tokens"] == 5
    assert "max_tokens" not in second
    assert drill.choices[0].message.content == "A drill answer."


def test_azure_ai_deployments_call_the_endpoint_with_its_key_and_version(
    start_gateway: StartGateway, upstream: MockUpstream
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "foundry",
                "litellm_params": {
                    "model": "azure_ai/mistral-large-2407",
                    "api_base": upstream.base_url,
                    "api_key": "sk-foundry",
                    "api_version": "2024-05-01-preview",
                },
            }
        ]
    }
    upstream.script(Reply(content="From Foundry."))
    gateway = start_gateway(config)
    with openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0) as client:
        answer = client.chat.completions.create(
            model="foundry", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content == "From Foundry."
    sent = upstream.last_request("/v1/chat/completions")
    assert sent.query == {"api-version": "2024-05-01-preview"}
    assert sent.headers["api-key"] == "sk-foundry"
    assert sent.body["model"] == "mistral-large-2407"


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        ("https://res.services.ai.azure.com", "https://res.services.ai.azure.com/models"),
        ("https://res.services.ai.azure.com/models/", "https://res.services.ai.azure.com/models"),
        ("https://x.eastus2.inference.ai.azure.com", "https://x.eastus2.inference.ai.azure.com"),
    ],
)
def test_azure_ai_endpoints_are_completed_as_the_service_needs(api_base: str, url: str) -> None:
    assert azure_ai_base(api_base, {}) == url
