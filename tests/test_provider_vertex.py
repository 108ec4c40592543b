"""Vertex AI deployments: OAuth tokens from a service account, Gemini on Vertex's URLs.

The mock verifies each token request's JWT (RS256 signature with the service
account's key, issuer, audience, scope, lifetime) and lets Vertex requests in
only with a token it issued and that has not expired.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess, StartGateway, run_gateway, write_config
from support.mock_gemini import LOCATION, PROJECT, Blocked, Call, MockGemini, Text, vector_for
from support.shapes import assert_complete

PRO = "vertex-pro"
FLASH = "vertex-flash"
EMBED = "vertex-embed"


def vertex_deployment(
    group: str, model: str, server: MockGemini, credentials: str
) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"vertex_ai/{model}",
            "api_base": server.vertex_base,
            "vertex_project": PROJECT,
            "vertex_location": LOCATION,
            "vertex_credentials": credentials,
        },
        "model_info": {"id": f"{group}-1"},
    }


def vertex_config(server: MockGemini, credentials: str) -> dict[str, Any]:
    return {
        "model_list": [
            vertex_deployment(PRO, "gemini-2.5-pro", server, credentials),
            vertex_deployment(FLASH, "gemini-2.5-flash", server, credentials),
            vertex_deployment(EMBED, "text-embedding-005", server, credentials),
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1000,
            "cooldown_time": 0,
            "content_policy_fallbacks": [{PRO: [FLASH]}],
        },
    }


@pytest.fixture(scope="module")
def vertex_server() -> Iterator[MockGemini]:
    with MockGemini() as server:
        yield server


@pytest.fixture(scope="module")
def credentials(vertex_server: MockGemini) -> str:
    return json.dumps(vertex_server.new_service_account())


@pytest.fixture
def vertex(vertex_server: MockGemini) -> Iterator[MockGemini]:
    vertex_server.reset()
    yield vertex_server
    assert vertex_server.violations == [], "requests broke the Vertex AI schema"


@pytest.fixture(scope="module")
def vertex_gateway(
    vertex_server: MockGemini, credentials: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        tmp_path_factory.mktemp("vertex"),
        vertex_config(vertex_server, credentials),
        master_key=MASTER_KEY,
    )
    with process.start():
        yield process


@pytest.fixture
def client(vertex_gateway: GatewayProcess, vertex: MockGemini) -> Iterator[openai.OpenAI]:
    mark = vertex_gateway.log_mark()
    with sdk_client(vertex_gateway) as sdk:
        yield sdk
    print(vertex_gateway.log_since(mark))


def model_requests(server: MockGemini) -> list[Any]:
    return [r for r in server.requests if r.path != "/token"]


def test_plain_chat_with_a_minted_token(client: openai.OpenAI, vertex: MockGemini) -> None:
    vertex.script(Text(content="Bonjour.", prompt_tokens=4, completion_tokens=3))
    completion = client.chat.completions.create(
        model=PRO,
        messages=[{"role": "user", "content": "Say hello in French."}],
        max_completion_tokens=20,
    )
    assert_complete(completion)
    assert completion.choices[0].message.content == "Bonjour."
    assert completion.usage is not None and completion.usage.total_tokens == 7
    sent = model_requests(vertex)[-1]
    assert sent.path == (
        f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/gemini-2.5-pro:generateContent"
    )
    assert sent.headers["authorization"].startswith("Bearer ya29.mock-access-token-")
    assert sent.body["generationConfig"] == {"maxOutputTokens": 20}


def test_a_token_serves_many_requests(client: openai.OpenAI, vertex: MockGemini) -> None:
    for _ in range(3):
        client.chat.completions.create(model=PRO, messages=[{"role": "user", "content": "Hi"}])
    tokens = {r.headers["authorization"] for r in model_requests(vertex)}
    assert len(tokens) == 1
    assert vertex.requests_to("/token") == []  # minted by an earlier test, still valid


def test_stream_with_usage(client: openai.OpenAI, vertex: MockGemini) -> None:
    vertex.script(
        Text(content="Streaming from Vertex.", chunks=4, prompt_tokens=3, completion_tokens=5)
    )
    chunks = list(
        client.chat.completions.create(
            model=PRO,
            messages=[{"role": "user", "content": "Go"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        assert_complete(chunk)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Streaming from Vertex."
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert model_requests(vertex)[-1].query == {"alt": "sse"}


def test_tool_call_round_trip(client: openai.OpenAI, vertex: MockGemini) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order by id",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
    vertex.script(Call("lookup_order", {"order_id": "A-17"}), Text(content="Order A-17 shipped."))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Where is order A-17?"}]
    first = client.chat.completions.create(model=PRO, messages=messages, tools=[tool])
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.tool_calls is not None
    call = first.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"order_id": "A-17"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "shipped on Monday"})
    second = client.chat.completions.create(model=PRO, messages=messages, tools=[tool])
    assert second.choices[0].message.content == "Order A-17 shipped."
    response_part = model_requests(vertex)[-1].body["contents"][2]["parts"][0]
    assert response_part == {
        "functionResponse": {"name": "lookup_order", "response": {"content": "shipped on Monday"}}
    }


def test_answer_blocked_for_safety_falls_back_while_streaming(
    client: openai.OpenAI, vertex: MockGemini
) -> None:
    vertex.script(Blocked(prompt=False, reason="SAFETY"), Text(content="Safe answer."))
    with client.chat.completions.with_streaming_response.create(
        model=PRO, messages=[{"role": "user", "content": "x"}], stream=True
    ) as response:
        assert response.headers["x-gateway-fallbacks"] == FLASH
        text = "".join(c.choices[0].delta.content or "" for c in response.parse())
    assert text == "Safe answer."


def test_embeddings_use_predict_and_its_token_counts(
    client: openai.OpenAI, vertex: MockGemini
) -> None:
    result = client.embeddings.create(
        model=EMBED, input=["alpha beta gamma", "delta"], dimensions=3
    )
    assert_complete(result)
    assert [d.embedding for d in result.data] == [
        vector_for("alpha beta gamma", 3),
        vector_for("delta", 3),
    ]
    assert result.usage.prompt_tokens == len("alpha beta gamma") // 4 + 1
    sent = model_requests(vertex)[-1]
    assert sent.path.endswith("/models/text-embedding-005:predict")
    assert sent.body == {
        "instances": [{"content": "alpha beta gamma"}, {"content": "delta"}],
        "parameters": {"outputDimensionality": 3},
    }


def test_token_is_refreshed_off_the_request_path(
    start_gateway: StartGateway, vertex: MockGemini, credentials: str, tmp_path: Path
) -> None:
    # A token with less than the refresh margin left is due at once, yet still valid.
    vertex.token_lifetime = 200
    release = threading.Event()
    vertex.hold_token(2, release)
    key_file = tmp_path / "service-account.json"
    key_file.write_text(credentials, encoding="utf-8")
    gateway = start_gateway(vertex_config(vertex, str(key_file)))
    with sdk_client(gateway) as sdk:
        sdk.chat.completions.create(model=PRO, messages=[{"role": "user", "content": "first"}])
        first_token = model_requests(vertex)[-1].headers["authorization"]
        # The refresh (grant 2) is held by the token endpoint; this request must not wait for it.
        sdk.chat.completions.create(model=PRO, messages=[{"role": "user", "content": "second"}])
        assert model_requests(vertex)[-1].headers["authorization"] == first_token
        assert not release.is_set()
        # The background refresh reached the token endpoint, where it is held.
        assert vertex.wait_for(lambda seen: sum(r.path == "/token" for r in seen) == 2)
        release.set()
        renewed = None
        for _ in range(200):
            sdk.chat.completions.create(model=PRO, messages=[{"role": "user", "content": "again"}])
            latest = model_requests(vertex)[-1].headers["authorization"]
            if latest != first_token:
                renewed = latest
                break
    assert renewed is not None, "the refreshed token was never used"
    # The first new token in use is the one the held refresh (the second grant) brought.
    assert renewed.removeprefix("Bearer ") == vertex.issued[1]


def test_check_config_explains_unusable_credentials_without_leaking_them(
    vertex: MockGemini, tmp_path: Path
) -> None:
    secret = "-----BEGIN PRIVATE KEY-----not-really-a-key-secret-material"
    broken = json.dumps({"type": "service_account", "client_email": "a@b.c", "private_key": secret})
    config = vertex_config(vertex, broken)
    config["model_list"][1]["litellm_params"]["vertex_credentials"] = str(tmp_path / "missing.json")
    path = write_config(tmp_path / "vertex.yaml", config)
    result = run_gateway(["check-config", str(path)])
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert (
        "model_list[0].litellm_params.vertex_credentials: the credentials' private_key is not a PEM"
        in output
    )
    assert (
        "model_list[1].litellm_params.vertex_credentials: cannot read the credentials file"
        in output
    )
    assert "not-really-a-key-secret-material" not in output
