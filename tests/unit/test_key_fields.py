"""The key and team field models: only the fields present, each checked with the message
and ``param`` the admin API answered before they were models, and described as JSON Schema."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.api.admin.key_fields import KeyChanges, TeamChanges, read_changes
from gateway.errors import InvalidRequest


def refused(model: Any, body: dict[str, Any], **options: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        read_changes(model, body, **options)
    return caught.value


def test_only_the_fields_present_are_changes() -> None:
    changes = read_changes(
        KeyChanges,
        {"key_alias": "svc", "models": ["a", "b", "a"], "max_budget": 5, "duration": "1h"},
    )
    assert changes == {
        "key_alias": "svc",
        "models": ["a", "b"],
        "max_budget": 5.0,
        "duration": 3600.0,
    }
    assert read_changes(KeyChanges, {}) == {}
    # null clears where clearing means something; metadata and models become empty.
    cleared = read_changes(KeyChanges, {"max_budget": None, "metadata": None, "models": None})
    assert cleared == {"max_budget": None, "metadata": {}, "models": []}
    assert read_changes(KeyChanges, {"key_type": "default"}) == {"key_type": "llm_api"}
    assert read_changes(TeamChanges, {"team_alias": "ops", "blocked": True}) == {
        "team_alias": "ops",
        "blocked": True,
    }


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        ({"models": "chat"}, "models", "expected a list of model names"),
        ({"max_budget": "ten"}, "max_budget", "expected a number (USD) or null"),
        ({"max_budget": -1}, "max_budget", "must be zero or more"),
        ({"max_budget": float("inf")}, "max_budget", "must be zero or more"),
        ({"rpm_limit": 1.5}, "rpm_limit", "whole number"),
        ({"rpm_limit": "10"}, "rpm_limit", "whole number"),  # never read from a string
        ({"tpm_limit": True}, "tpm_limit", "whole number"),
        ({"budget_duration": "soon"}, "budget_duration", "not a duration"),
        ({"duration": "30x"}, "duration", "'duration'"),
        ({"expires": 12}, "expires", "ISO 8601"),
        ({"duration": "1h", "expires": "1h"}, "expires", "not both"),
        ({"metadata": [1]}, "metadata", "expected a JSON object"),
        ({"metadata": {"x": "y" * 20_000}}, "metadata", "larger than"),
        ({"blocked": "yes"}, "blocked", "expected true or false"),
        ({"key_type": "root"}, "key_type", "expected one of default"),
        ({"key_alias": 7}, "key_alias", "non-empty string or null"),
        ({"key_alias": "a\nb"}, "key_alias", "printable"),
        ({"tags": ["a"]}, "tags", "not supported by this gateway"),
        (
            {"colour": "blue"},
            "colour",
            "Unknown field 'colour'. Accepted: blocked, budget_duration",
        ),
    ],
)
def test_each_wrong_field_is_named(body: dict[str, Any], param: str, needle: str) -> None:
    error = refused(KeyChanges, body)
    assert error.param == param
    assert needle in error.message, error.message
    assert error.http_status() == 400


def test_litellm_fields_not_implemented_pass_while_empty() -> None:
    assert read_changes(KeyChanges, {"tags": [], "guardrails": None, "soft_budget": 0}) == {}
    assert refused(TeamChanges, {"key_alias": "x"}).param == "key_alias"


def test_identifiers_are_left_to_the_handler() -> None:
    assert read_changes(
        KeyChanges, {"key": "sk-x", "blocked": True}, identifiers=frozenset({"key"})
    ) == {"blocked": True}
    message = refused(KeyChanges, {"key": "sk-x"}).message
    assert message.startswith("Unknown field 'key'.")


def test_the_models_describe_the_bodies() -> None:
    schema = KeyChanges.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["properties"]["max_budget"]["type"] == ["number", "null"]
    assert schema["properties"]["models"]["items"] == {"type": "string"}
    assert schema["properties"]["rpm_limit"]["type"] == ["integer", "null"]
    assert "tags" in schema["properties"]
    assert "required" not in schema
