"""Amazon Bedrock deployments through the Converse API, signed with SigV4: the openai SDK
(plain, streaming, a tool round trip) and the anthropic SDK on ``/v1/messages``, against a
mock that checks the signature's shape, region and service and the Converse body; a
throttling error cools the deployment and falls back; a too-long prompt goes to the
context-window fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_bedrock import (
    ACCESS_KEY,
    COHERE,
    MODEL,
    REGION,
    SECRET_KEY,
    TITAN,
    Fail,
    MockBedrock,
    embedding_for,
)
from support.mock_bedrock import Text as BedrockText
from support.mock_bedrock import ToolUse as BedrockToolUse

CLAUDE, CONVERSE, THROTTLED, SHORT, BACKUP, TOKEN, BROKEN = (
    "bedrock-claude", "bedrock-converse", "bedrock-throttled", "bedrock-short", "backup",
    "bedrock-token", "bedrock-broken",
)  # fmt: skip
SESSION_TOKEN = "mock-session-token-FwoGZXIvYXdzE"
TITAN_GROUP, COHERE_GROUP = "titan-embed", "cohere-embed"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _bedrock(name: str, server: MockBedrock, model: str = f"bedrock/{MODEL}", **params: Any) -> Any:
    return {
        "model_name": name,
        "litellm_params": {
            "model": model,
            "api_base": server.origin,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_region_name": REGION,
            **params,
        },
        "model_info": {"id": f"{name}-1"},
    }


@pytest.fixture(scope="module")
def server() -> Iterator[MockBedrock]:
    with MockBedrock() as mock:
        yield mock


@pytest.fixture
def bedrock(server: MockBedrock) -> Iterator[MockBedrock]:
    server.reset()
    yield server
    assert server.violations == []
    server.expect.session_token = None


@pytest.fixture(scope="module")
def gateway(
    server: MockBedrock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            _bedrock(CLAUDE, server),
            _bedrock(CONVERSE, server, model=f"bedrock/converse/{MODEL}"),
            _bedrock(THROTTLED, server),
            _bedrock(SHORT, server),
            _bedrock(TOKEN, server, aws_session_token=SESSION_TOKEN),
            _bedrock(BROKEN, server),
            _bedrock(TITAN_GROUP, server, model=f"bedrock/{TITAN}"),
            _bedrock(COHERE_GROUP, server, model=f"bedrock/{COHERE}"),
            {
                "model_name": BACKUP,
                "litellm_params": {"model": "mock/backup", "mock_response": "From the backup."},
            },
        ],
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 60,
            "fallbacks": [{THROTTLED: [BACKUP]}],
            "context_window_fallbacks": [{SHORT: [BACKUP]}],
        },
    }
    process = GatewayProcess(tmp_path_factory.mktemp("bedrock"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    mark = gateway.log_mark()
    with openai.OpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0) as sdk:
        yield sdk
    print(gateway.log_since(mark))


USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("group", [CLAUDE, CONVERSE])
def test_a_chat_completion_is_a_signed_converse_call(
    client: openai.OpenAI, bedrock: MockBedrock, group: str
) -> None:
    bedrock.script(BedrockText(content="Hello from Bedrock.", input_tokens=21, output_tokens=6))
    completion = client.chat.completions.create(
        model=group, messages=USER, max_tokens=50, temperature=0.2
    )
    assert completion.choices[0].message.content == "Hello from Bedrock."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (21, 6)
    sent = bedrock.last_request()
    assert sent.path.endswith("/converse")
    assert sent.body["system"] == [{"text": "Be brief."}]
    assert sent.body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}
    assert sent.body["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]


def test_a_stream_arrives_whole_with_usage(client: openai.OpenAI, bedrock: MockBedrock) -> None:
    bedrock.script(BedrockText(content="Streamed from Bedrock.", chunks=4))
    stream = client.chat.completions.create(
        model=CLAUDE, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed from Bedrock."
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 27
    assert bedrock.last_request().path.endswith("/converse-stream")


def test_a_tool_round_trip(client: openai.OpenAI, bedrock: MockBedrock) -> None:
    bedrock.script(BedrockToolUse(name="get_weather", input={"city": "Paris"}))
    first = client.chat.completions.create(model=CLAUDE, messages=USER, tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    assert bedrock.last_request().body["toolConfig"]["toolChoice"] == {"auto": {}}
    bedrock.script(BedrockText(content="Sunny in Paris."))
    turn = [
        *USER,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.completions.create(model=CLAUDE, messages=turn, tools=[WEATHER])
    assert second.choices[0].message.content == "Sunny in Paris."
    sent = bedrock.last_request().body["messages"]
    assert sent[1]["content"][0]["toolUse"]["toolUseId"] == call.id
    assert sent[2]["content"] == [
        {"toolResult": {"toolUseId": call.id, "content": [{"text": "sunny"}]}}
    ]


def test_a_streamed_tool_call_arrives_whole(client: openai.OpenAI, bedrock: MockBedrock) -> None:
    bedrock.script(BedrockToolUse(name="get_weather", input={"city": "Oslo"}))
    with client.chat.completions.stream(model=CLAUDE, messages=USER, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"city": "Oslo"}


def test_the_anthropic_sdk_on_messages_through_bedrock(
    gateway: GatewayProcess, bedrock: MockBedrock
) -> None:
    with anthropic.Anthropic(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0) as sdk:
        bedrock.script(BedrockText(content="Claude on Bedrock."))
        message = sdk.messages.create(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        )
        assert message.content[0].type == "text" and message.content[0].text == "Claude on Bedrock."
        bedrock.script(BedrockText(content="Streamed Claude on Bedrock."))
        with sdk.messages.stream(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            streamed = stream.get_final_text()
    assert streamed == "Streamed Claude on Bedrock."


def test_a_session_token_is_sent_and_signed(client: openai.OpenAI, bedrock: MockBedrock) -> None:
    bedrock.expect.session_token = SESSION_TOKEN
    bedrock.script(BedrockText(content="With a session token."))
    answer = client.chat.completions.create(model=TOKEN, messages=USER)
    assert answer.choices[0].message.content == "With a session token."


def test_throttling_cools_the_deployment_and_falls_back(
    client: openai.OpenAI, bedrock: MockBedrock
) -> None:
    bedrock.script(Fail(429, "ThrottlingException"))
    raw = client.chat.completions.with_raw_response.create(model=THROTTLED, messages=USER)
    assert raw.parse().choices[0].message.content == "From the backup."
    assert raw.headers["x-gateway-fallbacks"] == BACKUP
    calls = bedrock.calls()
    again = client.chat.completions.with_raw_response.create(model=THROTTLED, messages=USER)
    assert again.headers["x-gateway-fallbacks"] == BACKUP
    assert bedrock.calls() == calls  # cooling: Bedrock was not asked again


def test_a_prompt_too_long_goes_to_the_context_window_fallback(
    client: openai.OpenAI, bedrock: MockBedrock
) -> None:
    bedrock.script(Fail(400, "ValidationException", "Input is too long for requested model."))
    raw = client.chat.completions.with_raw_response.create(model=SHORT, messages=USER)
    assert raw.parse().choices[0].message.content == "From the backup."
    assert raw.headers["x-gateway-fallbacks"] == BACKUP


def test_an_exception_inside_the_stream_ends_it_with_an_error(
    client: openai.OpenAI, bedrock: MockBedrock
) -> None:
    bedrock.script(Fail(200, "ModelStreamErrorException", "The model stopped.", in_stream=True))
    stream = client.chat.completions.create(model=BROKEN, messages=USER, stream=True)
    with pytest.raises(openai.APIError) as failed:
        list(stream)
    assert "The model stopped." in str(failed.value)


def test_what_converse_cannot_take_is_a_400_naming_it(client: openai.OpenAI) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": [image]}]
        )
    assert "data: URLs only" in refused.value.message


def test_titan_embeddings_one_call_per_text_with_dimensions(
    client: openai.OpenAI, bedrock: MockBedrock
) -> None:
    result = client.embeddings.create(
        model=TITAN_GROUP, input=["first text", "second one here"], dimensions=4
    )
    assert [item.embedding for item in result.data] == [
        embedding_for("first text", 4),
        embedding_for("second one here", 4),
    ]
    assert result.usage.prompt_tokens == 5  # the mock counts words, Bedrock counts tokens
    assert bedrock.calls() == 2
    assert {r.body["inputText"] for r in bedrock.requests} == {"first text", "second one here"}


def test_cohere_embeddings_in_one_call_tokens_from_the_header(
    client: openai.OpenAI, bedrock: MockBedrock
) -> None:
    # The SDK's default asks for base64; the gateway encodes Bedrock's floats.
    result = client.embeddings.create(model=COHERE_GROUP, input=["alpha beta", "gamma"])
    assert [item.embedding for item in result.data] == [
        embedding_for("alpha beta"),
        embedding_for("gamma"),
    ]
    assert result.usage.prompt_tokens == 3
    assert bedrock.calls() == 1
    assert bedrock.last_request().body["input_type"] == "search_document"


def test_embeddings_on_a_chat_model_are_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=CLAUDE, input="x")
    assert "amazon.titan-embed" in refused.value.message


def test_an_anthropic_sdk_tool_round_trip_through_bedrock(
    gateway: GatewayProcess, bedrock: MockBedrock
) -> None:
    tool = {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    asked = [{"role": "user", "content": "Weather in Lyon?"}]
    with anthropic.Anthropic(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0) as sdk:
        bedrock.script(BedrockToolUse(name="get_weather", input={"city": "Lyon"}))
        first = sdk.messages.create(model=CLAUDE, max_tokens=64, messages=asked, tools=[tool])
        [use] = [block for block in first.content if block.type == "tool_use"]
        assert (use.name, use.input, first.stop_reason) == (
            "get_weather",
            {"city": "Lyon"},
            "tool_use",
        )
        bedrock.script(BedrockText(content="Rainy in Lyon."))
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "rain"}
        second = sdk.messages.create(
            model=CLAUDE,
            max_tokens=64,
            tools=[tool],
            messages=[
                *asked,
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": [result]},
            ],
        )
    assert second.content[0].type == "text" and second.content[0].text == "Rainy in Lyon."
    sent = bedrock.last_request().body["messages"]
    assert sent[-1]["content"] == [
        {"toolResult": {"toolUseId": use.id, "content": [{"text": "rain"}]}}
    ]
