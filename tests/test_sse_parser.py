"""The upstream SSE reader, fed every way a socket can split a stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.providers import sse
from gateway.providers.sse import EventTooLarge, SseEvent, sse_event_batches


class Pieces:
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


def read(pieces: list[bytes]) -> list[SseEvent]:
    async def collect() -> list[SseEvent]:
        return [event async for batch in sse_event_batches(Pieces(pieces)) for event in batch]

    return asyncio.run(collect())


STREAM = (
    b": a comment first\n\n"
    b'data: {"n":1}\n\n'
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n\n'
    b"data: line one\n"
    b"data: line two\n\n"
    b"event: ping\n\n"
    b"data:no-space\n\n\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SseEvent(b"", b'{"n":1}'),
    SseEvent(b"message_start", b'{"type":"message_start"}'),
    SseEvent(b"", b"line one\nline two"),
    SseEvent(b"", b"no-space"),
    SseEvent(b"", b"[DONE]"),
]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_split_of_the_stream_gives_the_same_events(ending: bytes) -> None:
    stream = STREAM.replace(b"\n", ending)
    assert read([stream]) == EXPECTED
    for cut in range(1, len(stream)):
        assert read([stream[:cut], stream[cut:]]) == EXPECTED, cut
    assert read([bytes([byte]) for byte in stream]) == EXPECTED


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    assert read([b"data: a\n\ndata: b"]) == [SseEvent(b"", b"a"), SseEvent(b"", b"b")]
    assert read([b"data: a\r\n\r\ndata: b\r"]) == [SseEvent(b"", b"a"), SseEvent(b"", b"b")]
    assert read([]) == []


def test_an_event_is_handed_on_before_the_next_piece_arrives() -> None:
    """Nothing waits for company: each event leaves as soon as its blank line is read."""

    async def scenario() -> list[str]:
        seen: list[str] = []
        release = asyncio.Event()

        class Held:
            async def iter_any(self) -> AsyncIterator[bytes]:
                yield b"data: first\n\ndata: sec"
                await release.wait()
                seen.append("second piece sent")
                yield b"ond\n\n"

        async for batch in sse_event_batches(Held()):
            seen.extend(event.data.decode() for event in batch)
            release.set()
        return seen

    assert asyncio.run(scenario()) == ["first", "second piece sent", "second"]


def test_an_endless_event_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 64)
    with pytest.raises(EventTooLarge):
        read([b"data: " + b"x" * 40, b"x" * 40])


def test_batches_hold_the_events_each_read_completed() -> None:
    async def collect() -> list[list[bytes]]:
        pieces = Pieces([b"data: 1\n\ndata: 2\n\ndata: ", b"3\n\n", b": only a comment\n\n"])
        return [[e.data for e in batch] async for batch in sse_event_batches(pieces)]

    assert asyncio.run(collect()) == [[b"1", b"2"], [b"3"]]
