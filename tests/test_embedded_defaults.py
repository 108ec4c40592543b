"""``gateway serve`` with no config: the embedded mock models, and no open gateway by accident.

A fresh checkout serves ``mock-chat`` (whole and streamed) and
``mock-embedding`` with no API key and no upstream. Binding a non-loopback
address without a master key is refused at start-up; with one, it starts and
enforces it.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess, StartGateway, free_port, run_gateway

MESSAGES = [{"role": "user", "content": "ping"}]


def test_embedded_defaults_list_the_mock_models(embedded_gateway: GatewayProcess) -> None:
    with sdk_client(embedded_gateway) as client:
        models = client.models.list()

    assert [model.id for model in models.data] == ["mock-chat", "mock-agent", "mock-embedding"]


def test_mock_chat_answers_without_any_upstream(embedded_gateway: GatewayProcess) -> None:
    with sdk_client(embedded_gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="mock-chat", messages=MESSAGES)

    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0
    assert raw.headers.get("x-gateway-model-group") == "mock-chat"


def test_mock_chat_streams_in_several_chunks(embedded_gateway: GatewayProcess) -> None:
    with (
        sdk_client(embedded_gateway) as client,
        client.chat.completions.create(
            model="mock-chat",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        ) as stream,
    ):
        chunks = list(stream)

    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta]
    assert len([piece for piece in content if piece]) > 1
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert chunks[-1].usage is not None


def test_mock_embedding_returns_one_vector_per_input(embedded_gateway: GatewayProcess) -> None:
    with sdk_client(embedded_gateway) as client:
        result = client.embeddings.create(model="mock-embedding", input=["a", "b", "a"])

    vectors = [item.embedding for item in result.data]
    assert len(vectors) == 3
    assert all(len(vector) > 0 for vector in vectors)
    # Deterministic: equal inputs embed equally, different ones do not.
    assert vectors[0] == vectors[2]
    assert vectors[0] != vectors[1]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0"], {}),
        (["--host", "::"], {}),
        ([], {"GATEWAY_HOST": "0.0.0.0"}),
    ],
    ids=["host-flag", "ipv6-any", "host-env"],
)
def test_public_bind_without_a_master_key_is_refused(args: list[str], env: dict[str, str]) -> None:
    # Bounded: a gateway that started serving instead would be killed and fail the test.
    result = run_gateway(["serve", "--port", str(free_port()), *args], env=env, timeout=30)

    assert result.returncode == 1
    assert "refusing to bind" in result.stderr
    assert "master key" in result.stderr
    assert "GATEWAY_MASTER_KEY" in result.stderr


def test_public_bind_with_a_master_key_starts_and_enforces_it(
    start_gateway: StartGateway,
) -> None:
    gateway = start_gateway(None, master_key=MASTER_KEY, host="0.0.0.0")

    with httpx.Client(base_url=gateway.base_url, timeout=30.0) as http:
        assert http.get("/v1/models").status_code == 401
    with sdk_client(gateway) as client:
        completion = client.chat.completions.create(model="mock-chat", messages=MESSAGES)
    assert completion.choices[0].message.content


def test_public_bind_with_the_master_key_in_the_config_starts(
    start_gateway: StartGateway,
) -> None:
    config = {
        "model_list": [{"model_name": "mock-chat", "litellm_params": {"model": "mock/mock-chat"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = start_gateway(config, master_key=None, host="0.0.0.0")

    with sdk_client(gateway, api_key=MASTER_KEY) as client:
        assert client.chat.completions.create(model="mock-chat", messages=MESSAGES).choices
    with (
        sdk_client(gateway, api_key="sk-wrong") as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()
