"""Automatic prompt-cache breakpoints for Anthropic requests that carry none.

A deployment's ``litellm_params.cache_control_injection_points`` (LiteLLM's setting)
names where ``cache_control`` goes: ``{location: message, role: system}`` marks the
system prompt, ``role: user`` (or ``assistant``) every message of that role, and
``index: -1`` (any index) one message. The marker lands on the last content block
of each target, as Anthropic reads a breakpoint: cache everything up to here.

A request that already has a breakpoint anywhere is left as the client made it (its
placement is deliberate), and no request gets more than Anthropic's four. The body
is copied where it is marked, never changed in place: the caller's body is reused by
the next attempt, which may go to another deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_BREAKPOINTS = 4


@dataclass(frozen=True, slots=True)
class CachePoint:
    role: str | None = None  # "system", "user" or "assistant"
    index: int | None = None  # a message's position (negative from the end)
    ttl: str | None = None  # "5m" or "1h"; None: Anthropic's default (5 minutes)

    @property
    def control(self) -> dict[str, str]:
        control = {"type": "ephemeral"}
        if self.ttl is not None:
            control["ttl"] = self.ttl
        return control


def with_breakpoints(request: dict[str, Any], points: Sequence[CachePoint]) -> dict[str, Any]:
    """``request`` (a Messages API body) with the points' breakpoints, if it had none."""
    if not points or _has_breakpoint(request):
        return request
    marked = dict(request)
    messages = list(marked.get("messages") or [])
    marked["messages"] = messages
    left = MAX_BREAKPOINTS
    for point in points:
        if left == 0:
            break
        if point.role == "system":
            system = _marked_system(marked.get("system"), point.control)
            if system is not None:
                marked["system"] = system
                left -= 1
            continue
        for position in _targets(messages, point):
            if left == 0:
                break
            message = _marked_message(messages[position], point.control)
            if message is not None:
                messages[position] = message
                left -= 1
    return marked


def _targets(messages: list[Any], point: CachePoint) -> list[int]:
    if point.index is not None:
        position = point.index + len(messages) if point.index < 0 else point.index
        return [position] if 0 <= position < len(messages) else []
    return [
        i
        for i, message in enumerate(messages)
        if isinstance(message, dict) and message.get("role") == point.role
    ]


def _marked_system(system: Any, control: dict[str, str]) -> list[dict[str, Any]] | None:
    if isinstance(system, str) and system:
        return [{"type": "text", "text": system, "cache_control": control}]
    if isinstance(system, list) and system and isinstance(system[-1], dict):
        return [*system[:-1], {**system[-1], "cache_control": control}]
    return None


def _marked_message(message: Any, control: dict[str, str]) -> dict[str, Any] | None:
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str) and content:
        blocks = [{"type": "text", "text": content, "cache_control": control}]
    elif isinstance(content, list) and content and isinstance(content[-1], dict):
        last = content[-1]
        if last.get("type") in ("thinking", "redacted_thinking"):
            return None  # Anthropic takes no breakpoint on a thinking block
        blocks = [*content[:-1], {**last, "cache_control": control}]
    else:
        return None
    return {**message, "content": blocks}


def _has_breakpoint(request: dict[str, Any]) -> bool:
    system = request.get("system")
    if isinstance(system, list) and any(_marks(block) for block in system):
        return True
    if any(_marks(tool) for tool in request.get("tools") or []):
        return True
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(_marks(block) for block in content):
            return True
    return False


def _marks(block: Any) -> bool:
    return isinstance(block, dict) and "cache_control" in block
