"""OpenAI's ``reasoning_effort`` as Anthropic's thinking settings.

Two kinds of model: those that take extended thinking with a token budget
(``thinking: {type: enabled, budget_tokens}``, Claude 3.7 to 4.5), and those that
think adaptively at an effort level (``thinking: {type: adaptive}`` with
``output_config.effort``; Claude 4.6 and later, which refuse a budget from Opus
4.7 on). The kind comes from ``model_info.thinking_mode`` (``budget`` or
``adaptive``) when set, else from the model's version in its name.

Budgets are LiteLLM's defaults (low 1024, medium 2048, high 4096), overridden
by the same environment variables (``DEFAULT_REASONING_EFFORT_LOW_THINKING_BUDGET``
and its siblings); Anthropic's floor is 1024, so ``minimal`` gets that. ``none``
sends no thinking at all. ``max_tokens`` must exceed the budget: when it does
not, the budget is added to it, so the answer keeps the room the caller asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.providers.translate import TranslationError

ThinkingMode = Literal["budget", "adaptive"]
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
MIN_BUDGET = 1024
DEFAULT_BUDGETS = {
    "minimal": MIN_BUDGET,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 16384,
}
BUDGET_ENV = "DEFAULT_REASONING_EFFORT_{}_THINKING_BUDGET"
# Adaptive models' effort levels.
ADAPTIVE_EFFORT = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "max",
    "max": "max",
}
# claude-opus-4-7, claude-sonnet-4-5-20250929, claude-haiku-5, claude-3-7-sonnet-...
_VERSION = re.compile(
    r"claude-(?:(?:opus|sonnet|haiku|fable|mythos)-(\d+)(?:[-.](\d{1,2}))?(?!\d)"
    r"|(\d+)(?:[-.](\d{1,2}))?-(?:opus|sonnet|haiku))"
)
ADAPTIVE_FROM = (4, 6)


@dataclass(frozen=True, slots=True)
class Thinking:
    """How a deployment thinks: its mode and, for budgets, the budget per effort."""

    mode: ThinkingMode
    budgets: Mapping[str, int]

    @classmethod
    def for_model(
        cls, model: str, configured: ThinkingMode | None, env: Mapping[str, str]
    ) -> Thinking:
        budgets = dict(DEFAULT_BUDGETS)
        for effort in budgets:
            raw = env.get(BUDGET_ENV.format(effort.upper()))
            if raw and raw.strip().isdigit():
                budgets[effort] = max(MIN_BUDGET, int(raw))
        return cls(configured or mode_of(model), budgets)

    def apply(self, effort: Any, request: dict[str, Any]) -> None:
        """Set ``request``'s thinking for ``reasoning_effort`` ``effort``."""
        if effort not in EFFORTS:
            raise TranslationError(
                f"reasoning_effort: {effort!r} is not one of {', '.join(EFFORTS)}",
                param="reasoning_effort",
            )
        if effort == "none":
            return
        if self.mode == "adaptive":
            request["thinking"] = {"type": "adaptive"}
            request["output_config"] = {"effort": ADAPTIVE_EFFORT[effort]}
            return
        budget = self.budgets[effort]
        request["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if request["max_tokens"] <= budget:
            request["max_tokens"] += budget


def mode_of(model: str) -> ThinkingMode:
    """``adaptive`` for Claude 4.6 and later (by the version in the name), else ``budget``."""
    found = _VERSION.search(model)
    if found is None:
        return "budget"
    major = found.group(1) or found.group(3)
    minor = found.group(2) or found.group(4) or "0"
    return "adaptive" if (int(major), int(minor)) >= ADAPTIVE_FROM else "budget"
