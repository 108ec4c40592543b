"""What the ``mock`` provider says: tool calls and JSON that fit the request.

Agent frameworks loop on tool calls and structured output, so a mock that only
echoes text cannot drive one. These helpers read the request the way a model
would (the tools it offers, ``tool_choice``, ``response_format``) and build an
answer that the caller's own validation accepts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

# ``mock_tool_calls: first_tool``: call the tool the request offers (or names in
# ``tool_choice``) with arguments built from its parameters schema.
FIRST_TOOL = "first_tool"

# JSON Schema nesting the instance builder follows before it answers null, and the most
# items it puts in one array (so a request's schema cannot make the answer huge).
_MAX_DEPTH = 16
_MAX_ITEMS = 8
# The most values (of any kind) in one instance, and the longest string.
_MAX_VALUES = 1000
_MAX_STRING = 1024


def tool_calls_for(body: Mapping[str, Any], setting: str | list[Any] | None) -> list[Any] | None:
    """The tool calls to answer with, or None to answer with text.

    A model calls a tool when it is offered one and has not just been given a
    tool's result; so does the mock, which lets an agent loop end: call, result,
    then a text answer.
    """
    if setting is None:
        return None
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if choice == "none" or _last_role(body) == "tool":
        return None
    if isinstance(setting, list):
        return [_complete_call(call) for call in setting]
    tool = _chosen_tool(tools, choice)
    if tool is None:
        return None
    parameters = tool["function"].get("parameters")
    arguments = instance_of(parameters if isinstance(parameters, dict) else {"type": "object"})
    function = tool["function"]
    return [_call(str(function.get("name", "")), orjson.dumps(arguments).decode())]


def json_answer(body: Mapping[str, Any], text: str) -> str | None:
    """The JSON text a ``response_format`` asks for, or None for plain text."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return orjson.dumps({"answer": text}).decode()
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        value = instance_of(schema if isinstance(schema, dict) else {"type": "object"})
        return orjson.dumps(value).decode()
    return None


def instance_of(schema: Mapping[str, Any]) -> Any:
    """A value that validates against ``schema`` (the JSON Schema subset tools use)."""
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update(found)
    return _Builder(defs).instance(schema, 0)


class _Builder:
    """Builds one instance, within a bound on the values it makes in all."""

    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.left = _MAX_VALUES

    def instance(self, schema: Any, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            return None
        return _instance(schema, self, depth)


def _instance(schema: Any, builder: _Builder, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    defs = builder.defs
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return builder.instance(defs.get(ref.rsplit("/", 1)[-1]), depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return builder.instance(_first_not_null(options), depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {str(name): builder.instance(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        least = schema.get("minItems")
        # One item unless the schema demands more (bounded: a request cannot make it huge).
        count = min(least, _MAX_ITEMS) if isinstance(least, int) and least > 1 else 1
        return [builder.instance(schema.get("items"), depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return _number(schema, 1)
    if kind == "number":
        return float(_number(schema, 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "mock"


def _string(schema: Mapping[str, Any]) -> str:
    formats = {
        "date-time": "2026-01-01T00:00:00Z",
        "date": "2026-01-01",
        "time": "00:00:00Z",
        "email": "mock@example.com",
        "uri": "https://example.com/mock",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    value = formats.get(str(schema.get("format")), "mock")
    low = schema.get("minLength")
    if isinstance(low, int) and len(value) < low:
        value = value + "x" * (min(low, _MAX_STRING) - len(value))
    high = schema.get("maxLength")
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    return value


def _number(schema: Mapping[str, Any], default: int) -> int:
    value = default
    minimum, maximum = _bound(schema, "minimum"), _bound(schema, "maximum")
    above, below = _bound(schema, "exclusiveMinimum"), _bound(schema, "exclusiveMaximum")
    if minimum is not None and value < minimum:
        value = math.ceil(minimum)
    if above is not None and value <= above:
        value = math.floor(above) + 1
    if maximum is not None and value > maximum:
        value = math.floor(maximum)
    if below is not None and value >= below:
        value = math.ceil(below) - 1
    return value


def _bound(schema: Mapping[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first_not_null(options: list[Any]) -> Any:
    for option in options:
        if not (isinstance(option, dict) and option.get("type") == "null"):
            return option
    return options[0]


def _chosen_tool(tools: list[Any], choice: Any) -> dict[str, Any] | None:
    functions = [
        tool for tool in tools if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    ]
    if isinstance(choice, dict):
        chosen = choice.get("function")
        name = chosen.get("name") if isinstance(chosen, dict) else None
        named = [tool for tool in functions if tool["function"].get("name") == name]
        return named[0] if named else None
    return functions[0] if functions else None


def _complete_call(call: Any) -> Any:
    """A configured call in OpenAI's shape, with the id and type a caller expects."""
    if not isinstance(call, dict):
        return call
    function = call.get("function") or {"name": call.get("name"), "arguments": "{}"}
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    return _call(str(function.get("name", "")), arguments, call.get("id"))


def _call(name: str, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    return {
        "id": call_id or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _last_role(body: Mapping[str, Any]) -> Any:
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return messages[-1].get("role")
    return None
