"""Read server-sent events from an upstream response body, one event at a time."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass


@dataclass(slots=True)
class SseEvent:
    event: bytes  # the ``event:`` field, empty when the upstream sent none
    data: bytes  # the ``data:`` lines, joined with newlines


async def sse_events(lines: AsyncIterable[bytes]) -> AsyncGenerator[SseEvent, None]:
    """Events in arrival order; a last event without its blank line still counts."""
    event = b""
    data: list[bytes] = []
    async for raw_line in lines:
        line = raw_line.rstrip(b"\r\n")
        if line:
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip())
            elif line.startswith(b"event:"):
                event = line[6:].strip()
            continue
        if data:
            yield SseEvent(event, data[0] if len(data) == 1 else b"\n".join(data))
        event, data = b"", []
    if data:
        yield SseEvent(event, b"\n".join(data))
