"""Code written for Azure OpenAI works unchanged: ``AzureOpenAI(azure_endpoint=gateway)``.

The SDK sends ``/openai/deployments/{model}/chat/completions?api-version=...`` with an
``api-key`` header; the gateway routes the model the path names, as the LiteLLM proxy does.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from support.configs import CHAT, CHAT_UPSTREAM_MODEL, EMBED, MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_upstream import MockUpstream, Reply, embedding_for


@pytest.fixture
def azure(gateway: GatewayProcess) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=gateway.base_url,
        api_key=MASTER_KEY,
        api_version="2024-10-21",
        max_retries=0,
        timeout=30,
    ) as client:
        yield client


def test_chat_stream_and_embeddings_through_azure_openai(
    azure: openai.AzureOpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Reply(content="Hello from the gateway.", prompt_tokens=9, completion_tokens=5))
    raw = azure.chat.completions.with_raw_response.create(
        model=CHAT, messages=[{"role": "user", "content": "Hi"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the gateway."
    assert raw.headers["x-gateway-model-group"] == CHAT
    assert upstream.last_request("/v1/chat/completions").body["model"] == CHAT_UPSTREAM_MODEL
    upstream.script(Reply(content="Streamed through Azure paths."))
    stream = azure.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Streamed through Azure paths."
    vectors = azure.embeddings.create(model=EMBED, input=["a", "b"], encoding_format="float")
    assert [item.embedding for item in vectors.data] == [embedding_for("a"), embedding_for("b")]


@pytest.mark.parametrize(
    "path", ["/openai/deployments/chat/chat/completions", "/engines/chat/chat/completions"]
)
def test_the_path_names_the_model_when_the_body_does_not(
    http: httpx.Client, upstream: MockUpstream, path: str
) -> None:
    upstream.script(Reply(content="From the path."))
    answer = http.post(
        path + "?api-version=2024-10-21",
        headers={"api-key": MASTER_KEY},
        json={"messages": [{"role": "user", "content": "Hi"}]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "From the path."


def test_an_unknown_azure_operation_is_a_404(http: httpx.Client) -> None:
    answer = http.post(
        "/openai/deployments/chat/images/generations", headers={"api-key": MASTER_KEY}, json={}
    )
    assert answer.status_code == 404
    assert "error" in answer.json()
