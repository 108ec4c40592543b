"""reasoning_effort through Anthropic deployments, called with the OpenAI SDK.

An older model takes a thinking budget, a newer one adaptive thinking at an effort level;
the reasoning comes back as ``reasoning_content``, whole and streamed, with the signed
blocks (``thinking_blocks``) that the next turn sends back for Anthropic to check.
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
    "thinking": "Seventeen times three is fifty-one.",
    "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
}
ANSWER = Blocks(content=(THINKING, {"type": "text", "text": "51"}), output_tokens=40)


@pytest.fixture(scope="module")
def gateway(
    anthropic_server: MockAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    base = anthropic_server.api_base
    config = {
        "model_list": [
            claude_deployment("older", OLDER, base),
            claude_deployment("newer", NEWER, base),
            {
                **claude_deployment("pinned", OLDER, base),
                "model_info": {"id": "pinned", "thinking_mode": "adaptive"},
            },
        ]
    }
    process = GatewayProcess(
        tmp_path_factory.mktemp("reasoning"),
        config,
        master_key=MASTER_KEY,
        env={"DEFAULT_REASONING_EFFORT_MEDIUM_THINKING_BUDGET": "3000"},
    )
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, claude: MockAnthropic) -> Iterator[openai.OpenAI]:
    with sdk_client(gateway) as sdk:
        yield sdk


QUESTION: Any = [{"role": "user", "content": "What is 17 x 3?"}]


@pytest.mark.parametrize(
    ("group", "effort", "thinking", "output_config", "max_tokens"),
    [
        ("older", "high", {"type": "enabled", "budget_tokens": 4096}, None, 5096),
        ("older", "medium", {"type": "enabled", "budget_tokens": 3000}, None, 4000),
        ("older", "minimal", {"type": "enabled", "budget_tokens": 1024}, None, 2024),
        ("newer", "high", {"type": "adaptive"}, {"effort": "high"}, 1000),
        ("newer", "low", {"type": "adaptive"}, {"effort": "low"}, 1000),
        ("pinned", "medium", {"type": "adaptive"}, {"effort": "medium"}, 1000),
        ("older", "none", None, None, 1000),
        ("newer", "none", None, None, 1000),
    ],
)
def test_reasoning_effort_becomes_the_models_own_thinking_settings(
    client: openai.OpenAI,
    claude: MockAnthropic,
    group: str,
    effort: str,
    thinking: dict[str, Any] | None,
    output_config: dict[str, Any] | None,
    max_tokens: int,
) -> None:
    claude.script(ANSWER)
    client.chat.completions.create(
        model=group,
        messages=QUESTION,
        max_tokens=1000,
        reasoning_effort=effort,  # type: ignore[arg-type]
    )
    sent = claude.last_request().body
    assert sent.get("thinking") == thinking
    assert sent.get("output_config") == output_config
    assert sent["max_tokens"] == max_tokens


def test_reasoning_comes_back_as_reasoning_content_and_goes_back_signed(
    client: openai.OpenAI, claude: MockAnthropic
) -> None:
    claude.script(ANSWER, ANSWER, Blocks(content=({"type": "text", "text": "You are welcome."},)))
    raw = client.chat.completions.with_raw_response.create(
        model="older", messages=QUESTION, max_tokens=1000, reasoning_effort="low"
    )
    message = raw.parse().choices[0].message
    assert message.content == "51"
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == THINKING["thinking"]
    assert extra["thinking_blocks"] == [THINKING]

    # Streamed: the reasoning as reasoning_content deltas, then the signed block.
    reasoning, blocks, text = "", [], ""
    for chunk in client.chat.completions.create(
        model="older", messages=QUESTION, max_tokens=1000, reasoning_effort="low", stream=True
    ):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        more = delta.model_extra or {}
        reasoning += more.get("reasoning_content") or ""
        blocks += more.get("thinking_blocks") or []
        text += delta.content or ""
    assert (reasoning, blocks, text) == (THINKING["thinking"], [THINKING], "51")

    # The next turn sends the signed block back: Anthropic accepts only what it signed.
    turns = [
        *QUESTION,
        {"role": "assistant", "content": "51", "thinking_blocks": blocks},
        {"role": "user", "content": "Thanks"},
    ]
    client.chat.completions.create(
        model="older", messages=turns, max_tokens=1000, reasoning_effort="low"
    )
    sent = claude.last_request().body["messages"][1]["content"]
    assert sent[0] == THINKING and sent[1] == {"type": "text", "text": "51"}


def test_an_unknown_effort_is_refused_by_name(client: openai.OpenAI, claude: MockAnthropic) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="older",
            messages=QUESTION,
            reasoning_effort="extreme",  # type: ignore[arg-type]
        )
    assert "reasoning_effort" in str(refused.value)
    assert claude.calls() == 0
