"""The provider interface and the typed envelopes that cross it.

A provider turns one attempt (``UpstreamCall``) into an OpenAI-format answer:
either a whole ``UpstreamResult`` or a ``ChunkStream`` of OpenAI chunks. It
raises only ``gateway.errors.UpstreamError`` subclasses; no vendor type or
transport exception leaves this package.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class Operation(enum.StrEnum):
    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    # OpenAI's Responses API, sent as it is to upstreams that serve ``/responses``.
    RESPONSES = "responses"
    # Anthropic's Messages API, sent as it is to Anthropic deployments.
    MESSAGES = "messages"


@dataclass(slots=True)
class Usage:
    """What one answer used, as OpenAI counts it: ``prompt_tokens`` is every input token,
    cache reads and writes included; ``completion_tokens`` includes reasoning tokens."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # input tokens read from the provider's prompt cache
    cache_write_tokens: int = 0  # input tokens written to it (priced apart from plain input)
    cache_write_1h_tokens: int = 0  # the part of those writes kept an hour (Anthropic's ttl)
    service_tier: str | None = None  # the tier the provider says served it (flex, priority)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: Any, service_tier: Any = None) -> Usage | None:
        """Read an OpenAI ``usage`` object (and the answer's ``service_tier``); None when
        absent or malformed."""
        if not isinstance(usage, dict):
            return None
        details = usage.get("prompt_tokens_details")
        if not isinstance(details, dict):
            details = {}
        # Cache writes: OpenRouter's ``prompt_tokens_details.cache_write_tokens``, or
        # LiteLLM's ``cache_creation_input_tokens`` from an upstream proxy.
        written = _int(details.get("cache_write_tokens")) or _int(
            usage.get("cache_creation_input_tokens")
        )
        return cls(
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            cached_tokens=_int(details.get("cached_tokens")),
            cache_write_tokens=written,
            service_tier=service_tier if isinstance(service_tier, str) else None,
        )

    @classmethod
    def from_responses(cls, usage: Any, service_tier: Any = None) -> Usage | None:
        """Read a Responses API ``usage`` object; None when absent or malformed."""
        if not isinstance(usage, dict):
            return None
        details = usage.get("input_tokens_details")
        if not isinstance(details, dict):
            details = {}
        return cls(
            prompt_tokens=_int(usage.get("input_tokens")),
            completion_tokens=_int(usage.get("output_tokens")),
            cached_tokens=_int(details.get("cached_tokens")),
            cache_write_tokens=_int(details.get("cache_write_tokens")),
            service_tier=service_tier if isinstance(service_tier, str) else None,
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class UpstreamCall:
    """One attempt against one deployment.

    ``body`` is the caller's parsed JSON, shared and never mutated: providers
    copy before they change a field. ``timeout`` is what remains of the
    request's deadline; ``stream_timeout`` bounds the wait for each chunk.
    """

    operation: Operation
    body: dict[str, Any]
    stream: bool
    timeout: float
    stream_timeout: float | None
    request_id: str
    # Headers of the caller's that the upstream must see (``anthropic-version`` and
    # ``anthropic-beta`` on a Messages request passed through).
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class UpstreamResult:
    body: dict[str, Any]
    usage: Usage | None
    # The upstream's answer as it came, when it is relayed as it is (a passed-through
    # Messages answer): sent instead of ``body`` re-encoded.
    raw: bytes | None = None


@dataclass(slots=True)
class StreamChunk:
    """One OpenAI ``chat.completion.chunk`` (or completion chunk) as JSON bytes.

    A Responses stream's chunks are its events: ``event`` is the event's type
    (the SSE ``event:`` line), ``data`` its JSON.
    """

    data: bytes
    usage: Usage | None = None
    # True when the chunk only carries usage (no choices): dropped for callers
    # that did not ask for ``stream_options.include_usage``.
    usage_only: bool = False
    event: bytes = b""
    # True when the next chunk is already in hand (several events made from one upstream
    # chunk): the relay holds this one and sends them together, in one write.
    follows: bool = False


class ChunkStream(Protocol):
    """An open upstream stream. Iterating raises ``UpstreamError`` mid-stream."""

    def __aiter__(self) -> AsyncIterator[StreamChunk]: ...

    async def aclose(self) -> None:
        """Release the upstream connection (the client went away, or we are done)."""


class Provider(Protocol):
    """What the router needs from a provider: one attempt, whole or streamed."""

    @property
    def name(self) -> str:
        """The provider's prefix in ``litellm_params.model`` (``openai``, ``mock``, ...)."""

    @property
    def api_base(self) -> str | None:
        """Where requests go, for logs and the ledger (never carries secrets)."""

    async def send(self, call: UpstreamCall) -> UpstreamResult:
        """Run a non-streaming call to completion."""

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        """Start a streaming call; errors before the first chunk are raised here."""


@runtime_checkable
class CountsTokens(Protocol):
    """A provider whose upstream counts a Messages request's tokens itself (Anthropic's
    ``/v1/messages/count_tokens``): exact, where the gateway could only estimate."""

    async def count_tokens(
        self, body: dict[str, Any], headers: dict[str, str] | None, seconds: float
    ) -> bytes:
        """The upstream's answer as it came (``{"input_tokens": N}``)."""
