"""The other data-plane routes: /v1/completions, /v1/embeddings, /v1/models, /v1/models/{id}.

Each also answers without the ``/v1`` prefix (clients configured with a bare
base URL), and model ids may hold slashes (``openai/gpt-5.5``).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator

import httpx
import openai
import pytest

from support.clients import async_sdk_client, sdk_client
from support.configs import (
    EMBED,
    EMBED_KEY,
    EMBED_UPSTREAM_MODEL,
    GROUPS,
    MASTER_KEY,
    SLASHED,
    TEXT,
    TEXT_DEPLOYMENT,
    TEXT_KEY,
    TEXT_UPSTREAM_MODEL,
)
from support.gateway_process import GatewayProcess
from support.mock_upstream import MockUpstream, Raw, Reply, embedding_for

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
PREFIXES = pytest.mark.parametrize("prefix", ["/v1", ""], ids=["v1", "no-prefix"])


@pytest.fixture(params=["/v1", ""], ids=["v1", "no-prefix"])
def base_client(request: pytest.FixtureRequest, gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    """An SDK client whose base URL has the ``/v1`` prefix, or not."""
    with sdk_client(gateway, base_url=gateway.base_url + request.param) as client:
        yield client


def test_text_completion_reaches_the_upstream_with_the_deployments_model(
    base_client: openai.OpenAI, upstream: MockUpstream
) -> None:
    upstream.script(Reply(content=" Hi there.", prompt_tokens=4, completion_tokens=3))

    raw = base_client.completions.with_raw_response.create(
        model=TEXT, prompt="Say hi.", max_tokens=5, extra_body={"custom_flag": [1, 2]}
    )

    completion = raw.parse()
    assert completion.choices[0].text == " Hi there."
    assert completion.usage is not None
    assert completion.usage.total_tokens == 7
    assert raw.headers.get("x-gateway-deployment") == TEXT_DEPLOYMENT
    received = upstream.last_request("/v1/completions")
    assert received.body == {
        "model": TEXT_UPSTREAM_MODEL,
        "prompt": "Say hi.",
        "max_tokens": 5,
        "custom_flag": [1, 2],
    }
    assert received.headers["authorization"] == f"Bearer {TEXT_KEY}"


def test_text_completion_streams(client: openai.OpenAI, upstream: MockUpstream) -> None:
    upstream.script(Reply(content="one two three", chunks=3))

    with client.completions.create(model=TEXT, prompt="Count.", stream=True) as stream:
        text = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)

    assert text == "one two three"
    assert upstream.last_request("/v1/completions").body["stream"] is True


def test_embeddings_return_the_upstream_vectors(
    base_client: openai.OpenAI, upstream: MockUpstream
) -> None:
    # The SDK asks for base64 by default and decodes it; the vectors must survive intact.
    result = base_client.embeddings.create(model=EMBED, input=["first text", "second text"])

    assert [item.embedding for item in result.data] == [
        embedding_for("first text"),
        embedding_for("second text"),
    ]
    received = upstream.last_request("/v1/embeddings")
    assert received.body["model"] == EMBED_UPSTREAM_MODEL
    assert received.body["input"] == ["first text", "second text"]
    assert received.headers["authorization"] == f"Bearer {EMBED_KEY}"


def test_base64_is_encoded_by_the_gateway_when_the_upstream_answers_floats(
    base_client: openai.OpenAI, upstream: MockUpstream
) -> None:
    # Some OpenAI-compatible servers ignore encoding_format; the caller still gets base64.
    floats = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": embedding_for("x")}],
        "model": EMBED_UPSTREAM_MODEL,
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    upstream.script(Raw(body=json.dumps(floats).encode()))
    raw = base_client.embeddings.with_raw_response.create(
        model=EMBED, input="x", encoding_format="base64"
    )
    [item] = json.loads(raw.text)["data"]
    vector = struct.unpack(f"<{len(embedding_for('x'))}f", base64.b64decode(item["embedding"]))
    assert list(vector) == pytest.approx(embedding_for("x"), rel=1e-6)
    assert upstream.last_request("/v1/embeddings").body["encoding_format"] == "base64"


async def test_async_embeddings_as_floats(gateway: GatewayProcess, upstream: MockUpstream) -> None:
    async with async_sdk_client(gateway) as client:
        result = await client.embeddings.create(
            model=EMBED, input="just one", encoding_format="float"
        )

    assert result.data[0].embedding == embedding_for("just one")
    assert upstream.last_request("/v1/embeddings").body["encoding_format"] == "float"


def test_models_list_names_every_model_group(base_client: openai.OpenAI) -> None:
    models = base_client.models.list()

    assert [model.id for model in models.data] == GROUPS
    assert all(model.object == "model" for model in models.data)


@pytest.mark.parametrize("model_id", GROUPS)
def test_model_retrieve_by_id_including_ids_with_slashes(
    base_client: openai.OpenAI, model_id: str
) -> None:
    model = base_client.models.retrieve(model_id)

    assert model.id == model_id
    assert model.object == "model"


@PREFIXES
def test_raw_model_path_with_a_slash_in_the_id(http: httpx.Client, prefix: str) -> None:
    response = http.get(f"{prefix}/models/{SLASHED}", headers=AUTH)

    assert response.status_code == 200
    assert response.json()["id"] == SLASHED
    assert response.headers.get("x-request-id")


@PREFIXES
def test_unknown_model_id_is_a_404_naming_the_known_models(http: httpx.Client, prefix: str) -> None:
    response = http.get(f"{prefix}/models/openai/no-such-model", headers=AUTH)

    assert response.status_code == 404
    error = response.json()["error"]
    assert "openai/no-such-model" in error["message"]
    assert all(group in error["message"] for group in GROUPS)
