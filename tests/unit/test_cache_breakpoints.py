"""Automatic cache breakpoints: where they land, when they are left off, and the four-cap."""

from __future__ import annotations

import copy
from typing import Any

from gateway.providers.anthropic_cache_points import CachePoint, with_breakpoints

EPHEMERAL = {"type": "ephemeral"}


def request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "system": "You are a careful reviewer.",
        "messages": [
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": [{"type": "text", "text": "First answer"}]},
            {"role": "user", "content": [{"type": "text", "text": "Second question"}]},
        ],
        **extra,
    }


def test_the_system_prompt_and_the_last_message_are_marked_on_a_copy() -> None:
    original = request()
    before = copy.deepcopy(original)
    marked = with_breakpoints(original, [CachePoint(role="system"), CachePoint(index=-1)])
    assert original == before, "the caller's body is not changed"
    assert marked["system"] == [
        {"type": "text", "text": "You are a careful reviewer.", "cache_control": EPHEMERAL}
    ]
    assert marked["messages"][2]["content"] == [
        {"type": "text", "text": "Second question", "cache_control": EPHEMERAL}
    ]
    assert marked["messages"][:2] == original["messages"][:2]


def test_a_role_marks_each_of_its_messages_up_to_four_breakpoints_in_all() -> None:
    many = request(messages=[{"role": "user", "content": f"q{i}"} for i in range(6)])
    marked = with_breakpoints(many, [CachePoint(role="system", ttl="1h"), CachePoint(role="user")])
    assert marked["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    marks = [
        m
        for m in marked["messages"]
        if isinstance(m["content"], list) and "cache_control" in m["content"][-1]
    ]
    assert len(marks) == 3, "Anthropic takes at most four breakpoints"


def test_a_request_with_its_own_breakpoint_is_left_as_it_is() -> None:
    own = request(
        tools=[{"name": "read", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}]
    )
    assert with_breakpoints(own, [CachePoint(role="system")]) is own


def test_a_thinking_block_or_an_index_out_of_range_gets_no_breakpoint() -> None:
    thinking = {"type": "thinking", "thinking": "...", "signature": "sig"}
    body = request(messages=[{"role": "assistant", "content": [thinking]}])
    marked = with_breakpoints(body, [CachePoint(index=0), CachePoint(index=5)])
    assert marked["messages"] == body["messages"]
