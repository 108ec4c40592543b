"""``/v1/messages``: Anthropic's Messages API in front of any provider, with the anthropic SDK.

Served by an OpenAI-compatible deployment (translated both ways) and by an
Anthropic deployment (translated there and back); plain, streaming and tool
use; errors in Anthropic's shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_anthropic import API_KEY as ANTHROPIC_KEY
from support.mock_anthropic import MODEL as CLAUDE_MODEL
from support.mock_anthropic import Error as ClaudeError
from support.mock_anthropic import MockAnthropic, ToolUse
from support.mock_anthropic import Text as ClaudeText
from support.mock_azure import Call
from support.mock_azure import Text as OpenAIText
from support.mock_openai import API_KEY as OPENAI_KEY
from support.mock_openai import MockOpenAI
from support.shapes import assert_complete

GPT = "gpt-4o"
CLAUDE = "claude-sonnet"
TOOL = {
    "name": "get_stock_price",
    "description": "Get the current stock price for a ticker symbol.",
    "input_schema": {
        "type": "object",
        "properties": {"ticker": {"type": "string", "description": "e.g. AAPL"}},
        "required": ["ticker"],
    },
}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MockOpenAI, MockAnthropic]]:
    with MockOpenAI() as openai_server, MockAnthropic() as anthropic_server:
        yield openai_server, anthropic_server


@pytest.fixture
def upstreams(
    servers: tuple[MockOpenAI, MockAnthropic],
) -> Iterator[tuple[MockOpenAI, MockAnthropic]]:
    for server in servers:
        server.reset()
    yield servers
    for server in servers:
        assert server.violations == [], f"{server.name}: requests broke its schema"


@pytest.fixture(scope="module")
def gateway(
    servers: tuple[MockOpenAI, MockAnthropic], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    openai_server, anthropic_server = servers
    config = {
        "model_list": [
            {
                "model_name": GPT,
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": openai_server.base_url,
                    "api_key": OPENAI_KEY,
                },
                "model_info": {"id": "gpt-1"},
            },
            {
                "model_name": CLAUDE,
                "litellm_params": {
                    "model": f"anthropic/{CLAUDE_MODEL}",
                    "api_base": anthropic_server.api_base,
                    "api_key": ANTHROPIC_KEY,
                },
                "model_info": {"id": "claude-1"},
            },
        ],
        "router_settings": {"num_retries": 0},
    }
    process = GatewayProcess(tmp_path_factory.mktemp("messages"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, upstreams: Any) -> Iterator[anthropic.Anthropic]:
    mark = gateway.log_mark()
    with anthropic.Anthropic(
        base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as sdk:
        yield sdk
    print(gateway.log_since(mark))


def script(upstreams: tuple[MockOpenAI, MockAnthropic], model: str, text: str) -> None:
    openai_server, anthropic_server = upstreams
    if model == GPT:
        openai_server.script(OpenAIText(content=text, prompt_tokens=20, completion_tokens=8))
    else:
        anthropic_server.script(ClaudeText(content=text, input_tokens=20, output_tokens=8))


@pytest.mark.parametrize("model", [GPT, CLAUDE])
def test_plain_message(client: anthropic.Anthropic, upstreams: Any, model: str) -> None:
    script(upstreams, model, "The answer is 42.")
    message = client.messages.create(
        model=model,
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "What is six times seven?"}],
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
    )
    assert_complete(message)
    assert message.type == "message" and message.role == "assistant"
    # Translated, the answer names the model asked for; passed through to Anthropic, it is
    # Anthropic's Message as it came, naming the model that served.
    assert message.model == (model if model == GPT else CLAUDE_MODEL)
    assert message.id.startswith("msg_")
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "The answer is 42."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 8)
    openai_server, anthropic_server = upstreams
    if model == GPT:
        assert openai_server.requests[-1].body == {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is six times seven?"},
            ],
            "max_tokens": 256,
            "stop": ["END"],
            "user": "user-7",
        }
    else:
        sent = anthropic_server.requests[-1].body
        assert sent["system"] == "You are terse."
        assert sent["max_tokens"] == 256
        assert sent["stop_sequences"] == ["END"]
        assert sent["metadata"] == {"user_id": "user-7"}


@pytest.mark.parametrize("model", [GPT, CLAUDE])
def test_streaming_message(client: anthropic.Anthropic, upstreams: Any, model: str) -> None:
    script(upstreams, model, "Streaming through the front door.")
    with client.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "Stream please"}]
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert "content_block_start" in events and "content_block_stop" in events
    assert final.content[0].text == "Streaming through the front door."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 8
    assert final.usage.input_tokens == 20


@pytest.mark.parametrize("model", [GPT, CLAUDE])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(
    client: anthropic.Anthropic, upstreams: Any, model: str, stream: bool
) -> None:
    openai_server, anthropic_server = upstreams
    if model == GPT:
        openai_server.script(
            Call("get_stock_price", {"ticker": "ACME"}, id="call_stock_1"),
            OpenAIText(content="ACME trades at 12.5."),
        )
    else:
        anthropic_server.script(
            ToolUse(
                name="get_stock_price", input={"ticker": "ACME"}, id="toolu_stock_1", preamble=""
            ),
            ClaudeText(content="ACME trades at 12.5."),
        )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What does ACME trade at?"}]
    if stream:
        with client.messages.stream(
            model=model, max_tokens=200, tools=[TOOL], messages=messages
        ) as events:
            first = events.get_final_message()
    else:
        first = client.messages.create(model=model, max_tokens=200, tools=[TOOL], messages=messages)
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "get_stock_price" and use.input == {"ticker": "ACME"}
    messages.append(
        {
            "role": "assistant",
            "content": [block.model_dump(exclude_none=True) for block in first.content],
        }
    )
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "12.5 USD"}],
        }
    )
    second = client.messages.create(model=model, max_tokens=200, tools=[TOOL], messages=messages)
    assert second.content[0].text == "ACME trades at 12.5."  # type: ignore[union-attr]
    if model == GPT:
        sent = openai_server.requests[-1].body["messages"]
        assert sent[-1] == {"role": "tool", "tool_call_id": use.id, "content": "12.5 USD"}
        assert sent[-2]["tool_calls"][0]["function"] == {
            "name": "get_stock_price",
            "arguments": '{"ticker":"ACME"}',
        }
    else:
        sent = anthropic_server.requests[-1].body["messages"]
        assert sent[-1]["content"] == [
            {"type": "tool_result", "tool_use_id": use.id, "content": "12.5 USD"}
        ]


def test_errors_are_anthropic_shaped(client: anthropic.Anthropic, gateway: GatewayProcess) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": missing.value.body["error"]["message"]},  # type: ignore[index]
    }
    with pytest.raises(anthropic.BadRequestError) as invalid:
        client.messages.create(model=GPT, max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert invalid.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in invalid.value.message
    stranger = anthropic.Anthropic(base_url=gateway.base_url, api_key="wrong", max_retries=0)
    with stranger, pytest.raises(anthropic.AuthenticationError) as denied:
        stranger.messages.create(
            model=GPT, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_upstream_failure_mid_request_is_an_anthropic_error(
    client: anthropic.Anthropic, upstreams: Any
) -> None:
    upstreams[1].script(ClaudeError(529, "overloaded_error", "Overloaded"))
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(
            model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.status_code == 529
    assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_bearer_master_key_is_accepted_too(gateway: GatewayProcess, upstreams: Any) -> None:
    response = httpx.post(
        f"{gateway.base_url}/v1/messages",
        json={"model": GPT, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["type"] == "message"


def test_count_tokens_estimates_where_no_anthropic_deployment_can_count(
    client: anthropic.Anthropic, upstreams: Any
) -> None:
    short = client.messages.count_tokens(model=GPT, messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model=GPT, messages=[{"role": "user", "content": "hi " * 400}], tools=[TOOL]
    )
    assert 0 < short.input_tokens < long.input_tokens
    assert upstreams[0].requests == [] and upstreams[1].requests == []
    # An Anthropic group's count is Anthropic's own.
    client.messages.count_tokens(model=CLAUDE, messages=[{"role": "user", "content": "hi"}])
    assert [r.path for r in upstreams[1].requests] == ["/v1/messages/count_tokens"]


def test_documents_reach_an_openai_deployment_as_text_and_file_parts(
    client: anthropic.Anthropic, upstreams: Any
) -> None:
    openai_server, _ = upstreams
    openai_server.script(OpenAIText(content="Read them."))
    pdf = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoK"
    client.messages.create(
        model=GPT,
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Notes."},
                        "title": "notes.txt",
                    },
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
                        "title": "report.pdf",
                    },
                    {"type": "text", "text": "Summarise both."},
                ],
            }
        ],
    )
    sent = openai_server.requests[-1].body["messages"][0]["content"]
    assert sent == [
        {"type": "text", "text": "notes.txt\n\nNotes."},
        {"type": "text", "text": "report.pdf"},
        {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{pdf}"},
        },
        {"type": "text", "text": "Summarise both."},
    ]
    # A document only Anthropic can fetch is refused by name, before any upstream call.
    calls = len(openai_server.requests)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model=GPT,
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "url", "url": "https://example.com/a.pdf"},
                        }
                    ],
                }
            ],
        )
    assert "document source" in str(refused.value)
    assert len(openai_server.requests) == calls


def test_a_translated_streams_message_start_estimates_the_input_and_message_delta_counts_it(
    client: anthropic.Anthropic, upstreams: Any
) -> None:
    script(upstreams, GPT, "Counted.")
    prompt = "Count these words please. " * 40
    with client.messages.stream(
        model=GPT, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        events = list(stream)
    start = next(event for event in events if event.type == "message_start")
    # OpenAI reports usage at the end: message_start has the gateway's estimate (size / 4),
    # never zero; the final figures are the upstream's.
    assert start.message.usage.input_tokens >= len(prompt) // 4  # type: ignore[union-attr]
    assert stream.get_final_message().usage.input_tokens == 20
