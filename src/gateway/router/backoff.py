"""How long to wait before retrying when no other deployment can take the retry.

Exponential backoff with jitter (tenacity's strategy), never shorter than the
upstream's ``Retry-After``. The router decides *whether* to retry; this module
only decides *how long* to wait.
"""

from __future__ import annotations

from tenacity import RetryCallState, wait_exponential_jitter

INITIAL_S = 0.5
MAX_S = 8.0

_strategy = wait_exponential_jitter(initial=INITIAL_S, max=MAX_S, jitter=INITIAL_S)


def backoff_seconds(retry_number: int, retry_after: float | None) -> float:
    """The wait before retry number ``retry_number`` (1-based)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = retry_number
    wait = float(_strategy(state))
    if retry_after is not None:
        wait = max(wait, retry_after)
    return wait
