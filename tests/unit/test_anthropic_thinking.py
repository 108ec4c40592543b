"""Which Anthropic models think adaptively, read from their names."""

from __future__ import annotations

import pytest

from gateway.providers.anthropic_thinking import Thinking, mode_of


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("claude-3-7-sonnet-20250219", "budget"),
        ("claude-sonnet-4-20250514", "budget"),
        ("claude-opus-4-1-20250805", "budget"),
        ("claude-sonnet-4-5-20250929", "budget"),
        ("claude-sonnet-4-6", "adaptive"),
        ("claude-opus-4-7", "adaptive"),
        ("claude-opus-5-5", "adaptive"),
        ("us.anthropic.claude-haiku-5-5-v1:0", "adaptive"),
        ("some-fine-tune", "budget"),
    ],
)
def test_the_models_version_decides_its_thinking_mode(model: str, mode: str) -> None:
    assert mode_of(model) == mode


def test_configured_mode_and_budget_environment_win() -> None:
    thinking = Thinking.for_model(
        "claude-sonnet-4-5", "adaptive", {"DEFAULT_REASONING_EFFORT_HIGH_THINKING_BUDGET": "9000"}
    )
    assert thinking.mode == "adaptive" and thinking.budgets["high"] == 9000
    floor = Thinking.for_model("x", None, {"DEFAULT_REASONING_EFFORT_LOW_THINKING_BUDGET": "5"})
    assert floor.budgets["low"] == 1024  # Anthropic's minimum budget
