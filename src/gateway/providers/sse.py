"""Read server-sent events from an upstream response body, in the batches each read completes.

The body is read in whatever pieces the socket delivered (``iter_any``), not
line by line: a whole stream that arrived in one read is split into its events
by ``bytes.split`` in C, instead of one buffered ``readline`` per line. The
events a read completed are handed on together, at once: no event waits for
a later read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import aiohttp

# An event larger than this is refused rather than buffered without bound.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class ByteStream(Protocol):
    """What ``aiohttp.StreamReader`` offers: the body in the pieces it arrived in."""

    def iter_any(self) -> AsyncIterator[bytes]: ...


class EventTooLarge(aiohttp.ClientPayloadError):
    """The upstream sent more than ``MAX_EVENT_BYTES`` without ending an event."""


@dataclass(slots=True)
class SseEvent:
    event: bytes  # the ``event:`` field, empty when the upstream sent none
    data: bytes  # the ``data:`` lines, joined with newlines


async def sse_event_batches(body: ByteStream) -> AsyncGenerator[list[SseEvent], None]:
    """The events completed by each read, as soon as it arrives (one read, one list).

    Lines may end in ``\\n``, ``\\r\\n`` or ``\\r`` (the SSE rules); ``\\r`` endings
    are rewritten to ``\\n`` first, keeping a trailing ``\\r`` back until the next
    piece shows whether a ``\\n`` follows it.
    """
    pending = b""
    held_cr = False
    async for received in body.iter_any():
        piece = b"\r" + received if held_cr else received
        held_cr = False
        if b"\r" in piece:
            if piece.endswith(b"\r"):
                piece, held_cr = piece[:-1], True
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        searched = len(pending) - 1  # a "\n\n" may straddle the old end and the new piece
        pending += piece
        end = pending.rfind(b"\n\n", max(searched, 0))
        if end < 0:
            if len(pending) > MAX_EVENT_BYTES:
                raise EventTooLarge(f"an event grew past {MAX_EVENT_BYTES} bytes")
            continue
        complete, pending = pending[:end], pending[end + 2 :]
        events = [event for event in map(_parse, complete.split(b"\n\n")) if event is not None]
        if events:
            yield events
    if held_cr:
        pending += b"\n"
    event = _parse(pending)
    if event is not None:
        yield [event]


def _parse(block: bytes) -> SseEvent | None:
    """One event's lines; None when they carry no data (comments, bare ``event:``)."""
    if block.startswith(b"data:") and b"\n" not in block:
        return SseEvent(b"", block[5:].lstrip())  # the usual shape: one data line
    event = b""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip())
        elif line.startswith(b"event:"):
            event = line[6:].strip()
    if not data:
        return None
    return SseEvent(event, data[0] if len(data) == 1 else b"\n".join(data))
