"""Automatic cache breakpoints on an Anthropic deployment, through chat and /v1/messages.

A deployment with LiteLLM's ``cache_control_injection_points`` (system prompt, last
message) gets breakpoints put on requests whose clients send none; a client's own
breakpoints are kept as they are. The mock Anthropic checks each request against the
Messages API, ``cache_control`` included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_anthropic import API_KEY, MODEL, MockAnthropic

EPHEMERAL = {"type": "ephemeral"}
SYSTEM = "You review pull requests. The repository guide follows. " * 20


@pytest.fixture(scope="module")
def gateway(
    anthropic_server: MockAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    params: dict[str, Any] = {
        "model": f"anthropic/{MODEL}",
        "api_base": anthropic_server.api_base,
        "api_key": API_KEY,
    }
    config = {
        "model_list": [
            {
                "model_name": "cached",
                "litellm_params": {
                    **params,
                    "cache_control_injection_points": [
                        {"location": "message", "role": "system"},
                        {"location": "message", "index": -1, "control": {"ttl": "1h"}},
                    ],
                },
                "model_info": {"id": "cached"},
            },
            {"model_name": "plain", "litellm_params": params, "model_info": {"id": "plain"}},
        ]
    }
    process = GatewayProcess(tmp_path_factory.mktemp("cache-points"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, claude: MockAnthropic) -> Iterator[openai.OpenAI]:
    with sdk_client(gateway) as sdk:
        yield sdk


CHAT: Any = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Review the diff."},
]


def test_chat_without_breakpoints_gets_the_deployments_own(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    client.chat.completions.create(model="cached", messages=CHAT)
    sent = claude.last_request().body
    assert sent["system"] == [{"type": "text", "text": SYSTEM, "cache_control": EPHEMERAL}]
    assert sent["messages"][-1]["content"] == [
        {
            "type": "text",
            "text": "Review the diff.",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    client.chat.completions.create(model="plain", messages=CHAT)
    assert claude.last_request().body["system"] == SYSTEM, "only where configured"


def test_a_clients_own_breakpoint_is_kept_and_nothing_is_added(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    own: Any = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Review the diff.", "cache_control": EPHEMERAL},
                {"type": "text", "text": "Be brief."},
            ],
        },
    ]
    client.chat.completions.create(model="cached", messages=own)
    sent = claude.last_request().body
    assert sent["system"] == SYSTEM
    assert sent["messages"][-1]["content"][0]["cache_control"] == EPHEMERAL
    assert "cache_control" not in sent["messages"][-1]["content"][1]


def test_native_messages_get_the_breakpoints_too(
    gateway: GatewayProcess, claude: MockAnthropic
) -> None:
    with anthropic.Anthropic(
        base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as sdk:
        sdk.messages.create(
            model="cached",
            max_tokens=200,
            system=SYSTEM,
            messages=[{"role": "user", "content": "Review the diff."}],
        )
    sent = claude.last_request().body
    assert sent["system"][0]["cache_control"] == EPHEMERAL
    assert sent["messages"][0]["content"][0]["cache_control"]["ttl"] == "1h"
