"""The W3C trace context an upstream call carries (``traceparent``).

The router sets it for each attempt, in the attempt's own task context; the one
place requests leave for an upstream (``upstream.Upstream``) adds it to the
headers. Unset (tracing off), nothing is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

TRACEPARENT: ContextVar[str | None] = ContextVar("gateway_traceparent", default=None)


def with_trace_context(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus the current attempt's ``traceparent``, when there is one."""
    traceparent = TRACEPARENT.get()
    if traceparent is None:
        return headers
    return {**headers, "traceparent": traceparent}
