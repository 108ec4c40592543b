"""A streamed answer, recorded as it passes and put back together as a completion on demand.

Chat chunks are merged per choice: string fields of the delta are joined,
tool calls are merged by their ``index``; text-completion chunks join their
``text``. Anything the cache could not replay faithfully (log probabilities,
a delta field that is not a string) makes the stream uncacheable: it is then
relayed as usual and simply not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.providers.base import ChunkStream, Operation, StreamChunk


@dataclass(slots=True)
class _ToolCall:
    id: str | None = None
    type: str = "function"
    name: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Choice:
    index: int
    role: str = "assistant"
    texts: dict[str, list[str]] = field(default_factory=dict)
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None


class StreamAssembler:
    def __init__(self, operation: Operation) -> None:
        self._operation = operation
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None
        self.cacheable = True

    def feed(self, chunk: Any) -> None:
        """One chunk, parsed (a stored recording's)."""
        if not self.cacheable:
            return
        if not isinstance(chunk, dict):
            self.cacheable = False
            return
        for name in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if name not in self._head and chunk.get(name) is not None:
                self._head[name] = chunk[name]
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        for raw in chunk.get("choices") or []:
            if not isinstance(raw, dict) or raw.get("logprobs") is not None:
                self.cacheable = False
                return
            index = raw.get("index", 0)
            choice = self._choices.setdefault(index, _Choice(index))
            if raw.get("finish_reason") is not None:
                choice.finish_reason = raw["finish_reason"]
            if self._operation is Operation.CHAT:
                self._merge_delta(choice, raw.get("delta") or {})
            elif isinstance(raw.get("text"), str):
                choice.texts.setdefault("text", []).append(raw["text"])

    def _merge_delta(self, choice: _Choice, delta: Any) -> None:
        if not isinstance(delta, dict):
            self.cacheable = False
            return
        for name, value in delta.items():
            if value is None:
                continue
            if name == "role" and isinstance(value, str):
                choice.role = value
            elif name == "tool_calls" and isinstance(value, list):
                self._merge_tool_calls(choice, value)
            elif isinstance(value, str):
                choice.texts.setdefault(name, []).append(value)
            else:
                self.cacheable = False

    def _merge_tool_calls(self, choice: _Choice, calls: list[Any]) -> None:
        for position, call in enumerate(calls):
            if not isinstance(call, dict):
                self.cacheable = False
                return
            held = choice.tool_calls.setdefault(call.get("index", position), _ToolCall())
            held.id = call.get("id") or held.id
            held.type = call.get("type") or held.type
            function = call.get("function") or {}
            if isinstance(function.get("name"), str):
                held.name.append(function["name"])
            if isinstance(function.get("arguments"), str):
                held.arguments.append(function["arguments"])

    def completion(self) -> dict[str, Any] | None:
        """The whole answer, or None when it cannot be cached."""
        if not self.cacheable or not self._choices:
            return None
        choices = [self._finish(self._choices[i]) for i in sorted(self._choices)]
        chat = self._operation is Operation.CHAT
        body: dict[str, Any] = {
            "id": self._head.get("id", ""),
            "object": "chat.completion" if chat else "text_completion",
            "created": self._head.get("created", 0),
            "model": self._head.get("model", ""),
            "choices": choices,
        }
        for name in ("system_fingerprint", "service_tier"):
            if name in self._head:
                body[name] = self._head[name]
        if self._usage is not None:
            body["usage"] = self._usage
        return body

    def _finish(self, choice: _Choice) -> dict[str, Any]:
        joined = {name: "".join(parts) for name, parts in choice.texts.items()}
        if self._operation is not Operation.CHAT:
            return {
                "index": choice.index,
                "text": joined.get("text", ""),
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
        message: dict[str, Any] = {"role": choice.role, "content": joined.pop("content", None)}
        message.update(joined)
        if choice.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": call.type,
                    "function": {"name": "".join(call.name), "arguments": "".join(call.arguments)},
                }
                for _, call in sorted(choice.tool_calls.items())
            ]
        return {
            "index": choice.index,
            "message": message,
            "logprobs": None,
            "finish_reason": choice.finish_reason,
        }


class RecordingStream:
    """Passes a stream through unchanged; when it ends cleanly, hands its chunks on.

    The chunks are kept as the bytes they arrived as: parsing and merging them
    into a completion would cost every stream of a cache miss about as much as
    relaying it. A stored recording is replayed as it is to streams, and put
    together (``assemble``) only when a whole request hits it.
    """

    def __init__(self, stream: ChunkStream, on_complete: Callable[[list[bytes]], None]) -> None:
        self._stream = stream
        self._on_complete = on_complete

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        recorded: list[bytes] = []
        async for chunk in self._stream:
            recorded.append(chunk.data)
            yield chunk
        self._on_complete(recorded)

    async def aclose(self) -> None:
        await self._stream.aclose()


def recording_bytes(chunks: list[bytes]) -> bytes:
    """A recording as stored: the chunks as one JSON array, told apart from a completion
    (a JSON object) by its first byte."""
    return b"[" + b",".join(chunks) + b"]"


def assemble(operation: Operation, chunks: list[Any]) -> dict[str, Any] | None:
    """The completion a recording amounts to, or None when it cannot be put together."""
    assembler = StreamAssembler(operation)
    for chunk in chunks:
        assembler.feed(chunk)
    return assembler.completion()
