"""LiteLLM configs load where LiteLLM tolerates them: empty sections, unquoted dates and
numbers in text fields, and the dict form of ``model_group_alias`` (``hidden`` aliases
route but are not listed)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from gateway.config.loader import load_config
from support.configs import MASTER_KEY
from support.gateway_process import StartGateway, run_gateway

# As LiteLLM's own macos_optimized_config.yaml writes them: a section whose lines are all
# commented out, an unquoted api_version YAML reads as a date, and numbers in text fields.
TOLERATED = """\
model_list:
  - model_name: azure-chat
    litellm_params:
      model: azure/gpt-4o-deployment
      api_base: https://example.openai.azure.com
      api_key: 1234567890
      api_version: 2024-06-01
  - model_name: 2025
    litellm_params:
      model: mock/numbered
router_settings:
  model_group_alias:
    gpt-4: azure-chat
    internal-only: {model: azure-chat, hidden: true}
general_settings:
  # master_key: sk-1234
  # database_url: postgres://...
litellm_settings:
"""


@pytest.fixture
def tolerated(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(TOLERATED, encoding="utf-8")
    return path


def test_the_config_loads_with_its_values_as_text(tolerated: Path) -> None:
    loaded = load_config(tolerated, {})
    config = loaded.config
    azure, numbered = config.deployments
    assert azure.params.api_version == "2024-06-01"
    assert azure.params.api_key is not None
    assert azure.params.api_key.get_secret_value() == "1234567890"
    assert numbered.model_group == "2025"
    assert config.aliases == {"gpt-4": "azure-chat", "internal-only": "azure-chat"}
    assert config.hidden_aliases == frozenset({"internal-only"})


def test_check_config_accepts_it(tolerated: Path) -> None:
    checked = run_gateway(["check-config", str(tolerated)])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_bad_alias_target_still_names_its_field(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        TOLERATED.replace("{model: azure-chat, hidden: true}", "{model: nowhere}"),
        encoding="utf-8",
    )
    checked = run_gateway(["check-config", str(path)])
    assert checked.returncode == 1
    assert "router_settings.model_group_alias.internal-only" in checked.stdout + checked.stderr


def test_a_hidden_alias_routes_but_is_not_listed(start_gateway: StartGateway) -> None:
    config = {
        "model_list": [{"model_name": "chat", "litellm_params": {"model": "mock/chat"}}],
        "router_settings": {
            "model_group_alias": {
                "listed": "chat",
                "unlisted": {"model": "chat", "hidden": True},
            }
        },
        "general_settings": None,
    }
    gateway = start_gateway(config, master_key=MASTER_KEY)
    with openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0) as client:
        listed = [model.id for model in client.models.list().data]
        raw = client.chat.completions.with_raw_response.create(
            model="unlisted", messages=[{"role": "user", "content": "hi"}]
        )
    assert listed == ["chat", "listed"]
    assert raw.headers["x-gateway-model-group"] == "chat"
    assert raw.parse().choices[0].message.content


def test_an_unset_variable_where_the_gateway_reads_nothing_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: chat\n"
        "    litellm_params:\n"
        "      model: mock/chat\n"
        "      s3_secret_access_key: os.environ/UNSET_S3_SECRET\n"
        "general_settings:\n"
        "  alerting_webhook: os.environ/UNSET_WEBHOOK\n",
        encoding="utf-8",
    )
    checked = run_gateway(["check-config", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "warning: model_list[0].litellm_params.s3_secret_access_key: environment " in (
        checked.stdout
    )
    assert "UNSET_WEBHOOK is not set" in checked.stdout
    # Where the gateway reads the value, an unset variable still stops it.
    path.write_text(
        "model_list:\n  - model_name: chat\n    litellm_params:\n      model: openai/gpt-4o\n"
        "      api_key: os.environ/UNSET_OPENAI_KEY\n",
        encoding="utf-8",
    )
    refused = run_gateway(["check-config", str(path)])
    assert refused.returncode == 1
    assert "model_list[0].litellm_params.api_key: environment variable UNSET_OPENAI_KEY" in (
        refused.stdout + refused.stderr
    )
