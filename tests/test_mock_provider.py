"""The ``mock`` provider drives real clients: tool calls, JSON that fits a schema, ``n``,
embeddings of any ``dimensions`` as floats or base64, and the Responses API.

One gateway for the module, serving the embedded defaults' mock models (``mock-agent``
calls the first tool it is offered) and a mock with scripted tool calls. The callers
are the official openai SDK (Python and Node) and the OpenAI Agents SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import agents
import jsonschema
import openai
import pydantic
import pytest

from gateway.config.defaults import EMBEDDED_CONFIG
from support.configs import MASTER_KEY
from support.gateway_process import GatewayProcess

NODE_CLIENTS = Path(__file__).parent / "support" / "node"
SCRIPTED = "mock-scripted"
BOOKING_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 3, "maximum": 10},
        "when": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2},
        "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
    },
    "required": ["city", "unit", "days", "when", "tags", "note"],
    "additionalProperties": False,
    "$defs": {"tag": {"type": "object", "properties": {"label": {"type": "string"}}}},
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "plan_trip", "description": "Plan.", "parameters": BOOKING_SCHEMA},
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
]
USER = [{"role": "user", "content": "Plan a trip to Paris"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    scripted = {
        "model_name": SCRIPTED,
        "litellm_params": {
            "model": "mock/scripted",
            "mock_stream_chunks": 4,
            "mock_tool_calls": [
                {
                    "id": "call_fixed",
                    "function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
                }
            ],
        },
    }
    config = {"model_list": [*EMBEDDED_CONFIG["model_list"], scripted]}
    process = GatewayProcess(tmp_path_factory.mktemp("mock"), config, master_key=MASTER_KEY)
    with process.start():
        yield process


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    mark = gateway.log_mark()
    with openai.OpenAI(
        base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0, timeout=30
    ) as sdk:
        yield sdk
    print(gateway.log_since(mark))


def test_first_tool_mode_calls_the_offered_tool_with_arguments_that_fit(
    client: openai.OpenAI,
) -> None:
    completion = client.chat.completions.create(model="mock-agent", messages=USER, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "plan_trip"
    jsonschema.validate(json.loads(call.function.arguments), BOOKING_SCHEMA)

    # Given the tool's result, it answers with text that echoes it.
    turn = [
        *USER,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "booked for 3 days"},
    ]
    answer = client.chat.completions.create(model="mock-agent", messages=turn, tools=TOOLS)
    assert answer.choices[0].finish_reason == "stop"
    assert "booked for 3 days" in (answer.choices[0].message.content or "")


def test_tool_choice_is_followed(client: openai.OpenAI) -> None:
    named = client.chat.completions.create(
        model="mock-agent",
        messages=USER,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert [c.function.name for c in named.choices[0].message.tool_calls or []] == ["get_weather"]
    none = client.chat.completions.create(
        model="mock-agent", messages=USER, tools=TOOLS, tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].message.content
    plain = client.chat.completions.create(model="mock-agent", messages=USER)
    assert plain.choices[0].finish_reason == "stop"


def test_scripted_tool_calls_are_answered_as_configured(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=SCRIPTED, messages=USER, tools=TOOLS)
    [call] = completion.choices[0].message.tool_calls or []
    assert call.id == "call_fixed"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}


def test_a_streamed_tool_call_arrives_whole(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(model=SCRIPTED, messages=USER, tools=TOOLS) as stream:
        chunks = [event for event in stream if event.type == "chunk"]
        final = stream.get_final_completion()
    assert len(chunks) > 3  # the arguments came in pieces
    [call] = final.choices[0].message.tool_calls or []
    assert call.id == "call_fixed"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    assert final.choices[0].finish_reason == "tool_calls"


class Trip(pydantic.BaseModel):
    city: str
    days: int
    stops: list[str]
    budget: float | None


def test_json_schema_answers_parse_into_the_callers_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="mock-chat", messages=USER, response_format=Trip
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Trip)
    assert len(parsed.stops) >= 1

    whole = client.chat.completions.create(
        model="mock-chat", messages=USER, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(whole.choices[0].message.content or ""), dict)


def test_n_answers_that_many_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="mock-chat", messages=USER, n=3)
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert len({choice.message.content for choice in completion.choices}) == 1
    stream = client.chat.completions.create(model="mock-chat", messages=USER, n=2, stream=True)
    texts = ["", ""]
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts[0] and texts[0] == texts[1]


def test_embeddings_honour_dimensions_and_base64(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(
        model="mock-embedding", input=["a", "b"], dimensions=16, encoding_format="float"
    )
    assert [len(item.embedding) for item in floats.data] == [16, 16]
    raw = client.embeddings.with_raw_response.create(
        model="mock-embedding", input=["a", "b"], dimensions=16, encoding_format="base64"
    )
    assert all(isinstance(item["embedding"], str) for item in json.loads(raw.text)["data"])
    # The SDK's default call asks for base64 and decodes it into the same vectors.
    decoded = client.embeddings.create(model="mock-embedding", input=["a", "b"], dimensions=16)
    for got, want in zip(decoded.data, floats.data, strict=True):
        assert got.embedding == pytest.approx(want.embedding, rel=1e-6)


def test_the_responses_api_gets_tool_calls_from_the_mock(client: openai.OpenAI) -> None:
    tool = {"type": "function", "name": "plan_trip", "parameters": BOOKING_SCHEMA}
    with client.responses.stream(model="mock-agent", input="Plan it", tools=[tool]) as stream:
        final = stream.get_final_response()
    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.name == "plan_trip"
    jsonschema.validate(json.loads(call.arguments), BOOKING_SCHEMA)
    answer = client.responses.create(
        model="mock-agent",
        previous_response_id=final.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "done"}],
        tools=[tool],
    )
    assert answer.status == "completed"
    assert "done" in answer.output_text


def test_the_agents_sdk_runs_a_tool_loop_against_the_mock(gateway: GatewayProcess) -> None:
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    sdk = openai.AsyncOpenAI(base_url=gateway.v1_url, api_key=MASTER_KEY, max_retries=0)
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model="mock-agent", openai_client=sdk),
    )
    agents.set_tracing_disabled(True)
    result = agents.Runner.run_sync(agent, "Weather in Paris?")
    assert calls == ["mock"]  # the schema's string, filled in by the mock
    assert "sunny in mock" in result.final_output


@pytest.fixture(scope="module")
def node_clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official Node SDK, installed from the npm registry into a scratch directory."""
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "node and npm are needed for the Node SDK tests"
    target = tmp_path_factory.mktemp("node")
    for name in ("package.json", "embeddings.mjs"):
        shutil.copy(NODE_CLIENTS / name, target / name)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent"],
        cwd=target,
        check=True,
        timeout=300,
        capture_output=True,
    )
    return target


