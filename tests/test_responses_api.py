"""``/v1/responses``: the Responses API on every path, with the official openai SDK and Agents SDK.

One gateway for the module, in front of: an OpenAI-compatible chat-only upstream
(``custom_openai/``, translated), two upstreams with the Responses API itself
(``openai/``, passed through, one group of two), an ``openai/`` upstream that has
no Responses API (404, then translated), Anthropic and Gemini (translated).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import agents
import httpx
import openai
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support.configs import MASTER_KEY
from support.control import Admin
from support.gateway_process import GatewayProcess
from support.mock_anthropic import API_KEY as ANTHROPIC_KEY
from support.mock_anthropic import MODEL as CLAUDE_MODEL
from support.mock_anthropic import MockAnthropic, ToolUse
from support.mock_anthropic import Text as ClaudeText
from support.mock_gemini import API_KEY as GEMINI_KEY
from support.mock_gemini import Call as GeminiCall
from support.mock_gemini import MockGemini
from support.mock_gemini import Text as GeminiText
from support.mock_responses import API_KEY as OPENAI_KEY
from support.mock_responses import Call, Error, MockChatOnly, MockResponses, Text
from support.shapes import assert_complete

CHAT, NATIVE, CLAUDE, GEMINI, LEGACY, FLAKY, LIMITED = (
    "chat", "native", "claude", "gemini", "legacy", "flaky", "limited"
)  # fmt: skip
PATHS = [CHAT, NATIVE, CLAUDE, GEMINI]
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class Upstreams:
    def __init__(self) -> None:
        self.chat = MockResponses()  # its chat completions route, behind custom_openai/
        self.native_a = MockResponses()
        self.native_b = MockResponses()
        self.flaky = MockResponses()
        self.legacy = MockChatOnly()
        self.claude = MockAnthropic()
        self.gemini = MockGemini()
        self.all = [
            self.chat, self.native_a, self.native_b, self.flaky, self.legacy, self.claude,
            self.gemini,
        ]  # fmt: skip

    def script(self, model: str, *, text: str | None = None, call: bool = False) -> None:
        """The next answer of ``model``'s upstream: ``text``, or a get_weather call."""
        if model == CLAUDE:
            self.claude.script(
                ToolUse(name="get_weather", input={"city": "Paris"}, id="toolu_w1")
                if call
                else ClaudeText(content=text or "", input_tokens=20, output_tokens=8)
            )
            return
        if model == GEMINI:
            self.gemini.script(
                GeminiCall(name="get_weather", args={"city": "Paris"})
                if call
                else GeminiText(content=text or "", prompt_tokens=20, completion_tokens=8)
            )
            return
        behaviour: Any = (
            Call(name="get_weather", arguments={"city": "Paris"}, id="call_w1")
            if call
            else Text(content=text or "", prompt_tokens=20, completion_tokens=8)
        )
        if model == CHAT:
            self.chat.script(behaviour)
        else:
            self.native_a.default = behaviour
            self.native_b.default = behaviour


@pytest.fixture(scope="module")
def servers() -> Iterator[Upstreams]:
    upstreams = Upstreams()
    for server in upstreams.all:
        server.__enter__()
    yield upstreams
    for server in upstreams.all:
        server.__exit__(None, None, None)


@pytest.fixture
def upstreams(servers: Upstreams) -> Iterator[Upstreams]:
    for server in servers.all:
        server.reset()
    yield servers
    for server in servers.all:
        assert server.violations == [], f"{server.name}: {server.violations}"


def _openai(
    name: str, server: MockResponses | MockChatOnly, provider: str = "openai"
) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"{provider}/gpt-5-mini",
            "api_base": server.base_url,
            "api_key": OPENAI_KEY,
        },
        "model_info": {"id": f"{name}-{id(server) % 1000}"},
    }


