"""Gemini (AI Studio) deployments, called with the OpenAI SDK.

The mock validates every request against the Gemini API's documented schema;
any violation fails the test that caused it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_gemini import API_KEY, Blocked, Call, Error, MockGemini, Text, vector_for
from support.shapes import assert_complete

GEMINI = "gemini-flash"
GEMINI3 = "gemini-3"
BACKUP = "gemini-backup"
EMBED = "gemini-embed"
MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and state"},
                "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def gemini_deployment(group: str, model: str, api_base: str) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": f"gemini/{model}", "api_base": api_base, "api_key": API_KEY},
        "model_info": {"id": f"{group}-1"},
    }


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[MockGemini]:
    with MockGemini() as server:
        yield server


@pytest.fixture
def gemini(gemini_server: MockGemini) -> Iterator[MockGemini]:
    gemini_server.reset()
    yield gemini_server
    assert gemini_server.violations == [], "requests broke the Gemini API schema"


@pytest.fixture(scope="module")
def gemini_gateway(
    gemini_server: MockGemini, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    base = gemini_server.ai_studio_base
    config = {
        "model_list": [
            gemini_deployment(GEMINI, MODEL, base),
            gemini_deployment(BACKUP, "gemini-2.5-pro", base),
            gemini_deployment(EMBED, "gemini-embedding-001", base),
            gemini_deployment(GEMINI3, "gemini-3-pro-preview", base),
        ],
        "router_settings": {
            "num_retries": 0,
            # Error tests must not cool a deployment down for the tests after them.
            "allowed_fails": 1000,
            "cooldown_time": 0,
            "content_policy_fallbacks": [{GEMINI: [BACKUP]}],
            "context_window_fallbacks": [{GEMINI: [BACKUP]}],
        },
    }
    process = GatewayProcess(tmp_path_factory.mktemp("gemini"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gemini_gateway: GatewayProcess, gemini: MockGemini) -> Iterator[openai.OpenAI]:
    mark = gemini_gateway.log_mark()
    with sdk_client(gemini_gateway) as sdk:
        yield sdk
    print(gemini_gateway.log_since(mark))


def test_plain_chat_is_translated_both_ways(client: openai.OpenAI, gemini: MockGemini) -> None:
    gemini.script(Text(content="Paris.", prompt_tokens=12, completion_tokens=2))
    raw = client.chat.completions.with_raw_response.create(
        model=GEMINI,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        max_tokens=50,
        temperature=0.2,
        top_p=0.8,
        stop=["\n\n"],
        seed=7,
        response_format={"type": "json_object"},
    )
    completion = ChatCompletion.model_validate_json(raw.text)
    assert_complete(completion)
    assert completion.choices[0].message.content == "Paris."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 2)

    sent = gemini.requests[-1]
    assert sent.path == f"/v1beta/models/{MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "Capital of France?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.8,
            "seed": 7,
            "maxOutputTokens": 50,
            "stopSequences": ["\n\n"],
            "responseMimeType": "application/json",
        },
    }


def test_several_candidates_become_several_choices(
    client: openai.OpenAI, gemini: MockGemini
) -> None:
    gemini.script(Text(content="Hi", candidates=2))
    completion = client.chat.completions.create(
        model=GEMINI, messages=[{"role": "user", "content": "Hi"}], n=2
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert gemini.requests[-1].body["generationConfig"] == {"candidateCount": 2}


def test_stream_is_a_well_formed_openai_stream(client: openai.OpenAI, gemini: MockGemini) -> None:
    gemini.script(Text(content="One, two, three.", chunks=3, prompt_tokens=5, completion_tokens=6))
    chunks = list(
        client.chat.completions.create(
            model=GEMINI,
            messages=[{"role": "user", "content": "Count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        assert_complete(chunk)
    assert gemini.requests[-1].path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert gemini.requests[-1].query == {"alt": "sse"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "One, two, three."
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 6)
    assert len({c.id for c in chunks}) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(client: openai.OpenAI, gemini: MockGemini, stream: bool) -> None:
    gemini.script(
        Call("get_weather", {"location": "Boston, MA"}), Text(content="It is 5 degrees in Boston.")
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Boston?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=GEMINI, messages=messages, tools=[WEATHER_TOOL], stream=True
            )
        )
        for chunk in chunks:
            assert_complete(chunk)
        calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
        assert len(calls) == 1 and calls[0].function is not None
        call_id, name, arguments = calls[0].id, calls[0].function.name, calls[0].function.arguments
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        completion = client.chat.completions.create(
            model=GEMINI, messages=messages, tools=[WEATHER_TOOL]
        )
        assert_complete(completion)
        assert completion.choices[0].finish_reason == "tool_calls"
        assert completion.choices[0].message.tool_calls is not None
        call = completion.choices[0].message.tool_calls[0]
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert call_id and name == "get_weather"
    assert json.loads(arguments or "") == {"location": "Boston, MA"}
    declared = gemini.requests[-1].body["tools"][0]["functionDeclarations"][0]
    assert declared == {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and state"},
                "unit": {"type": "string", "nullable": True, "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    }
    messages.append(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call_id, "content": '{"temperature": 5}'})
    answer = client.chat.completions.create(
        model=GEMINI, messages=messages, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert answer.choices[0].message.content == "It is 5 degrees in Boston."
    sent = gemini.requests[-1].body
    assert sent["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"location": "Boston, MA"}}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 5}}}
            ],
        },
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_usage_counts_cached_and_thinking_tokens(client: openai.OpenAI, gemini: MockGemini) -> None:
    gemini.script(
        Text(prompt_tokens=100, cached_tokens=40, completion_tokens=10, thoughts_tokens=25)
    )
    completion = client.chat.completions.create(
        model=GEMINI, messages=[{"role": "user", "content": "Hi"}]
    )
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 35, 135)
    assert (
        usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 40
    )
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 25


@pytest.mark.parametrize("prompt", [True, False], ids=["prompt_blocked", "answer_blocked"])
@pytest.mark.parametrize("stream", [False, True])
def test_safety_block_triggers_content_policy_fallbacks(
    client: openai.OpenAI, gemini: MockGemini, prompt: bool, stream: bool
) -> None:
    gemini.script(Blocked(prompt=prompt), Text(content="Answered by the backup."))
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model=GEMINI, messages=[{"role": "user", "content": "Something risky"}], stream=True
        ) as response:
            fallbacks = response.headers["x-gateway-fallbacks"]
            text = "".join(c.choices[0].delta.content or "" for c in response.parse())
    else:
        raw = client.chat.completions.with_raw_response.create(
            model=GEMINI, messages=[{"role": "user", "content": "Something risky"}]
        )
        fallbacks = raw.headers["x-gateway-fallbacks"]
        text = raw.parse().choices[0].message.content or ""
    assert fallbacks == BACKUP
    assert text == "Answered by the backup."
    assert [r.path.split("/")[-1].split(":")[0] for r in gemini.requests] == [
        MODEL,
        "gemini-2.5-pro",
    ]


def test_safety_block_without_fallback_is_a_content_policy_400(
    client: openai.OpenAI, gemini: MockGemini
) -> None:
    gemini.script(Blocked(prompt=True, reason="PROHIBITED_CONTENT"))
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=BACKUP, messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "content_policy_violation"
    assert "PROHIBITED_CONTENT" in raised.value.message


def test_context_window_error_triggers_context_window_fallbacks(
    client: openai.OpenAI, gemini: MockGemini
) -> None:
    gemini.script(
        Error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        Text(content="Fits here."),
    )
    raw = client.chat.completions.with_raw_response.create(
        model=GEMINI, messages=[{"role": "user", "content": "long"}]
    )
    assert raw.headers["x-gateway-fallbacks"] == BACKUP
    assert raw.parse().choices[0].message.content == "Fits here."


def test_invalid_api_key_is_an_authentication_error(
    client: openai.OpenAI, gemini: MockGemini
) -> None:
    details = ({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},)
    gemini.script(
        Error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details)
    )
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=BACKUP, messages=[{"role": "user", "content": "x"}])


def test_rate_limit_reads_retry_info(client: openai.OpenAI, gemini: MockGemini) -> None:
    details = ({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},)
    gemini.script(Error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details))
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=BACKUP, messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers["retry-after"] == "37"


def test_unsupported_params_are_refused_naming_the_param(
    client: openai.OpenAI, gemini: MockGemini
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=GEMINI, messages=[{"role": "user", "content": "x"}], logprobs=True
        )
    assert raised.value.param == "logprobs"
    assert gemini.requests == []


def test_embeddings_single_and_batch(client: openai.OpenAI, gemini: MockGemini) -> None:
    single = client.embeddings.create(model=EMBED, input="hello world")  # the SDK asks for base64
    assert_complete(single)
    assert single.data[0].embedding == vector_for("hello world")
    assert gemini.requests[-1].path == "/v1beta/models/gemini-embedding-001:embedContent"
    batch = client.embeddings.create(
        model=EMBED, input=["first", "second"], dimensions=4, encoding_format="float"
    )
    assert [d.embedding for d in batch.data] == [vector_for("first", 4), vector_for("second", 4)]
    assert [d.index for d in batch.data] == [0, 1]
    sent = gemini.requests[-1]
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "second"}]},
        "outputDimensionality": 4,
    }
    assert batch.usage.prompt_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_3_tool_loop_carries_the_thought_signature_through_the_openai_format(
    client: openai.OpenAI, gemini: MockGemini, stream: bool
) -> None:
    signature = "CsMBAdHtim9nV1Jb1E2ZwNJ6xBkhPJkUJcAuoL3cMmpE8JJ0wGk"
    gemini.script(
        Call("get_weather", {"location": "Boston, MA"}, thought_signature=signature),
        Text(content="It is 5 degrees in Boston."),
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Boston?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=GEMINI3, messages=messages, tools=[WEATHER_TOOL], stream=True
            )
        )
        calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
        call_id, arguments = calls[0].id, calls[0].function.arguments  # type: ignore[union-attr]
    else:
        completion = client.chat.completions.create(
            model=GEMINI3, messages=messages, tools=[WEATHER_TOOL]
        )
        call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        call_id, arguments = call.id, call.function.arguments  # type: ignore[union-attr]
    assert call_id and call_id.endswith(f"__thought__{signature}")
    messages.append(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call_id, "content": '{"temperature": 5}'})
    # Gemini 3 refuses a function call sent back without its signature (the mock too).
    answer = client.chat.completions.create(model=GEMINI3, messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is 5 degrees in Boston."
    part = gemini.requests[-1].body["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == signature
    assert part["functionCall"] == {"name": "get_weather", "args": {"location": "Boston, MA"}}


@pytest.mark.parametrize(
    ("group", "effort", "config"),
    [
        (GEMINI3, "low", {"thinkingLevel": "low", "includeThoughts": True}),
        (GEMINI3, "high", {"thinkingLevel": "high", "includeThoughts": True}),
        (GEMINI3, "none", {"thinkingLevel": "minimal"}),
        (GEMINI, "medium", {"thinkingBudget": 2048, "includeThoughts": True}),
        (GEMINI, "none", {"thinkingBudget": 0}),
    ],
)
def test_reasoning_effort_becomes_geminis_thinking_config(
    client: openai.OpenAI, gemini: MockGemini, group: str, effort: str, config: dict[str, Any]
) -> None:
    gemini.script(Text(content="Done."))
    client.chat.completions.create(
        model=group,
        messages=[{"role": "user", "content": "Think."}],
        reasoning_effort=effort,  # type: ignore[arg-type]
    )
    assert gemini.requests[-1].body["generationConfig"]["thinkingConfig"] == config


def test_thought_summaries_come_back_as_reasoning_content(
    client: openai.OpenAI, gemini: MockGemini
) -> None:
    thought = "Boston in winter is cold."
    gemini.script(Text(content="Cold.", thought=thought), Text(content="Cold.", thought=thought))
    completion = client.chat.completions.create(
        model=GEMINI3, messages=[{"role": "user", "content": "Weather?"}], reasoning_effort="low"
    )
    message = completion.choices[0].message
    assert message.content == "Cold."
    assert (message.model_extra or {})["reasoning_content"] == thought
    reasoning, text = "", ""
    for chunk in client.chat.completions.create(
        model=GEMINI3,
        messages=[{"role": "user", "content": "Weather?"}],
        reasoning_effort="low",
        stream=True,
    ):
        if chunk.choices:
            reasoning += (chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            text += chunk.choices[0].delta.content or ""
    assert (reasoning, text) == (thought, "Cold.")