def test_the_node_sdks_default_embeddings_call_gets_the_right_vectors(
    gateway: GatewayProcess, client: openai.OpenAI, node_clients: Path
) -> None:
    run = subprocess.run(
        ["node", "embeddings.mjs", "mock-embedding", "a", "b"],
        cwd=node_clients,
        env={"PATH": os.environ["PATH"], "GATEWAY_URL": gateway.v1_url, "GATEWAY_KEY": MASTER_KEY},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    vectors = json.loads(run.stdout)
    floats = client.embeddings.create(
        model="mock-embedding", input=["a", "b"], encoding_format="float"
    )
    for got, want in zip(vectors, floats.data, strict=True):
        assert got == pytest.approx(want.embedding, rel=1e-6)


@pytest.mark.parametrize(
    ("call", "param"),
    [
        ({"n": 500}, "n"),
        ({"n": "3"}, "n"),
        ({"dimensions": 10**9}, "dimensions"),
        ({"dimensions": 0}, "dimensions"),
    ],
)
def test_out_of_range_n_and_dimensions_are_a_400_naming_them(
    client: openai.OpenAI, call: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        if param == "n":
            client.chat.completions.create(model="mock-chat", messages=USER, extra_body=call)
        else:
            client.embeddings.create(model="mock-embedding", input="a", extra_body=call)
    assert f"'{param}'" in refused.value.message
