"""One spend row: what a single request cost, who sent it, and how it went.

The data plane builds a ``SpendRecord`` after the response is sent and hands
it to the ledger. It is immutable, so the same record can be retried, spilled
to disk or sent through Redis and still be recognised on replay by its
``(started_at, request_id)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpendRecord:
    request_id: str  # the response's x-request-id
    started_at: float  # epoch seconds, when the request arrived
    ended_at: float  # epoch seconds, when the response was finished
    call_type: str  # chat, completion, embedding, messages
    key_hash: str | None  # sha256 hex of the caller's key, never the key
    key_alias: str | None
    team_id: str | None
    user_id: str | None
    end_user: str | None  # the body's ``user``
    model_group: str  # the model the caller asked for, resolved to its group
    deployment_id: str | None
    provider: str | None
    model: str | None  # the model the upstream says served the request
    api_base_host: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int  # input tokens read from the provider's prompt cache
    cost_usd: float | None  # None: the price is unknown (never a made-up 0)
    latency_ms: float
    ttft_ms: float | None  # streams only: time to the first chunk sent
    status: int  # HTTP status the caller saw (499: the caller went away)
    error_type: str | None  # the gateway error label, None on success
    cache_hit: bool
    attempts: int
    fallbacks: tuple[str, ...]  # model groups walked after the first
    stream: bool
    # Input tokens written to the provider's prompt cache (included in prompt_tokens,
    # priced at the cache-write rate); last, as the column was added last.
    cache_write_tokens: int = 0


# Column order of ``spend_log``, matching the dataclass field order.
COLUMNS: tuple[str, ...] = tuple(SpendRecord.__dataclass_fields__)
