"""Spans as an OTLP ``ExportTraceServiceRequest``, written straight to protobuf's wire format.

The OTLP exporter's own encoder builds a protobuf message object per attribute and
costs about 75 us per span here (16 attributes): more than the gateway spends on the
whole request it describes. This writes the same bytes directly (varints and
length-prefixed fields, per ``opentelemetry/proto/trace/v1/trace.proto``) for about a
tenth of that. ``tests/unit/test_otlp_wire.py`` checks it against the official
encoder, field by field, through the official decoder.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

# Field tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited,
# 5 fixed32), as single bytes where they fit.
_LEN = 2
_STRING_VALUE = b"\x0a"  # AnyValue.string_value = 1
_BOOL_VALUE = b"\x10"  # AnyValue.bool_value = 2
_INT_VALUE = b"\x18"  # AnyValue.int_value = 3
_DOUBLE_VALUE = b"\x21"  # AnyValue.double_value = 4
_ARRAY_VALUE = b"\x2a"  # AnyValue.array_value = 5
_KV_KEY = b"\x0a"  # KeyValue.key = 1
_KV_VALUE = b"\x12"  # KeyValue.value = 2
_ARRAY_VALUES = b"\x0a"  # ArrayValue.values = 1
_SPAN_TRACE_ID = b"\x0a\x10"  # Span.trace_id = 1, 16 bytes
_SPAN_SPAN_ID = b"\x12\x08"  # Span.span_id = 2, 8 bytes
_SPAN_TRACE_STATE = b"\x1a"  # Span.trace_state = 3
_SPAN_PARENT_ID = b"\x22\x08"  # Span.parent_span_id = 4, 8 bytes
_SPAN_NAME = b"\x2a"  # Span.name = 5
_SPAN_KIND = b"\x30"  # Span.kind = 6
_SPAN_START = b"\x39"  # Span.start_time_unix_nano = 7 (fixed64)
_SPAN_END = b"\x41"  # Span.end_time_unix_nano = 8 (fixed64)
_SPAN_ATTRIBUTE = b"\x4a"  # Span.attributes = 9
_SPAN_EVENT = b"\x5a"  # Span.events = 11
_SPAN_STATUS = b"\x7a"  # Span.status = 15
_SPAN_FLAGS = b"\x85\x01"  # Span.flags = 16 (fixed32)
_EVENT_TIME = b"\x09"  # Event.time_unix_nano = 1 (fixed64)
_EVENT_NAME = b"\x12"  # Event.name = 2
_EVENT_ATTRIBUTE = b"\x1a"  # Event.attributes = 3
_STATUS_MESSAGE = b"\x12"  # Status.message = 2
_STATUS_CODE = b"\x18"  # Status.code = 3
_RESOURCE_ATTRIBUTE = b"\x0a"  # Resource.attributes = 1
_SCOPE_NAME = b"\x0a"  # InstrumentationScope.name = 1
_SCOPE_VERSION = b"\x12"  # InstrumentationScope.version = 2
_RESOURCE_SPANS = b"\x0a"  # ExportTraceServiceRequest.resource_spans = 1
_RS_RESOURCE = b"\x0a"  # ResourceSpans.resource = 1
_RS_SCOPE_SPANS = b"\x12"  # ResourceSpans.scope_spans = 2
_RS_SCHEMA_URL = b"\x1a"  # ResourceSpans.schema_url = 3
_SS_SCOPE = b"\x0a"  # ScopeSpans.scope = 1
_SS_SPANS = b"\x12"  # ScopeSpans.spans = 2
_SS_SCHEMA_URL = b"\x1a"  # ScopeSpans.schema_url = 3
# SpanFlags: the span says whether its parent is remote, and whether it is.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")
_SMALL = [bytes([n]) for n in range(128)]
_UINT64 = 1 << 64


def varint(value: int) -> bytes:
    if value < 0:
        value += _UINT64  # int64: two's complement, ten bytes
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while value > 127:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def _text(tag: bytes, text: str) -> bytes:
    return _delimited(tag, text.encode())


def any_value(value: Any) -> bytes:
    """An ``AnyValue`` message's bytes."""
    if isinstance(value, bool):
        return _BOOL_VALUE + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _text(_STRING_VALUE, value)
    if isinstance(value, int):
        return _INT_VALUE + varint(value)
    if isinstance(value, float):
        return _DOUBLE_VALUE + _DOUBLE.pack(value)
    if isinstance(value, (list, tuple)):
        items = b"".join(_delimited(_ARRAY_VALUES, any_value(item)) for item in value)
        return _delimited(_ARRAY_VALUE, items)
    if value is None:
        return b""
    raise TypeError(f"cannot encode an attribute of type {type(value).__name__}")


# Attribute names come from a small set: each one's encoding is kept.
_KEYS: dict[str, bytes] = {}
MAX_KEPT_KEYS = 1024


