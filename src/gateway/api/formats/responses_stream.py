"""A chat stream written as the Responses API's event stream.

``ResponseEvents`` reads OpenAI chat chunks in order and emits the events a
Responses client expects: ``response.created`` and ``response.in_progress``
first; for each output item ``response.output_item.added`` before its content
(``response.content_part.added`` before the text deltas), its ``.done`` events
when it ends; ``response.function_call_arguments.delta/done`` for tool calls;
and one terminal ``response.completed`` or ``response.incomplete`` with the
whole Response, usage included. Every event has a ``sequence_number`` from 0,
and every item keeps one id from its first event to its last, so clients that
aggregate tool calls by id see each call whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway.api.formats import thinking_carry
from gateway.api.formats.responses_output import (
    finish,
    function_call_item,
    message_item,
    reasoning_item,
    reasoning_of,
    skeleton,
    summarized,
    text_part,
    thinking_blocks_of,
    usage_json,
    usage_of,
)
from gateway.providers.base import ChunkStream, StreamChunk
from gateway.providers.translate import as_int

TERMINAL_EVENTS = frozenset({b"response.completed", b"response.incomplete", b"response.failed"})


class _Item:
    """One output item being streamed: its place, its JSON, and the text so far."""

    __slots__ = ("blocks", "delta_prefix", "index", "item", "text")

    def __init__(self, index: int, item: dict[str, Any]) -> None:
        self.index = index
        self.item = item
        self.text: list[str] = []
        self.blocks: list[dict[str, Any]] = []  # a reasoning item's signed thinking blocks
        # A message's text-delta event up to its delta (most events of a stream are these,
        # so they are written from bytes rather than built and encoded as dicts).
        self.delta_prefix = (
            b'{"type":"response.output_text.delta","item_id":'
            + orjson.dumps(item["id"])
            + b',"output_index":%d,"content_index":0,"logprobs":[],"delta":' % index
        )


class ResponseEvents:
    """Turns chat chunks into Responses events; ``response`` is the Response built so far."""

    def __init__(self, request: Mapping[str, Any], response_id: str, model: str) -> None:
        self._request = request
        self.response = skeleton(request, response_id, model)
        self._sequence = 0
        self._summarized = summarized(request)
        self._open: _Item | None = None  # the open reasoning or message item
        self._calls: dict[int, _Item] = {}  # chat tool-call index -> its item
        self._finish_reason: Any = None
        self._usage: Any = None
        self._started = False

    def _event(self, kind: str, payload: dict[str, Any]) -> StreamChunk:
        payload["type"] = kind
        payload["sequence_number"] = self._sequence
        self._sequence += 1
        return StreamChunk(data=orjson.dumps(payload), event=kind.encode())

    def start(self, model: Any = None) -> list[StreamChunk]:
        self._started = True
        if isinstance(model, str) and model:
            self.response["model"] = model
        return [
            self._event("response.created", {"response": dict(self.response)}),
            self._event("response.in_progress", {"response": dict(self.response)}),
        ]

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamChunk]:
        more = self._more_text_of(chunk)
        if more is not None:
            return more
        out = [] if self._started else self.start(chunk.get("model"))
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or as_int(choice.get("index")) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = reasoning_of(delta)
            if isinstance(reasoning, str) and reasoning:
                out.extend(self._reasoning_delta(reasoning))
            blocks = thinking_blocks_of(delta)
            if blocks:
                opened, opening = self._open_reasoning()
                opened.blocks.extend(blocks)
                out.extend(opening)
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.extend(self._text_delta(text))
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out.extend(self._call_delta(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return out

    def finish(self) -> list[StreamChunk]:
        """The closing events; the last is the terminal one, carrying usage."""
        out = [] if self._started else self.start()
        out.extend(self._close_open())
        for position in sorted(self._calls):
            out.extend(self._close_call(self._calls[position]))
        response = self.response
        response["output"] = [entry for entry in response["output"] if entry is not None]
        response["usage"] = usage_json(self._usage)
        finish(response, self._finish_reason)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        terminal = self._event(kind, {"response": response})
        terminal.usage = usage_of(response)
        out.append(terminal)
        return out

    # --- items --------------------------------------------------------------------------

    def _add(self, item: dict[str, Any]) -> tuple[_Item, StreamChunk]:
        output: list[Any] = self.response["output"]
        entry = _Item(len(output), item)
        output.append(None)  # filled in when the item is done
        added = self._event(
            "response.output_item.added", {"output_index": entry.index, "item": dict(item)}
        )
        return entry, added

    def _reasoning_delta(self, text: str) -> list[StreamChunk]:
        opened, out = self._open_reasoning()
        opened.text.append(text)
        if self._summarized:
            out.append(
                self._event(
                    "response.reasoning_summary_text.delta",
                    self._where(opened, "summary_index") | {"delta": text},
                )
            )
        else:
            out.append(
                self._event(
                    "response.reasoning_text.delta",
                    self._where(opened, "content_index") | {"delta": text},
                )
            )
        return out

    def _open_reasoning(self) -> tuple[_Item, list[StreamChunk]]:
        """The open reasoning item, and the events that opened it if it was not open."""
        out: list[StreamChunk] = []
        if self._open is None or self._open.item["type"] != "reasoning":
            out.extend(self._close_open())
            item = reasoning_item("", self._summarized, status="in_progress")
            item.pop("content", None)
            item["summary"] = []
            self._open, added = self._add(item)
            out.append(added)
            part_kind = (
                "response.reasoning_summary_part.added"
                if self._summarized
                else "response.content_part.added"
            )
            part = (
                {"type": "summary_text", "text": ""}
                if self._summarized
                else {"type": "reasoning_text", "text": ""}
            )
            index_name = "summary_index" if self._summarized else "content_index"
            out.append(self._event(part_kind, self._where(self._open, index_name) | {"part": part}))
        return self._open, out

    def _text_delta(self, text: str) -> list[StreamChunk]:
        out: list[StreamChunk] = []
        if self._open is None or self._open.item["type"] != "message":
            out.extend(self._close_open())
            self._open, added = self._add(message_item([], status="in_progress"))
            out.append(added)
            out.append(
                self._event(
                    "response.content_part.added",
                    self._where(self._open, "content_index") | {"part": text_part("")},
                )
            )
        out.append(self._more_text(self._open, text))
        return out

    def _more_text_of(self, chunk: Mapping[str, Any]) -> list[StreamChunk] | None:
        """The events of the most common chunk, more text for the open message, made
        without the general walk; None when ``chunk`` is anything else."""
        opened = self._open
        if opened is None or opened.item["type"] != "message" or chunk.get("usage"):
            return None
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return None
        choice = choices[0]
        if type(choice) is not dict or choice.get("index", 0) != 0 or choice.get("finish_reason"):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) != 1:
            return None
        text = delta.get("content")
        if type(text) is not str:
            return None
        return [self._more_text(opened, text)] if text else []

    def _more_text(self, opened: _Item, text: str) -> StreamChunk:
        opened.text.append(text)
        data = opened.delta_prefix + orjson.dumps(text) + b',"sequence_number":%d}' % self._sequence
        self._sequence += 1
        return StreamChunk(data=data, event=b"response.output_text.delta")

    def _call_delta(self, call: Mapping[str, Any]) -> list[StreamChunk]:
        out: list[StreamChunk] = []
        position = as_int(call.get("index"))
        function = call.get("function") or {}
        entry = self._calls.get(position)
        if entry is None:
            out.extend(self._close_open())
            call_id = str(call.get("id") or f"call_{len(self._calls)}")
            item = function_call_item(call_id, str(function.get("name") or ""), "", "in_progress")
            entry, added = self._add(item)
            self._calls[position] = entry
            out.append(added)
        elif function.get("name") and not entry.item["name"]:
            entry.item["name"] = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            entry.text.append(arguments)
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    {"item_id": entry.item["id"], "output_index": entry.index, "delta": arguments},
                )
            )
        return out

    def _where(self, entry: _Item, index_name: str) -> dict[str, Any]:
        return {"item_id": entry.item["id"], "output_index": entry.index, index_name: 0}

    def _close_open(self) -> list[StreamChunk]:
        entry, self._open = self._open, None
        if entry is None:
            return []
        text = "".join(entry.text)
        item = entry.item
        out: list[StreamChunk] = []
        if item["type"] == "message":
            part = text_part(text)
            item["content"] = [part]
            where = self._where(entry, "content_index")
            out.append(
                self._event("response.output_text.done", where | {"text": text, "logprobs": []})
            )
            out.append(self._event("response.content_part.done", where | {"part": dict(part)}))
        elif self._summarized:
            part = {"type": "summary_text", "text": text}
            item["summary"] = [part]
            where = self._where(entry, "summary_index")
            out.append(self._event("response.reasoning_summary_text.done", where | {"text": text}))
            out.append(
                self._event("response.reasoning_summary_part.done", where | {"part": dict(part)})
            )
        else:
            part = {"type": "reasoning_text", "text": text}
            item["content"] = [part]
            where = self._where(entry, "content_index")
            out.append(self._event("response.reasoning_text.done", where | {"text": text}))
            out.append(self._event("response.content_part.done", where | {"part": dict(part)}))
        if entry.blocks:
            item["encrypted_content"] = thinking_carry.encode(entry.blocks)
        item["status"] = "completed"
        out.append(self._done(entry))
        return out

    def _close_call(self, entry: _Item) -> list[StreamChunk]:
        item = entry.item
        item["arguments"] = "".join(entry.text)
        item["status"] = "completed"
        done = self._event(
            "response.function_call_arguments.done",
            {
                "item_id": item["id"],
                "output_index": entry.index,
                "name": item["name"],
                "arguments": item["arguments"],
            },
        )
        return [done, self._done(entry)]

    def _done(self, entry: _Item) -> StreamChunk:
        self.response["output"][entry.index] = entry.item
        return self._event(
            "response.output_item.done", {"output_index": entry.index, "item": dict(entry.item)}
        )


def _together(events: list[StreamChunk]) -> list[StreamChunk]:
    """Events in hand together, marked to go out in one write."""
    for event in events[:-1]:
        event.follows = True
    return events


class TranslatedEventStream:
    """A chat ``ChunkStream`` read as Responses events (a ``ChunkStream`` itself)."""

    def __init__(self, chat: ChunkStream, events: ResponseEvents) -> None:
        self._chat = chat
        self._events = events

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        events = self._events
        # Events wait here while the chat chunks they came from were read together.
        waiting: list[StreamChunk] = []
        async for chunk in self._chat:
            waiting.extend(events.feed(orjson.loads(chunk.data)))
            if chunk.follows:
                continue
            for event in _together(waiting):
                yield event
            waiting = []
        for event in _together([*waiting, *events.finish()]):
            yield event

    async def aclose(self) -> None:
        await self._chat.aclose()