@pytest.fixture(scope="module")
def gateway(
    servers: Upstreams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    native_a = _openai(NATIVE, servers.native_a)
    native_a["model_info"]["id"] = "native-a"
    native_b = _openai(NATIVE, servers.native_b)
    native_b["model_info"]["id"] = "native-b"
    config = {
        "model_list": [
            _openai(CHAT, servers.chat, provider="custom_openai"),
            native_a,
            native_b,
            _openai(FLAKY, servers.flaky),
            _openai(LEGACY, servers.legacy),
            {
                "model_name": CLAUDE,
                "litellm_params": {
                    "model": f"anthropic/{CLAUDE_MODEL}",
                    "api_base": servers.claude.api_base,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            {
                "model_name": GEMINI,
                "litellm_params": {
                    "model": "gemini/gemini-2.5-flash",
                    "api_base": servers.gemini.ai_studio_base,
                    "api_key": GEMINI_KEY,
                },
            },
            {
                "model_name": LIMITED,
                "litellm_params": {
                    "model": "mock/limited",
                    "mock_failure_rate": 1.0,
                    "mock_failure_status": 429,
                },
            },
        ],
        "router_settings": {
            "num_retries": 0,
            "fallbacks": [{FLAKY: [CHAT]}],
            "allowed_fails": 1000,
        },
        "general_settings": {"proxy_batch_write_at": 0.2, "max_request_size_mb": 1},
        # Only requests that opt in are cached, so the other tests see every call upstream.
        "litellm_settings": {
            "cache": True,
            "cache_params": {"type": "local", "mode": "default_off"},
        },
    }
    process = GatewayProcess(tmp_path_factory.mktemp("responses"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess, upstreams: Upstreams) -> Iterator[openai.OpenAI]:
    mark = gateway.log_mark()
    with openai.OpenAI(
        base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as sdk:
        yield sdk
    print(gateway.log_since(mark))


def _sent(upstreams: Upstreams, model: str) -> Any:
    """The body the upstream of ``model`` received last."""
    if model == CHAT:
        return upstreams.chat.last_request("/v1/chat/completions").body
    if model == CLAUDE:
        return upstreams.claude.requests[-1].body
    return upstreams.gemini.requests[-1].body


@pytest.mark.parametrize("model", PATHS)
def test_plain_response_validates_and_counts_usage(
    client: openai.OpenAI, upstreams: Upstreams, model: str
) -> None:
    upstreams.script(model, text="Forty-two.")
    raw = client.responses.with_raw_response.create(
        model=model,
        input="What is six times seven?",
        instructions="Be terse.",
        max_output_tokens=64,
    )
    response = raw.parse()
    assert_complete(response, no_extras=False)
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Forty-two."
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 8)
    assert response.usage.total_tokens == 28
    assert response.instructions == "Be terse." and response.max_output_tokens == 64
    assert raw.headers["x-gateway-model-group"] == model
    if model == NATIVE:
        sent = (upstreams.native_a.requests or upstreams.native_b.requests)[-1].body
        assert sent["input"] == "What is six times seven?" and sent["model"] == "gpt-5-mini"
        assert sent["instructions"] == "Be terse." and sent["max_output_tokens"] == 64
    elif model == CHAT:
        assert _sent(upstreams, CHAT)["messages"] == [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is six times seven?"},
        ]
        assert _sent(upstreams, CHAT)["max_tokens"] == 64


@pytest.mark.parametrize("model", PATHS)
def test_stream_has_the_event_sequence_and_final_response(
    client: openai.OpenAI, upstreams: Upstreams, model: str
) -> None:
    upstreams.script(model, text="Streaming works fine.")
    with client.responses.stream(model=model, input="Stream something") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[1] == "response.in_progress"
    assert kinds[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert kinds.index("response.output_item.added") < kinds.index("response.content_part.added")
    assert kinds.index("response.content_part.added") < kinds.index("response.output_text.delta")
    assert "response.output_text.done" in kinds and "response.output_item.done" in kinds
    assert final.output_text == "Streaming works fine."
    assert final.usage is not None and final.usage.output_tokens == 8
    assert_complete(final, no_extras=False)


@pytest.mark.parametrize("model", PATHS)
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_function_tool_round_trip(
    client: openai.OpenAI, upstreams: Upstreams, model: str, streamed: bool
) -> None:
    upstreams.script(model, call=True)
    question = [{"role": "user", "content": "Weather in Paris?"}]
    if streamed:
        with client.responses.stream(model=model, input=question, tools=[WEATHER_TOOL]) as stream:
            events = list(stream)
            first = stream.get_final_response()
        added = [e for e in events if e.type == "response.output_item.added"]
        done = [e for e in events if e.type == "response.output_item.done"]
        assert added[0].item.id == done[0].item.id  # one id from first event to last
        assert [e.type for e in events].count("response.function_call_arguments.done") == 1
    else:
        first = client.responses.create(model=model, input=question, tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    upstreams.script(model, text="It is sunny in Paris.")
    follow_up = [
        *question,
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24C"},
    ]
    second = client.responses.create(model=model, input=follow_up, tools=[WEATHER_TOOL])
    assert second.output_text == "It is sunny in Paris."
    if model == CHAT:
        messages = _sent(upstreams, CHAT)["messages"]
        assert messages[-1] == {
            "role": "tool",
            "tool_call_id": call.call_id,
            "content": "sunny, 24C",
        }
        assert messages[-2]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_previous_response_id_rebuilds_the_conversation_on_a_translated_provider(
    client: openai.OpenAI, upstreams: Upstreams, gateway: GatewayProcess
) -> None:
    previous = None
    for turn, answer in enumerate(["One.", "Two.", "Three."], start=1):
        upstreams.script(CHAT, text=answer)
        response = client.responses.create(
            model=CHAT, input=f"Turn {turn}", previous_response_id=previous
        )
        assert response.output_text == answer
        previous = response.id
    assert _sent(upstreams, CHAT)["messages"] == [
        {"role": "user", "content": "Turn 1"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "Turn 2"},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": "Turn 3"},
    ]
    assert previous is not None
    stored = client.responses.retrieve(previous)
    assert stored.id == previous and stored.output_text == "Three."
    items = client.responses.input_items.list(previous)
    assert [item.content for item in items.data] == ["Turn 3"]  # type: ignore[union-attr]
    with Admin(gateway) as admin:
        other_key = admin.generate_key(models=[CHAT])["key"]
    with openai.OpenAI(base_url=gateway.v1_url, api_key=other_key, max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(previous)
        with pytest.raises(openai.NotFoundError):
            other.responses.create(model=CHAT, input="Hi", previous_response_id=previous)
    client.responses.delete(previous)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(previous)


def test_previous_response_id_on_native_goes_to_the_deployment_that_issued_it(
    client: openai.OpenAI, upstreams: Upstreams
) -> None:
    upstreams.script(NATIVE, text="Native answer.")
    previous = None
    for turn in range(1, 4):
        response = client.responses.create(
            model=NATIVE, input=f"Turn {turn}", previous_response_id=previous
        )
        previous = response.id
    a, b = upstreams.native_a.requests, upstreams.native_b.requests
    assert len(a) + len(b) == 3
    first_server = (
        upstreams.native_a if a and a[0].body["input"] == "Turn 1" else upstreams.native_b
    )
    assert len(first_server.requests) == 3, "a follow-up left the deployment that issued its id"
    assert first_server.requests[2].body["previous_response_id"] is not None


def test_openai_upstream_without_responses_api_is_translated(
    client: openai.OpenAI, upstreams: Upstreams
) -> None:
    upstreams.legacy.script(Text(content="From chat.", prompt_tokens=5, completion_tokens=2))
    upstreams.legacy.script(Text(content="Again.", prompt_tokens=5, completion_tokens=2))
    assert client.responses.create(model=LEGACY, input="Hi").output_text == "From chat."
    assert client.responses.create(model=LEGACY, input="Hi").output_text == "Again."
    paths = [request.path for request in upstreams.legacy.requests]
    # The 404 is learnt once: the second request goes to chat completions straight away.
    assert paths == ["/v1/responses", "/v1/chat/completions", "/v1/chat/completions"]


def test_a_failing_primary_falls_back(client: openai.OpenAI, upstreams: Upstreams) -> None:
    upstreams.flaky.script(Error(500, "server_error", "boom"))
    upstreams.chat.script(Text(content="Rescued.", prompt_tokens=3, completion_tokens=1))
    raw = client.responses.with_raw_response.create(model=FLAKY, input="Hi")
    assert raw.parse().output_text == "Rescued."
    assert raw.headers["x-gateway-fallbacks"] == CHAT


def test_rate_limited_everywhere_ends_the_stream_with_response_failed(
    client: openai.OpenAI, upstreams: Upstreams
) -> None:
    with client.responses.stream(model=LIMITED, input="Hi") as stream:
        events = list(stream)
    assert [e.type for e in events] == ["response.created", "response.failed"]
    failed = events[-1]
    assert failed.response.status == "failed"  # type: ignore[union-attr]
    assert failed.response.error.code == "rate_limit_exceeded"  # type: ignore[union-attr]


def test_bad_input_gets_a_clear_4xx(
    client: openai.OpenAI, upstreams: Upstreams, gateway: GatewayProcess
) -> None:
    with pytest.raises(openai.BadRequestError) as wrong_type:
        client.responses.create(model=CHAT, input=42)  # type: ignore[arg-type]
    assert "'input'" in wrong_type.value.message
    with pytest.raises(openai.BadRequestError) as hosted_tool:
        client.responses.create(model=CHAT, input="Hi", tools=[{"type": "web_search"}])
    assert "tools[0]" in hosted_tool.value.message and "web_search" in hosted_tool.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="Hi")
    huge = httpx.post(
        gateway.v1_url + "/responses",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        content=b'{"model": "chat", "input": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        timeout=30,
    )
    assert huge.status_code == 413 and "error" in huge.json()
    # A native deployment takes every tool type as it is.
    upstreams.script(NATIVE, text="ok")
    client.responses.create(model=NATIVE, input="Hi", tools=[{"type": "web_search"}])


def test_websocket_upgrade_is_refused_at_once(gateway: GatewayProcess) -> None:
    url = gateway.base_url.replace("http://", "ws://") + "/v1/responses"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": f"Bearer {MASTER_KEY}"}, open_timeout=5)
    assert refused.value.response.status_code == 405


def test_agents_sdk_runs_an_agent_with_a_function_tool(
    gateway: GatewayProcess, upstreams: Upstreams
) -> None:
    upstreams.chat.script(Call(name="get_weather", arguments={"city": "Paris"}, id="call_a1"))
    upstreams.chat.script(Text(content="Paris is sunny.", prompt_tokens=30, completion_tokens=5))

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    client = openai.AsyncOpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0)
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model=CHAT, openai_client=client),
    )
    agents.set_tracing_disabled(True)
    result = agents.Runner.run_sync(agent, "Weather in Paris?")
    assert result.final_output == "Paris is sunny."
    last = upstreams.chat.last_request("/v1/chat/completions").body["messages"]
    assert last[-1]["role"] == "tool" and "sunny in Paris" in last[-1]["content"]


USE_CACHE = {"cache": {"use-cache": True}}


@pytest.mark.parametrize("model", [CHAT, NATIVE])
def test_a_cached_response_is_served_again_under_a_new_id_and_can_be_followed_up(
    client: openai.OpenAI, upstreams: Upstreams, gateway: GatewayProcess, model: str
) -> None:
    question = f"Cache me on {model}"
    upstreams.script(model, text="Cached answer.")
    first = client.responses.with_raw_response.create(
        model=model, input=question, extra_body=USE_CACHE
    )
    upstream_calls = sum(server.calls() for server in upstreams.all)
    second = client.responses.with_raw_response.create(
        model=model, input=question, extra_body=USE_CACHE
    )
    assert first.headers["x-gateway-cache"] == "miss"
    assert second.headers["x-gateway-cache"] == "hit"
    assert sum(server.calls() for server in upstreams.all) == upstream_calls
    cached, original = second.parse(), first.parse()
    assert cached.id != original.id and cached.id.startswith("resp_")
    assert cached.output_text == original.output_text == "Cached answer."
    assert cached.usage == original.usage

    # A streaming caller gets the same answer as a well-formed event stream.
    with client.responses.stream(model=model, input=question, extra_body=USE_CACHE) as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert streamed.output_text == "Cached answer." and streamed.id != cached.id
    assert sum(server.calls() for server in upstreams.all) == upstream_calls

    # The hit was stored: a follow-up carries the whole conversation to the upstream.
    upstreams.script(model, text="Followed up.")
    follow = client.responses.create(model=model, previous_response_id=cached.id, input="And?")
    assert follow.output_text == "Followed up."
    if model == CHAT:
        sent = [m["content"] for m in _sent(upstreams, CHAT)["messages"]]
        assert sent == [question, "Cached answer.", "And?"]
    else:
        sent = [
            r.body
            for server in (upstreams.native_a, upstreams.native_b)
            for r in server.requests_to("/v1/responses")
            if "And?" in json.dumps(r.body["input"])
        ]
        assert len(sent) == 1 and "previous_response_id" not in sent[0]
        assert json.dumps(sent[0]["input"]).count("Cached answer.") == 1
    hit = second.headers["x-request-id"]
    path = gateway.workdir / "gateway-data" / "spend.sqlite3"
    assert _ledger_rows(gateway, [hit])[hit][:2] == ("responses", 200)
    with sqlite3.connect(str(path)) as db:
        [(cache_hit, cost)] = db.execute(
            "SELECT cache_hit, cost_usd FROM spend_log WHERE request_id = ?", (hit,)
        ).fetchall()
    assert (cache_hit, cost) == (1, 0)


def test_each_call_gets_a_ledger_row(
    client: openai.OpenAI, upstreams: Upstreams, gateway: GatewayProcess
) -> None:
    upstreams.script(CHAT, text="Metered.")
    first = client.responses.with_raw_response.create(model=CHAT, input="Hi")
    upstreams.script(NATIVE, text="Metered too.")
    with client.responses.with_streaming_response.create(
        model=NATIVE, input="Hi", stream=True
    ) as streamed:
        streamed.read()
    ids = [first.headers["x-request-id"], streamed.headers["x-request-id"]]
    rows = _ledger_rows(gateway, ids)
    assert rows[ids[0]] == ("responses", 200, 0, 20, 8)
    assert rows[ids[1]] == ("responses", 200, 1, 20, 8)


def _ledger_rows(gateway: GatewayProcess, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    path = gateway.workdir / "gateway-data" / "spend.sqlite3"
    deadline = time.monotonic() + 20
    found: dict[str, tuple[Any, ...]] = {}
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(str(path)) as db:
                rows = db.execute(
                    "SELECT request_id, call_type, status, stream, prompt_tokens, "
                    "completion_tokens FROM spend_log"
                ).fetchall()
        except sqlite3.OperationalError:
            rows = []
        found = {row[0]: tuple(row[1:]) for row in rows if row[0] in ids}
        if len(found) == len(ids):
            break
        time.sleep(0.1)
    return found
