"""/v1/messages passed through to Anthropic deployments: what the caller sends, what Anthropic sent.

The anthropic SDK calls the gateway; the mock Anthropic server checks every
request against the Messages API (and that a thinking block sent back carries a
signature it issued) and answers with thinking and redacted-thinking blocks,
a server tool call and its results, and text with citations.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess
from support.mock_anthropic import (
    API_KEY,
    LATEST,
    MODEL,
    Blocks,
    Error,
    MockAnthropic,
    block_events,
    claude_deployment,
)
from support.mock_upstream import MockUpstream, Reply

CLAUDE = "claude"
GPT = "gpt"
STRICT = ["strict-filtered", "strict-unfiltered"]
BETA = "interleaved-thinking-2025-05-14"
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}
THINKING = {
    "type": "thinking",
    "thinking": "The user wants the weather; I should search first.",
    "signature": "EuYBCkQYAiJAgCs1le6/Pol5Z4/JMomVOouGrWdhYNsH3ukzUECbB6iWrSQtsQuRHJID6lWV",
}
REDACTED = {
    "type": "redacted_thinking",
    "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr",
}
SERVER_TOOL = {
    "type": "server_tool_use",
    "id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB",
    "name": "web_search",
    "input": {"query": "weather in Paris today"},
}
SEARCH_RESULTS = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB",
    "content": [
        {
            "type": "web_search_result",
            "url": "https://weather.example/paris",
            "title": "Paris weather",
            "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1k",
            "page_age": "2 hours ago",
        }
    ],
}
CITED_TEXT = {
    "type": "text",
    "text": "It is 18 °C and sunny in Paris.",
    "citations": [
        {
            "type": "web_search_result_location",
            "url": "https://weather.example/paris",
            "title": "Paris weather",
            "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm",
            "cited_text": "Paris: 18 °C, sunny",
        }
    ],
}
ANSWER = Blocks(
    content=(THINKING, REDACTED, SERVER_TOOL, SEARCH_RESULTS, CITED_TEXT),
    input_tokens=40,
    output_tokens=30,
    cache_read=100,
    cache_creation=50,
    server_tool_use={"web_search_requests": 1},
)
QUESTION = [
    {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "What is the weather in Paris?",
                "cache_control": {"type": "ephemeral"},
            }
        ],
    }
]


@pytest.fixture(scope="module")
def strict_server() -> Iterator[MockAnthropic]:
    """An Anthropic-compatible upstream that knows one beta flag and refuses the others."""
    with MockAnthropic(betas=frozenset({BETA})) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    anthropic_server: MockAnthropic,
    strict_server: MockAnthropic,
    mock_upstream_server: MockUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            {
                "model_name": CLAUDE,
                "litellm_params": {
                    "model": f"anthropic/{MODEL}",
                    "api_base": anthropic_server.api_base,
                    "api_key": API_KEY,
                },
                "model_info": {"id": "claude-1"},
            },
            {
                "model_name": GPT,
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": mock_upstream_server.base_url,
                    "api_key": "sk-up",
                },
                "model_info": {"id": "gpt-1"},
            },
            claude_deployment(
                "strict-filtered", MODEL, strict_server.api_base, supported_anthropic_betas=[BETA]
            ),
            claude_deployment("strict-unfiltered", MODEL, strict_server.api_base),
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{CLAUDE: [GPT]}]},
        "general_settings": {"proxy_batch_write_at": 0.2},
    }
    process = GatewayProcess(tmp_path_factory.mktemp("native"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, claude: MockAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as sdk:
        yield sdk


def ask(**extra: Any) -> dict[str, Any]:
    return {
        "model": CLAUDE,
        "max_tokens": 4096,
        "messages": QUESTION,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [WEB_SEARCH],
        **extra,
    }


def expected_message(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    usage = {
        "input_tokens": 40,
        "cache_creation_input_tokens": 50,
        "cache_read_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 50, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 30,
        "server_tool_use": {"web_search_requests": 1},
        "service_tier": "standard",
    }
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": list(body),
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def ledger_row(gateway: GatewayProcess, request_id: str) -> tuple[Any, ...]:
    path = gateway.workdir / "gateway-data" / "spend.sqlite3"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(str(path)) as db:
                row = db.execute(
                    "SELECT deployment_id, prompt_tokens, completion_tokens, cached_tokens, "
                    "status, stream FROM spend_log WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is not None:
            return tuple(row)
        time.sleep(0.1)
    raise AssertionError(f"no ledger row for {request_id}")


def test_a_message_is_passed_through_byte_for_byte_with_the_callers_headers(
    client: anthropic.Anthropic, claude: MockAnthropic, gateway: GatewayProcess
) -> None:
    claude.script(ANSWER)
    raw = client.messages.with_raw_response.create(**ask(), extra_headers={"anthropic-beta": BETA})
    # What Anthropic sent, as it sent it (the mock writes json.dumps of its message).
    sent = expected_message(ANSWER.content, json.loads(raw.http_response.content)["id"])
    assert raw.http_response.content == json.dumps(sent).encode()
    message = raw.parse()
    assert [block.type for block in message.content] == [
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert message.content[0].signature == THINKING["signature"]  # type: ignore[union-attr]
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert raw.headers["x-gateway-deployment"] == "claude-1"
    # The request reached Anthropic as the caller sent it, with its version and beta.
    received = claude.last_request()
    assert received.headers["anthropic-beta"] == BETA
    assert received.headers["anthropic-version"] == LATEST  # the SDK's, not the gateway's
    assert received.headers["x-api-key"] == API_KEY
    assert received.body == {**ask(), "model": MODEL}
    row = ledger_row(gateway, raw.headers["x-request-id"])
    assert row == ("claude-1", 190, 30, 100, 200, 0)


def test_a_second_turn_sends_the_thinking_back_with_its_signature(
    client: anthropic.Anthropic, claude: MockAnthropic
) -> None:
    claude.script(ANSWER, Blocks(content=({"type": "text", "text": "You are welcome."},)))
    first = client.messages.with_raw_response.create(**ask())
    content = json.loads(first.http_response.content)["content"]
    turns = [
        *QUESTION,
        {"role": "assistant", "content": content},
        {"role": "user", "content": "Thanks!"},
    ]
    second = client.messages.create(**ask(messages=turns))
    assert second.content[0].type == "text"
    sent_back = claude.last_request().body["messages"][1]["content"]
    assert sent_back == content  # signatures, redacted data, results and citations intact


def test_a_changed_signature_is_refused_by_anthropic_and_the_refusal_relayed(
    client: anthropic.Anthropic, claude: MockAnthropic
) -> None:
    forged = {**THINKING, "signature": "forged"}
    turns = [
        *QUESTION,
        {"role": "assistant", "content": [forged, {"type": "text", "text": "Hi"}]},
        {"role": "user", "content": "Again"},
    ]
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(**ask(messages=turns))
    assert "Invalid `signature` in `thinking` block" in str(refused.value)
    claude.reset()  # the refused request was the point: not a fault of the gateway


def test_a_stream_is_relayed_event_for_event(
    client: anthropic.Anthropic, claude: MockAnthropic, gateway: GatewayProcess
) -> None:
    claude.script(ANSWER)
    events: list[tuple[str, dict[str, Any]]] = []
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST",
            f"{gateway.base_url}/v1/messages",
            headers={
                "x-api-key": MASTER_KEY,
                "anthropic-version": "2023-06-01",
                "anthropic-beta": BETA,
            },
            json=ask(stream=True),
        ) as response,
    ):
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    blocks = [e for i, b in enumerate(ANSWER.content) for e in block_events(i, b)]
    assert [kind for kind, _ in events] == [
        "message_start",
        "ping",
        *(e["type"] for e in blocks),
        "message_delta",
        "message_stop",
    ]
    assert [data for _, data in events[2:-2]] == blocks
    assert events[-2][1]["usage"] == {
        "output_tokens": 30,
        "server_tool_use": {"web_search_requests": 1},
    }
    assert claude.last_request().headers["anthropic-beta"] == BETA
    assert ledger_row(gateway, request_id) == ("claude-1", 190, 30, 100, 200, 1)

    # The SDK's own stream reader puts the same blocks back together.
    claude.script(ANSWER)
    with client.messages.stream(**ask()) as stream:
        final = stream.get_final_message()
    rebuilt = [block.model_dump(exclude_none=True) for block in final.content]
    assert rebuilt[0] == THINKING and rebuilt[1] == REDACTED
    assert rebuilt[2] == SERVER_TOOL and rebuilt[4]["text"] == CITED_TEXT["text"]


@pytest.mark.parametrize("stream", [False, True])
def test_an_overloaded_anthropic_falls_back_through_the_translation(
    client: anthropic.Anthropic, claude: MockAnthropic, upstream: MockUpstream, stream: bool
) -> None:
    claude.script(Error(529, "overloaded_error", "Overloaded"))
    upstream.script(Reply(content="Fallback answer."))
    body = {"model": CLAUDE, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        with client.messages.stream(**body) as events:
            text = events.get_final_text()
            headers = events.response.headers
    else:
        raw = client.messages.with_raw_response.create(**body)
        text, headers = raw.parse().content[0].text, raw.headers  # type: ignore[union-attr]
    assert text == "Fallback answer."
    assert headers["x-gateway-fallbacks"] == GPT
    assert claude.calls() == 1 and upstream.calls() == 1


def test_a_server_tool_on_a_group_without_anthropic_is_refused_by_name(
    client: anthropic.Anthropic, claude: MockAnthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(**{**ask(), "model": GPT})
    assert "web_search" in str(refused.value)
    assert claude.calls() == 0


def test_count_tokens_asks_anthropic_where_it_can_and_says_when_it_estimates(
    gateway: GatewayProcess, claude: MockAnthropic
) -> None:
    body = {"model": CLAUDE, "messages": QUESTION, "system": "Be brief.", "tools": [WEB_SEARCH]}
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": LATEST, "anthropic-beta": BETA}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as http:
        exact = http.post("/v1/messages/count_tokens", json=body)
        assert exact.status_code == 200, exact.text
        assert exact.headers["x-gateway-token-count"] == "exact"
        assert exact.json() == {"input_tokens": len(json.dumps(QUESTION)) // 3 + 7}
        received = claude.last_request("/v1/messages/count_tokens")
        assert received.body == {**body, "model": MODEL}
        assert received.headers["anthropic-beta"] == BETA
        # Anthropic failing: an estimate, said to be one.
        claude.script(Error(500, "api_error", "Internal server error"))
        fallback = http.post("/v1/messages/count_tokens", json=body)
        assert fallback.headers["x-gateway-token-count"] == "estimate"
        assert fallback.json()["input_tokens"] > 0
        # A group without Anthropic: an estimate.
        other = http.post("/v1/messages/count_tokens", json={**body, "model": GPT})
        assert other.headers["x-gateway-token-count"] == "estimate"
        # The request itself wrong: Anthropic's refusal, in its shape.
        refused = http.post("/v1/messages/count_tokens", json={**body, "max_tokens": 10})
        assert refused.status_code == 400
        assert refused.json()["type"] == "error"
    assert claude.calls("/v1/messages/count_tokens") == 3


def test_anthropic_clients_list_models_in_anthropics_shape(
    client: anthropic.Anthropic, gateway: GatewayProcess
) -> None:
    page = client.models.list(limit=1)
    assert [model.id for model in page.data] == [CLAUDE]
    assert page.has_more and page.data[0].type == "model"
    assert [model.id for model in client.models.list()] == [CLAUDE, GPT, *STRICT]  # every page
    assert client.models.retrieve(GPT).display_name == GPT
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("no-such-model")
    # An OpenAI client still gets OpenAI's shape.
    listing = httpx.get(
        f"{gateway.v1_url}/models", headers={"Authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    assert listing["object"] == "list" and listing["data"][0]["object"] == "model"


def test_a_deployment_list_of_betas_leaves_off_the_flags_its_upstream_lacks(
    client: anthropic.Anthropic, strict_server: MockAnthropic
) -> None:
    strict_server.reset()
    strict_server.script(Blocks(content=({"type": "text", "text": "Filtered."},)))
    flags = {"anthropic-beta": f"{BETA},context-1m-2025-08-07"}
    question: Any = [{"role": "user", "content": "Hi"}]
    message = client.messages.create(
        model="strict-filtered", max_tokens=100, messages=question, extra_headers=flags
    )
    assert message.content[0].type == "text"
    assert strict_server.last_request().headers["anthropic-beta"] == BETA
    # Without the list every flag goes, and that upstream refuses the request, in its words.
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model="strict-unfiltered", max_tokens=100, messages=question, extra_headers=flags
        )
    assert "Unsupported beta header: context-1m-2025-08-07" in str(refused.value)
    assert strict_server.violations == []
