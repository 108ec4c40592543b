"""What the mock builds from a request's schema: values that validate, and never a huge or
failing answer for a schema that is odd or hostile."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from gateway.providers.mock_content import instance_of, tool_calls_for

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "integer", "exclusiveMinimum": 3}}},
    {"type": "number", "minimum": 2.5, "maximum": 7},
    {"type": "integer", "exclusiveMaximum": 0},
    {"type": ["null", "string"], "minLength": 3, "maxLength": 5},
    {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
    {
        "type": "array",
        "items": {"$ref": "#/definitions/x"},
        "minItems": 3,
        "definitions": {"x": {"enum": ["p", "q"]}},
    },
    {"type": "string", "format": "email"},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_instances_validate_against_their_schema(schema: dict[str, Any]) -> None:
    jsonschema.validate(instance_of(schema), schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": "not a mapping"},
        {"$defs": "x", "$ref": "#/$defs/missing"},
        {"type": "array", "minItems": "many"},
        {"allOf": []},
    ],
)
def test_odd_schemas_never_fail(schema: dict[str, Any]) -> None:
    orjson.dumps(instance_of(schema))


def test_a_hostile_schema_gets_a_bounded_answer() -> None:
    deep: dict[str, Any] = {"type": "string", "minLength": 10**9}
    for _ in range(12):
        deep = {"type": "array", "minItems": 10**9, "items": deep}
    assert len(orjson.dumps(instance_of(deep))) < 2_000_000


def test_malformed_tools_are_passed_over_not_failed_on() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            "junk",
            {"type": "function", "function": "junk"},
            {"type": "function", "function": {"name": "ok", "parameters": "junk"}},
        ],
        "tool_choice": {"type": "function", "function": "junk"},
    }
    assert tool_calls_for(body, "first_tool") is None  # the named choice matches nothing
    body.pop("tool_choice")
    [call] = tool_calls_for(body, "first_tool") or []
    assert call["function"] == {"name": "ok", "arguments": "{}"}
