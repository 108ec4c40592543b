"""Claude on Vertex AI (``vertex_ai/claude-…``): Anthropic's Messages API at Vertex's URLs.

The mock Google OAuth server issues access tokens for a service account; the mock
Claude-on-Vertex server lets requests in only with one of them, at
``{model}:rawPredict`` / ``:streamRawPredict``, with ``anthropic_version:
vertex-2023-10-16`` in the body and no ``model`` there, and otherwise checks each
request against the Messages API (thinking signatures included).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_anthropic import Blocks, MockAnthropic, Text
from support.mock_gemini import LOCATION, PROJECT, MockGemini

MODEL = "claude-sonnet-4-5@20250929"
THINKING = {
    "type": "thinking",
    "thinking": "Paris is in France.",
    "signature": "EqQBCgIYAhIMvertexsignature0001",
}
SIGNED = Blocks(content=(THINKING, {"type": "text", "text": "Paris."}), output_tokens=20)


@pytest.fixture(scope="module")
def google() -> Iterator[MockGemini]:
    with MockGemini() as server:
        yield server


@pytest.fixture(scope="module")
def vertex_claude(google: MockGemini) -> Iterator[MockAnthropic]:
    with MockAnthropic(vertex_token=google.valid_token) as server:
        yield server


@pytest.fixture
def claude(vertex_claude: MockAnthropic, google: MockGemini) -> Iterator[MockAnthropic]:
    vertex_claude.reset()
    yield vertex_claude
    assert vertex_claude.violations == [], "requests broke Claude-on-Vertex's rules"
    assert google.violations == []


@pytest.fixture(scope="module")
def gateway(
    google: MockGemini, vertex_claude: MockAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("vertex-claude")
    config = {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": f"vertex_ai/{MODEL}",
                    "api_base": vertex_claude.vertex_base,
                    "vertex_project": PROJECT,
                    "vertex_location": LOCATION,
                    "vertex_credentials": json.dumps(google.new_service_account()),
                    "cache_control_injection_points": [{"location": "message", "role": "system"}],
                },
                "model_info": {"id": "claude-vertex"},
            }
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"proxy_batch_write_at": 0.1},
    }
    process = GatewayProcess(workdir, config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, claude: MockAnthropic) -> Iterator[openai.OpenAI]:
    with sdk_client(gateway) as sdk:
        yield sdk


@pytest.fixture
def native(gateway: GatewayProcess, claude: MockAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as sdk:
        yield sdk


PATH = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/models/{MODEL}"
QUESTION: Any = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "Capital of France?"},
]


def test_chat_goes_to_raw_predict_with_the_version_in_the_body(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    claude.script(
        Text(content="Paris.", input_tokens=30, cache_creation=12, output_tokens=3), Text()
    )
    answer = client.chat.completions.create(model="claude", messages=QUESTION)
    assert answer.choices[0].message.content == "Paris."
    sent = claude.last_request()
    assert sent.path == f"{PATH}:rawPredict"
    assert sent.body["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent.body
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.headers["authorization"].startswith("Bearer ya29.")
    assert "x-api-key" not in sent.headers
    usage = answer.usage
    assert usage is not None and usage.model_dump()["prompt_tokens_details"]["cache_write_tokens"]
    chunks = list(client.chat.completions.create(model="claude", messages=QUESTION, stream=True))
    assert claude.last_request().path == f"{PATH}:streamRawPredict"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_messages_pass_through_to_vertex_with_signed_thinking(
    native: anthropic.Anthropic, claude: MockAnthropic
) -> None:
    claude.script(SIGNED, SIGNED)
    ask: Any = {
        "model": "claude",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "Capital of France?"}],
    }
    message = native.messages.create(**ask)
    assert message.content[0].type == "thinking"
    assert message.content[0].signature == THINKING["signature"]
    with native.messages.stream(
        **{
            **ask,
            "messages": [
                *ask["messages"],
                {"role": "assistant", "content": [THINKING, {"type": "text", "text": "Paris."}]},
                {"role": "user", "content": "And Italy?"},
            ],
        }
    ) as stream:
        final = stream.get_final_message()
    assert final.content[-1].type == "text"
    sent = claude.last_request()
    assert sent.path == f"{PATH}:streamRawPredict"
    assert sent.body["messages"][1]["content"][0] == THINKING
    assert "model" not in sent.body


def test_count_tokens_asks_vertex(native: anthropic.Anthropic, claude: MockAnthropic) -> None:
    counted = native.messages.with_raw_response.count_tokens(
        model="claude", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert counted.headers["x-gateway-token-count"] == "exact"
    assert counted.parse().input_tokens > 0
    sent = claude.last_request()
    assert sent.path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert sent.body["model"] == MODEL
