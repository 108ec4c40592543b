"""The gateway's OTLP wire encoder writes what the official encoder writes.

Both encodings of the same spans are decoded by the official protobuf types and
compared whole: every field of every span, event, status, resource and scope.
"""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from gateway.observability.otlp_wire import export_request, varint

RESOURCE = Resource.create({"service.name": "gateway", "deployment.environment": "test"})
OTHER_RESOURCE = Resource.create({"service.name": "other"})
SCOPE = InstrumentationScope("gateway", "1.2.3")
SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _span(**overrides: object) -> ReadableSpan:
    fields: dict[str, object] = {
        "name": "chat gpt-4o",
        "context": SpanContext(
            0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, SAMPLED
        ),
        "parent": None,
        "resource": RESOURCE,
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 1234567,
            "gen_ai.request.temperature": 0.25,
            "gateway.stream": False,
            "gateway.cache_hit": True,
            "gen_ai.response.finish_reasons": ["stop", "length"],
            "gateway.fallback": ("backup",),
            "unicode": "café ☕",
            "negative": -5,
            "empty": "",
            "long": "x" * 300,
        },
        "events": (),
        "kind": SpanKind.SERVER,
        "status": Status(StatusCode.UNSET),
        "start_time": 1_765_000_000_123_456_789,
        "end_time": 1_765_000_000_223_456_789,
        "instrumentation_scope": SCOPE,
    }
    fields.update(overrides)
    return ReadableSpan(**fields)  # type: ignore[arg-type]


def _decoded(data: bytes) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    message.ParseFromString(data)
    return message


CASES = {
    "a root server span": [_span()],
    "a child with a remote parent and trace state": [
        _span(
            parent=SpanContext(
                0x0AF7651916CD43DD8448EB211C80319C,
                0x00F067AA0BA902B7,
                True,
                SAMPLED,
                TraceState([("vendor", "abc"), ("other", "x-1")]),
            ),
            context=SpanContext(
                0x0AF7651916CD43DD8448EB211C80319C,
                0x1111111111111111,
                False,
                SAMPLED,
                TraceState([("vendor", "abc"), ("other", "x-1")]),
            ),
        )
    ],
    "a failed client span with events": [
        _span(
            kind=SpanKind.CLIENT,
            parent=SpanContext(1, 2, False, SAMPLED),
            status=Status(StatusCode.ERROR, "upstream_server_error"),
            events=(
                Event("gateway.retry", {"gateway.wait_s": 0.5, "error.type": "x"}, 17),
                Event("gateway.fallback", {}, 18),
            ),
        )
    ],
    "several spans, two resources, a scope without a version": [
        _span(),
        _span(resource=OTHER_RESOURCE),
        _span(instrumentation_scope=InstrumentationScope("other")),
        _span(attributes={}),
    ],
}


@pytest.mark.parametrize("spans", CASES.values(), ids=CASES.keys())
def test_the_wire_encoder_writes_what_the_official_encoder_writes(
    spans: list[ReadableSpan],
) -> None:
    ours = _decoded(export_request(spans))
    theirs = _decoded(encode_spans(spans).SerializeToString())
    assert ours == theirs


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -(2**63)])
def test_varints_decode_to_the_value(value: int) -> None:
    decoded = AnyValue()
    decoded.ParseFromString(b"\x18" + varint(value))
    assert decoded.int_value == value
