"""The pre-call context-window check (``enable_pre_call_checks``).

A cheap estimate (serialized message bytes / 4, computed once per request) is
compared with each deployment's ``model_info.max_input_tokens``. No exact
tokenizer runs on the hot path: a deployment is skipped only when the estimate
clearly exceeds its window; near the limit the upstream decides, and its
context-window error still reaches ``context_window_fallbacks``.
"""

from __future__ import annotations

from typing import Any

import orjson

BYTES_PER_TOKEN = 4
# Skip only when the estimate is this far past the window.
CLEAR_MARGIN = 1.10


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    prompt = body.get("messages")
    if prompt is None:
        prompt = body.get("prompt") or body.get("input")
    try:
        size = len(orjson.dumps(prompt))
    except TypeError:
        return 0
    return size // BYTES_PER_TOKEN


def clearly_too_long(estimate: int, max_input_tokens: int | None) -> bool:
    return max_input_tokens is not None and estimate > max_input_tokens * CLEAR_MARGIN