def _key(key: str) -> bytes:
    encoded = _KEYS.get(key)
    if encoded is None:
        encoded = _text(_KV_KEY, key)
        if len(_KEYS) < MAX_KEPT_KEYS:
            _KEYS[key] = encoded
    return encoded


# Most attribute values repeat from span to span (the operation, the model group, the
# deployment, the provider, the path): each such pair's whole encoding is kept, up to a
# bound, so a span writes only what is new in it (ids, token counts, times).
_PAIRS: dict[tuple[str, str | bool], bytes] = {}
MAX_KEPT_PAIRS = 4096
# Strings this long are request-specific (ids, captured content): never kept.
MAX_KEPT_TEXT = 64


def _pair(tag: bytes, key: str, value: Any) -> bytes:
    """One attribute as its tagged ``KeyValue`` bytes."""
    kept = isinstance(value, bool) or (isinstance(value, str) and len(value) <= MAX_KEPT_TEXT)
    if kept:
        encoded = _PAIRS.get((key, value))
        if encoded is not None:
            return tag + encoded
    pair = _key(key) + _delimited(_KV_VALUE, any_value(value))
    encoded = varint(len(pair)) + pair
    if kept and len(_PAIRS) < MAX_KEPT_PAIRS:
        _PAIRS[(key, value)] = encoded
    return tag + encoded


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    return b"".join([_pair(tag, key, value) for key, value in attributes.items()])


def _parent_flags(parent: SpanContext | None) -> bytes:
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    return _SPAN_FLAGS + _FIXED32.pack(flags)


def span_bytes(span: ReadableSpan) -> bytes:
    """One ``Span`` message's bytes (links are not written: the gateway makes none)."""
    context = span.context
    assert context is not None
    parts = [
        _SPAN_TRACE_ID,
        context.trace_id.to_bytes(16, "big"),
        _SPAN_SPAN_ID,
        context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        state = ",".join(f"{key}={value}" for key, value in context.trace_state.items())
        parts.append(_text(_SPAN_TRACE_STATE, state))
    parent = span.parent
    if parent is not None:
        parts += (_SPAN_PARENT_ID, parent.span_id.to_bytes(8, "big"))
    parts.append(_text(_SPAN_NAME, span.name))
    parts += (_SPAN_KIND, varint(span.kind.value + 1))  # the proto's kinds start at 1
    parts += (_SPAN_START, _FIXED64.pack(span.start_time or 0))
    parts += (_SPAN_END, _FIXED64.pack(span.end_time or 0))
    parts.append(_attributes(_SPAN_ATTRIBUTE, span.attributes))
    for event in span.events:
        body = _EVENT_TIME + _FIXED64.pack(event.timestamp)
        body += _text(_EVENT_NAME, event.name) + _attributes(_EVENT_ATTRIBUTE, event.attributes)
        parts.append(_delimited(_SPAN_EVENT, body))
    status = span.status
    code = status.status_code.value
    status_body = (_text(_STATUS_MESSAGE, status.description) if status.description else b"") + (
        _STATUS_CODE + varint(code) if code else b""
    )
    parts.append(_delimited(_SPAN_STATUS, status_body))
    parts.append(_parent_flags(parent))
    return b"".join(parts)


def export_request(spans: Iterable[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest`` of ``spans``, grouped by resource and scope."""
    # Grouped by identity first: a Resource hashes by serializing its attributes to JSON.
    resources: dict[int, Any] = {}
    grouped: dict[int, dict[Any, list[bytes]]] = defaultdict(lambda: defaultdict(list))
    for span in spans:
        resources.setdefault(id(span.resource), span.resource)
        grouped[id(span.resource)][span.instrumentation_scope].append(span_bytes(span))
    merged: dict[Any, dict[Any, list[bytes]]] = defaultdict(lambda: defaultdict(list))
    for key, scopes in grouped.items():
        for scope, encoded in scopes.items():
            merged[resources[key]][scope].extend(encoded)
    out = []
    for resource, scopes in merged.items():
        body = _delimited(_RS_RESOURCE, _attributes(_RESOURCE_ATTRIBUTE, resource.attributes))
        for scope, encoded in scopes.items():
            scope_body = b""
            if scope is not None:
                scope_body = _text(_SCOPE_NAME, scope.name)
                if scope.version:
                    scope_body += _text(_SCOPE_VERSION, scope.version)
            spans_body = _delimited(_SS_SCOPE, scope_body) + b"".join(
                _delimited(_SS_SPANS, span) for span in encoded
            )
            if scope is not None and scope.schema_url:
                spans_body += _text(_SS_SCHEMA_URL, scope.schema_url)
            body += _delimited(_RS_SCOPE_SPANS, spans_body)
        if resource.schema_url:
            body += _text(_RS_SCHEMA_URL, resource.schema_url)
        out.append(_delimited(_RESOURCE_SPANS, body))
    return b"".join(out)
