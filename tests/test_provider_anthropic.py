"""Anthropic deployments, called with the OpenAI SDK: answers indistinguishable from OpenAI's.

The mock Anthropic server validates every request against the Messages API's
documented schema; any violation fails the test that caused it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_anthropic import API_KEY, MODEL, Error, MockAnthropic, Text, ToolUse
from support.mock_upstream import Fail, MockUpstream
from support.shapes import assert_complete

CLAUDE = "claude"
CLAUDE_SHORT = "claude-short"
GPT = "gpt"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "City and state"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def anthropic_deployment(
    group: str, api_base: str, deployment_id: str, **params: Any
) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"anthropic/{MODEL}",
            "api_base": api_base,
            "api_key": API_KEY,
            **params,
        },
        "model_info": {"id": deployment_id},
    }


def config(server: MockAnthropic, upstream: MockUpstream, **settings: Any) -> dict[str, Any]:
    return {
        "model_list": [
            anthropic_deployment(CLAUDE, server.api_base, "claude-1"),
            anthropic_deployment(CLAUDE_SHORT, server.api_base, "claude-short-1"),
            {
                "model_name": GPT,
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": upstream.base_url,
                    "api_key": "sk-up",
                },
                "model_info": {"id": "gpt-1"},
            },
        ],
        "router_settings": {
            "num_retries": 1,
            "retry_policy": {"InternalServerErrorRetries": 1, "RateLimitErrorRetries": 0},
            "fallbacks": [{GPT: [CLAUDE]}],
            "context_window_fallbacks": [{CLAUDE_SHORT: [CLAUDE]}],
            "allowed_fails": 100,
        },
        "litellm_settings": settings,
    }


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[MockAnthropic]:
    with MockAnthropic() as server:
        yield server


@pytest.fixture
def anthropic(anthropic_server: MockAnthropic) -> Iterator[MockAnthropic]:
    anthropic_server.reset()
    yield anthropic_server
    assert anthropic_server.violations == [], "requests broke the Messages API schema"


@pytest.fixture(scope="module")
def claude_gateway(
    anthropic_server: MockAnthropic,
    mock_upstream_server: MockUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    process = GatewayProcess(
        tmp_path_factory.mktemp("anthropic"),
        config(anthropic_server, mock_upstream_server),
        master_key=MASTER_KEY,
    )
    with process.start():
        yield process


@pytest.fixture
def client(
    claude_gateway: GatewayProcess, anthropic: MockAnthropic, upstream: MockUpstream
) -> Iterator[openai.OpenAI]:
    mark = claude_gateway.log_mark()
    with sdk_client(claude_gateway) as sdk:
        yield sdk
    print(claude_gateway.log_since(mark))


def test_plain_chat_is_translated_both_ways(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(
        Text(content="Paris is the capital of France.", input_tokens=21, output_tokens=9)
    )
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=200,
        temperature=0.3,
        top_p=0.9,
        stop=["###"],
        user="user-42",
    )
    completion = ChatCompletion.model_validate_json(raw.text)
    assert_complete(completion)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Paris is the capital of France."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (21, 9)
    assert completion.usage.total_tokens == 30

    sent = anthropic.requests[-1]
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": MODEL,
        "system": "Answer in one sentence.",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is the capital of France?"}],
            }
        ],
        "max_tokens": 200,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["###"],
        "metadata": {"user_id": "user-42"},
    }
    assert raw.headers["x-gateway-deployment"] == "claude-1"


def test_max_tokens_has_a_default_anthropic_requires(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "Hi"}])
    assert anthropic.requests[-1].body["max_tokens"] == 4096


def test_images_become_base64_and_url_sources(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    pixel = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
        "awAAAABJRU5ErkJggg=="
    )
    client.chat.completions.create(
        model=CLAUDE,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these."},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            }
        ],
    )
    blocks = anthropic.requests[-1].body["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": pixel},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }


def test_stream_is_a_well_formed_openai_stream(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(Text(content="One, two, three.", chunks=3, input_tokens=14, output_tokens=6))
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": "Count to three."}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        assert_complete(chunk)
        assert chunk.object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One, two, three."
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (14, 6)
    assert len({c.id for c in chunks}) == 1
    assert anthropic.requests[-1].body["stream"] is True


def test_stream_without_include_usage_has_no_usage_chunk(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def _tool_round_trip(client: openai.OpenAI, anthropic: MockAnthropic, *, stream: bool) -> None:
    anthropic.script(
        ToolUse(name="get_weather", input={"location": "San Francisco, CA"}),
        Text(content="It is 15 degrees and sunny in San Francisco."),
    )
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What's the weather in San Francisco?"}
    ]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=CLAUDE,
                messages=messages,
                tools=[WEATHER_TOOL],
                tool_choice="auto",
                stream=True,
            )
        )
        for chunk in chunks:
            assert_complete(chunk)
        calls: dict[int, dict[str, str]] = {}
        text = ""
        for chunk in chunks:
            delta = chunk.choices[0].delta
            text += delta.content or ""
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.id or ""
                entry["name"] += (call.function.name if call.function else None) or ""
                entry["arguments"] += (call.function.arguments if call.function else None) or ""
        assert text == "Let me check that for you."
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        assert list(calls) == [0]
        call_id, name, arguments = calls[0]["id"], calls[0]["name"], calls[0]["arguments"]
    else:
        completion = client.chat.completions.create(
            model=CLAUDE, messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
        )
        assert_complete(completion)
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls is not None
        tool_call = choice.message.tool_calls[0]
        assert tool_call.type == "function"
        call_id, name, arguments = (
            tool_call.id,
            tool_call.function.name,
            tool_call.function.arguments,
        )
    assert call_id == "toolu_01A09q90qw90lq917835lq9"
    assert name == "get_weather"
    assert json.loads(arguments) == {"location": "San Francisco, CA"}

    first = anthropic.requests[-1].body
    assert first["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert first["tool_choice"] == {"type": "auto"}

    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call_id, "content": '{"temperature_c": 15}'})
    answer = client.chat.completions.create(model=CLAUDE, messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is 15 degrees and sunny in San Francisco."
    second = anthropic.requests[-1].body["messages"]
    assert second[1] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": call_id,
                "name": "get_weather",
                "input": {"location": "San Francisco, CA"},
            }
        ],
    }
    assert second[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": call_id, "content": '{"temperature_c": 15}'}
        ],
    }


def test_tool_call_round_trip(client: openai.OpenAI, anthropic: MockAnthropic) -> None:
    _tool_round_trip(client, anthropic, stream=False)


def test_tool_call_round_trip_streaming(client: openai.OpenAI, anthropic: MockAnthropic) -> None:
    _tool_round_trip(client, anthropic, stream=True)


def test_tool_choice_and_parallel_calls_are_expressed(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert anthropic.requests[-1].body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
    )
    assert anthropic.requests[-1].body["tool_choice"] == {"type": "any"}


def test_cache_tokens_count_as_prompt_tokens_and_cached(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(Text(input_tokens=25, cache_read=1000, cache_creation=200, output_tokens=10))
    completion = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 1225
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 1000
    assert completion.usage.total_tokens == 1235


def test_stop_reasons_map_to_finish_reasons(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(Text(stop_reason="max_tokens"), Text(stop_reason="stop_sequence"))
    first = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Hi"}], max_tokens=5
    )
    second = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Hi"}], stop=["x"]
    )
    assert first.choices[0].finish_reason == "length"
    assert second.choices[0].finish_reason == "stop"


def test_overloaded_529_is_a_server_error_and_is_retried(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(Error(529, "overloaded_error", "Overloaded"), Text(content="Back again."))
    completion = client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.choices[0].message.content == "Back again."
    assert len(anthropic.requests) == 2


def test_overloaded_before_the_first_chunk_is_retried_for_streams(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(
        Error(529, "overloaded_error", "Overloaded"), Text(content="Streamed after all.")
    )
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Streamed after all."
    assert len(anthropic.requests) == 2


def test_rate_limit_keeps_retry_after(client: openai.OpenAI, anthropic: MockAnthropic) -> None:
    anthropic.script(
        Error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            retry_after=17,
        )
    )
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "Hi"}])
    assert raised.value.response.headers["retry-after"] == "17"
    assert "per-minute rate limit" in raised.value.message
    assert len(anthropic.requests) == 1


def test_an_error_event_mid_stream_ends_the_stream_with_an_error(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(Text(content="abcdef", chunks=3, error_mid_stream="overloaded_error"))
    received: list[Any] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "Hi"}], stream=True
        ):
            received.append(chunk)
    assert not isinstance(raised.value, openai.APIConnectionError)
    assert "Overloaded" in raised.value.message
    assert "".join(c.choices[0].delta.content or "" for c in received) == "ab"


def test_context_window_error_triggers_context_window_fallbacks(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(
        Error(400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
        Text(content="Answered by the bigger window."),
    )
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE_SHORT, messages=[{"role": "user", "content": "A very long prompt"}]
    )
    assert raw.parse().choices[0].message.content == "Answered by the bigger window."
    assert raw.headers["x-gateway-fallbacks"] == CLAUDE
    assert raw.headers["x-gateway-deployment"] == "claude-1"


def test_context_window_error_without_fallback_is_a_400_with_its_code(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(
        Error(400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum")
    )
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "Long"}])
    assert raised.value.code == "context_length_exceeded"
    assert len(anthropic.requests) == 1


def test_fallback_from_a_failing_openai_group_streams_from_anthropic(
    client: openai.OpenAI, anthropic: MockAnthropic, upstream: MockUpstream
) -> None:
    upstream.default = Fail(500, "The server had an error", type="server_error")
    anthropic.script(Text(content="Served by Claude instead.", chunks=4))
    with client.chat.completions.with_streaming_response.create(
        model=GPT,
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-gateway-fallbacks"] == CLAUDE
        assert response.headers["x-gateway-model-group"] == CLAUDE
        chunks = list(response.parse())
    for chunk in chunks:
        assert_complete(chunk)
    assert upstream.calls("/v1/chat/completions") == 2  # the first try and its retry
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Served by Claude instead."
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert len({c.id for c in chunks}) == 1


def test_fallback_under_concurrent_load_gives_every_client_one_stream(
    claude_gateway: GatewayProcess, anthropic: MockAnthropic, upstream: MockUpstream
) -> None:
    upstream.default = Fail(500, "The server had an error", type="server_error")
    anthropic.set_default(Text(content="Load-tested answer.", chunks=5))
    results: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            with sdk_client(claude_gateway) as sdk:
                chunks = list(
                    sdk.chat.completions.create(
                        model=GPT, messages=[{"role": "user", "content": "Hi"}], stream=True
                    )
                )
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
            with lock:
                results.append(f"{text}|{finishes}")
        except BaseException as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert results == ["Load-tested answer.|['stop']"] * 16


def test_unsupported_params_are_refused_naming_the_param(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=CLAUDE, messages=[{"role": "user", "content": "Hi"}], presence_penalty=0.5
        )
    assert raised.value.param == "presence_penalty"
    assert "presence_penalty" in raised.value.message
    assert "drop_params" in raised.value.message
    assert anthropic.requests == []


def test_drop_params_drops_what_anthropic_cannot_express(
    start_gateway: StartGateway, anthropic: MockAnthropic, upstream: MockUpstream
) -> None:
    gateway = start_gateway(config(anthropic, upstream, drop_params=True))
    with sdk_client(gateway) as sdk:
        completion = sdk.chat.completions.create(
            model=CLAUDE,
            messages=[{"role": "user", "content": "Hi"}],
            presence_penalty=0.5,
            logit_bias={"50256": -100},
            seed=7,
        )
    assert completion.choices[0].message.content
    sent = anthropic.requests[-1].body
    assert not {"presence_penalty", "logit_bias", "seed"} & set(sent)


def test_embeddings_are_refused_clearly(
    claude_gateway: GatewayProcess, anthropic: MockAnthropic
) -> None:
    response = httpx.post(
        f"{claude_gateway.v1_url}/embeddings",
        json={"model": CLAUDE, "input": "hello"},
        headers=claude_gateway.auth_headers(),
        timeout=30,
    )
    assert response.status_code == 400
    assert "chat completions only" in response.json()["error"]["message"]
    assert anthropic.requests == []


def test_cache_control_breakpoints_reach_anthropic_in_its_format(
    client: openai.OpenAI, anthropic: MockAnthropic
) -> None:
    anthropic.script(Text(content="Cached.", input_tokens=10, cache_read=900, cache_creation=0))
    ephemeral = {"type": "ephemeral"}
    completion = client.chat.completions.create(
        model=CLAUDE,
        messages=[
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "A long system prompt.", "cache_control": ephemeral}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "A long document.",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                    {"type": "text", "text": "First question"},
                ],
            },
            {"role": "assistant", "content": "First answer", "cache_control": ephemeral},
            {"role": "user", "content": "Next question"},
        ],  # type: ignore[list-item,misc]
        tools=[{**WEATHER_TOOL, "cache_control": ephemeral}],  # type: ignore[list-item]
        extra_body={"prompt_cache_key": "session-1"},
    )
    sent = anthropic.last_request().body
    assert sent["system"] == [
        {"type": "text", "text": "A long system prompt.", "cache_control": ephemeral}
    ]
    assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in sent["messages"][0]["content"][1]
    assert sent["messages"][1]["content"][-1] == {
        "type": "text",
        "text": "First answer",
        "cache_control": ephemeral,
    }
    assert sent["tools"][0]["cache_control"] == ephemeral
    assert "prompt_cache_key" not in sent  # a hint Anthropic has no field for
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 900
