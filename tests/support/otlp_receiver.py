"""A test OTLP/HTTP trace receiver: decodes every span the gateway exports.

It speaks the collector's wire format (``POST /v1/traces``, a protobuf
``ExportTraceServiceRequest``, ``application/x-protobuf``, optionally gzip) and
refuses what a collector would refuse (another path, another content type, a
body that does not decode). ``failing`` makes it answer 503, as a collector
that is down or overloaded does.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from support.server_thread import ServerThread

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS = {0: "unset", 1: "ok", 2: "error"}


@dataclass
class SpanEvent:
    name: str
    at_ns: int
    attributes: dict[str, Any]


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[SpanEvent] = field(default_factory=list)
    status: str = "unset"
    status_message: str = ""
    service_name: str = ""
    scope: str = ""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


class OtlpReceiver(ServerThread):
    name = "otlp-receiver"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self.refused: list[str] = []
        self.failing = False
        self.failed_posts = 0

    @property
    def endpoint(self) -> str:
        """What ``OTEL_EXPORTER_OTLP_ENDPOINT`` should be (the exporter adds /v1/traces)."""
        return self.origin

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans() if span.trace_id == trace_id]

    def wait_for_trace(
        self, trace_id: str, count: int, timeout: float = 20.0, *, settle: float = 0.3
    ) -> list[Span]:
        """The trace's spans once ``count`` have arrived (and ``settle`` passed with no
        more), or what arrived by ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.trace(trace_id)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(settle)
        return self.trace(trace_id)

    def reset(self) -> None:
        with self._lock:
            self._spans.clear()
            self.refused.clear()
            self.failing = False
            self.failed_posts = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/traces", self._traces)

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.refused.append(f"{request.method} {request.path}")
        return web.Response(status=404)

    async def _traces(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.failing:
            with self._lock:
                self.failed_posts += 1
            return web.Response(status=503, text="collector unavailable")
        if request.content_type != "application/x-protobuf":
            with self._lock:
                self.refused.append(f"content-type {request.content_type}")
            return web.Response(status=415)
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        message = ExportTraceServiceRequest()
        try:
            message.ParseFromString(raw)
        except DecodeError:
            with self._lock:
                self.refused.append("undecodable body")
            return web.Response(status=400)
        spans = []
        for resource_spans in message.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        Span(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=KINDS[span.kind],
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            events=[
                                SpanEvent(e.name, e.time_unix_nano, _attributes(e.attributes))
                                for e in span.events
                            ],
                            status=STATUS[span.status.code],
                            status_message=span.status.message,
                            service_name=str(resource.get("service.name", "")),
                            scope=scope_spans.scope.name,
                        )
                    )
        with self._lock:
            self._spans.extend(spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )
