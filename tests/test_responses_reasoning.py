"""The Responses API's reasoning on Anthropic deployments, with the openai SDK.

``reasoning.effort`` becomes Claude's thinking settings; the thinking comes back as a
``reasoning`` item (whole and streamed) whose ``encrypted_content`` carries the signed
blocks, and a tool loop continues with them, through ``previous_response_id`` or with
the items sent back (``store: false``, as Codex does). The mock Anthropic refuses a
tool result whose assistant turn does not start with a thinking block it signed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from support.clients import sdk_client
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_anthropic import Blocks, MockAnthropic, claude_deployment

OLDER = "claude-sonnet-4-5-20250929"
NEWER = "claude-opus-4-7"
THINKING = {
    "type": "thinking",
    "thinking": "I need the weather in Paris; the tool has it.",
    "signature": "ErUBCkYIBRgCIkBoVXbGpiwzgyzMvPvN7wtuZnfjGg2nTTsmV9wNOmsyKkb",
}
TOOL_USE = {
    "type": "tool_use",
    "id": "toolu_01Weather",
    "name": "get_weather",
    "input": {"city": "Paris"},
}
CALLS = Blocks(content=(THINKING, TOOL_USE), stop_reason="tool_use", output_tokens=60)
ANSWER = Blocks(content=({"type": "text", "text": "It is sunny in Paris."},), output_tokens=9)
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def gateway(
    anthropic_server: MockAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    base = anthropic_server.api_base
    config = {
        "model_list": [
            claude_deployment("older", OLDER, base),
            claude_deployment("newer", NEWER, base),
        ],
        "router_settings": {"num_retries": 0},
    }
    process = GatewayProcess(
        tmp_path_factory.mktemp("responses-reasoning"), config, master_key=MASTER_KEY
    )
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, claude: MockAnthropic) -> Iterator[openai.OpenAI]:
    with sdk_client(gateway) as sdk:
        yield sdk


@pytest.mark.parametrize(
    ("group", "effort", "thinking", "output_config"),
    [
        ("older", "high", {"type": "enabled", "budget_tokens": 4096}, None),
        ("older", "low", {"type": "enabled", "budget_tokens": 1024}, None),
        ("newer", "medium", {"type": "adaptive"}, {"effort": "medium"}),
        ("older", "none", None, None),
    ],
)
def test_reasoning_effort_becomes_claudes_thinking_settings(
    client: openai.OpenAI,
    claude: MockAnthropic,
    group: str,
    effort: str,
    thinking: dict[str, Any] | None,
    output_config: dict[str, Any] | None,
) -> None:
    claude.script(ANSWER)
    client.responses.create(
        model=group,
        input="What is the weather in Paris?",
        max_output_tokens=1000,
        reasoning={"effort": effort},  # type: ignore[typeddict-item]
    )
    sent = claude.last_request().body
    assert sent.get("thinking") == thinking
    assert sent.get("output_config") == output_config


def _reasoning(response: Any) -> Any:
    (item,) = [item for item in response.output if item.type == "reasoning"]
    return item


def test_a_tool_loop_continues_with_the_signed_thinking_by_previous_response_id(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    claude.script(CALLS, ANSWER)
    first = client.responses.create(
        model="older",
        input="What is the weather in Paris?",
        tools=[WEATHER_TOOL],
        max_output_tokens=2000,
        reasoning={"effort": "medium"},
    )
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    reasoning = _reasoning(first)
    assert reasoning.content[0].text == THINKING["thinking"]
    assert reasoning.encrypted_content, "the signed block travels with the item"
    call = first.output[1]
    assert call.type == "function_call" and call.call_id == TOOL_USE["id"]
    second = client.responses.create(
        model="older",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER_TOOL],
        max_output_tokens=2000,
        reasoning={"effort": "medium"},
    )
    assert second.output_text == "It is sunny in Paris."
    turn = claude.last_request().body["messages"][1]
    assert turn["role"] == "assistant"
    assert turn["content"][0] == THINKING, "the block goes back byte for byte, signed"
    assert turn["content"][1]["type"] == "tool_use"


def test_a_streamed_tool_loop_sent_back_by_the_client_keeps_the_signature(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    claude.script(CALLS, ANSWER)
    question: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    kinds: list[str] = []
    with client.responses.stream(
        model="older",
        input=question,
        tools=[WEATHER_TOOL],
        max_output_tokens=2000,
        reasoning={"effort": "medium"},
        store=False,
        include=["reasoning.encrypted_content"],
    ) as stream:
        reasoning_text = ""
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.reasoning_text.delta":
                reasoning_text += event.delta
        first = stream.get_final_response()
    assert reasoning_text == THINKING["thinking"]
    assert "response.reasoning_text.done" in kinds
    assert _reasoning(first).encrypted_content
    call = first.output[-1]
    assert call.type == "function_call"
    # Codex's way: no stored state, every item sent back as it came.
    followup: Any = [
        *question,
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = client.responses.create(
        model="older",
        input=followup,
        tools=[WEATHER_TOOL],
        max_output_tokens=2000,
        reasoning={"effort": "medium"},
        store=False,
    )
    assert second.output_text == "It is sunny in Paris."
    assert claude.last_request().body["messages"][1]["content"][0] == THINKING


def test_without_the_thinking_block_anthropic_refuses_the_tool_result(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    """The rule the two tests above meet, shown failing: a client that drops the
    reasoning item gets Anthropic's 400 through the gateway, with its words."""
    claude.script(CALLS)
    first = client.responses.create(
        model="older",
        input="What is the weather in Paris?",
        tools=[WEATHER_TOOL],
        max_output_tokens=2000,
        reasoning={"effort": "medium"},
        store=False,
    )
    call = first.output[-1]
    assert call.type == "function_call"
    followup: Any = [
        {"role": "user", "content": "What is the weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="older",
            input=followup,
            tools=[WEATHER_TOOL],
            max_output_tokens=2000,
            reasoning={"effort": "medium"},
            store=False,
        )
    assert "must start with a thinking block" in str(refused.value)
    assert len(claude.violations) == 1
    claude.reset()  # the one refusal was this test's point
