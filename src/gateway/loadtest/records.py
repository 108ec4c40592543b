"""One request's outcome as the load-test client saw it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# ``status`` for failures that never produced an HTTP status.
CONNECTION_ERROR = 0

# Keys of ``errors_by_status`` for failures that are not an HTTP error status.
KIND_CONNECTION = "connection"
KIND_TIMEOUT = "timeout"
KIND_STREAM = "stream"


@dataclass(slots=True)
class RequestRecord:
    """``started`` is seconds since the run began; durations are seconds.

    ``error_kind`` is None for a success; otherwise the HTTP status as text
    (``"500"``), ``"connection"``, ``"timeout"``, or ``"stream"`` (the stream
    broke off or carried an error event after a 200).
    """

    index: int
    model: str
    stream: bool
    started: float
    latency: float
    status: int
    ttfb: float | None = None
    error_kind: str | None = None
    error: str | None = None
    request_id: str | None = None
    model_group: str | None = None  # the group that served (a fallback's, after one)
    deployment: str | None = None
    fallbacks: list[str] = field(default_factory=list)
    cache: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    @property
    def ended(self) -> float:
        return self.started + self.latency

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
