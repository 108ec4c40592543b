"""Azure OpenAI deployments: deployment URLs, api-version, api-key, OpenAI's format through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_azure import API_KEY, Call, Error, MockAzure, Text
from support.shapes import assert_complete

AZURE = "azure-gpt"
BACKUP = "azure-backup"
EMBED = "azure-embed"


def azure_deployment(
    group: str, deployment: str, server: MockAzure, **params: Any
) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"azure/{deployment}",
            "api_base": server.origin,
            "api_key": API_KEY,
            **params,
        },
        "model_info": {"id": f"{group}-1"},
    }


@pytest.fixture(scope="module")
def azure_server() -> Iterator[MockAzure]:
    with MockAzure() as server:
        yield server


@pytest.fixture
def azure(azure_server: MockAzure) -> Iterator[MockAzure]:
    azure_server.reset()
    yield azure_server
    assert azure_server.violations == [], "requests broke Azure OpenAI's schema"


@pytest.fixture(scope="module")
def azure_gateway(
    azure_server: MockAzure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            azure_deployment(AZURE, "gpt-4o-prod", azure_server, api_version="2024-06-01"),
            azure_deployment(BACKUP, "gpt-4o-backup", azure_server),
            azure_deployment(EMBED, "embed-small", azure_server, api_version="2024-02-01"),
        ],
        "router_settings": {"num_retries": 0, "content_policy_fallbacks": [{AZURE: [BACKUP]}]},
    }
    process = GatewayProcess(tmp_path_factory.mktemp("azure"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(azure_gateway: GatewayProcess, azure: MockAzure) -> Iterator[openai.OpenAI]:
    with sdk_client(azure_gateway) as sdk:
        yield sdk


def test_plain_chat_goes_to_the_deployment_url(client: openai.OpenAI, azure: MockAzure) -> None:
    azure.script(Text(content="Hi there.", prompt_tokens=9, completion_tokens=3))
    completion = client.chat.completions.create(
        model=AZURE, messages=[{"role": "user", "content": "Hello"}], presence_penalty=0.1
    )
    assert_complete(completion, no_extras=False)
    assert completion.choices[0].message.content == "Hi there."
    assert completion.usage is not None and completion.usage.total_tokens == 12
    sent = azure.requests[-1]
    assert sent.path == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["api-key"] == API_KEY
    assert sent.body["presence_penalty"] == 0.1  # OpenAI's own format: passed through


def test_api_version_has_a_default(client: openai.OpenAI, azure: MockAzure) -> None:
    client.chat.completions.create(model=BACKUP, messages=[{"role": "user", "content": "Hello"}])
    assert azure.requests[-1].query == {"api-version": "2024-10-21"}


def test_stream_leaves_out_the_content_filter_preamble(
    client: openai.OpenAI, azure: MockAzure
) -> None:
    azure.script(Text(content="Streaming from Azure.", chunks=3))
    chunks = list(
        client.chat.completions.create(
            model=AZURE,
            messages=[{"role": "user", "content": "Go"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        assert_complete(chunk, no_extras=False)
        assert chunk.id == "chatcmpl-AzureMockStream"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Streaming from Azure."
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 14


def test_tool_call_round_trip(client: openai.OpenAI, azure: MockAzure) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
        },
    }
    azure.script(Call("add", {"a": 2}), Text(content="The sum is 4."))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Add 2 and 2"}]
    chunks = list(
        client.chat.completions.create(model=AZURE, messages=messages, tools=[tool], stream=True)
    )
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    arguments = "".join((call.function.arguments or "") for call in calls if call.function)
    assert json.loads(arguments) == {"a": 2}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_azure_0001",
                    "type": "function",
                    "function": {"name": "add", "arguments": arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": "call_azure_0001", "content": "4"})
    answer = client.chat.completions.create(model=AZURE, messages=messages, tools=[tool])
    assert answer.choices[0].message.content == "The sum is 4."


def test_content_filter_triggers_content_policy_fallbacks(
    client: openai.OpenAI, azure: MockAzure
) -> None:
    azure.script(
        Error(
            400,
            "content_filter",
            "The response was filtered due to the prompt triggering Azure OpenAI's "
            "content management policy.",
        ),
        Text(content="From the backup."),
    )
    raw = client.chat.completions.with_raw_response.create(
        model=AZURE, messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-gateway-fallbacks"] == BACKUP
    assert raw.parse().choices[0].message.content == "From the backup."


def test_embeddings(client: openai.OpenAI, azure: MockAzure) -> None:
    result = client.embeddings.create(model=EMBED, input=["ab", "cde"], encoding_format="float")
    assert [d.embedding for d in result.data] == [[0.25, -0.5, 2.0], [0.25, -0.5, 3.0]]
    assert result.usage.prompt_tokens == 6
    sent = azure.requests[-1]
    assert sent.path == "/openai/deployments/embed-small/embeddings"
    assert sent.query == {"api-version": "2024-02-01"}
