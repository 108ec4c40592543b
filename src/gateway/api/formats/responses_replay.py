"""A whole Response written out as the event stream that would have produced it.

For cached answers served to a streaming caller: ``response.created`` and
``response.in_progress`` with an empty output, then each output item added,
its content in one delta per part, its ``.done`` events, and the terminal
event carrying the whole Response. Clients that rebuild the Response from the
deltas (the SDK's ``stream`` helpers) end with the same object as the terminal.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.api.formats.responses_output import usage_of
from gateway.providers.base import StreamChunk


def replay_response(response: dict[str, Any]) -> list[StreamChunk]:
    events = _Events()
    opening = {**response, "status": "in_progress", "output": [], "usage": None}
    events.add("response.created", {"response": opening})
    events.add("response.in_progress", {"response": opening})
    for index, item in enumerate(response.get("output") or []):
        if isinstance(item, dict):
            events.extend(_item_events(index, item))
    kind = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(
        str(response.get("status")), "response.completed"
    )
    terminal = events.add(kind, {"response": response})
    terminal.usage = usage_of(response)
    return events.chunks


class _Events:
    def __init__(self) -> None:
        self.chunks: list[StreamChunk] = []

    def add(self, kind: str, payload: dict[str, Any]) -> StreamChunk:
        payload = {"type": kind, **payload, "sequence_number": len(self.chunks)}
        chunk = StreamChunk(data=orjson.dumps(payload), event=kind.encode())
        self.chunks.append(chunk)
        return chunk

    def extend(self, events: Iterator[tuple[str, dict[str, Any]]]) -> None:
        for kind, payload in events:
            self.add(kind, payload)


def _item_events(index: int, item: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = item.get("type")
    where = {"item_id": item.get("id"), "output_index": index}
    opening = copy.deepcopy(item)
    opening["status"] = "in_progress"
    if kind == "message":
        opening["content"] = []
        yield "response.output_item.added", {"output_index": index, "item": opening}
        for position, part in enumerate(item.get("content") or []):
            yield from _part_events(where | {"content_index": position}, part)
    elif kind == "function_call":
        opening["arguments"] = ""
        yield "response.output_item.added", {"output_index": index, "item": opening}
        arguments = str(item.get("arguments") or "")
        yield "response.function_call_arguments.delta", where | {"delta": arguments}
        yield (
            "response.function_call_arguments.done",
            where | {"name": item.get("name"), "arguments": arguments},
        )
    else:  # reasoning and every other item type: whole in its added and done events
        yield "response.output_item.added", {"output_index": index, "item": opening}
    yield "response.output_item.done", {"output_index": index, "item": item}


def _part_events(where: dict[str, Any], part: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(part, dict):
        return
    empty = {**part, "text": ""} if "text" in part else dict(part)
    yield "response.content_part.added", where | {"part": empty}
    if part.get("type") == "output_text":
        text = str(part.get("text") or "")
        yield "response.output_text.delta", where | {"delta": text, "logprobs": []}
        yield "response.output_text.done", where | {"text": text, "logprobs": []}
    yield "response.content_part.done", where | {"part": part}
