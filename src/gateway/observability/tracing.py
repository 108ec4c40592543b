"""OpenTelemetry traces: one server span per request, one client span per upstream attempt.

Turned on by ``litellm_settings.callbacks: ["otel"]`` (or ``success_callback``), or by
the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``; ``tracing_settings`` reads the rest of
the standard environment (protocol, headers, service name, sampler).

The request path does only what must happen while the request runs: when it
arrives, its trace ids are chosen (continuing the client's ``traceparent``) and
the sampler decides; each attempt then tells its upstream its ``traceparent`` and,
when sampled, notes its times and outcome (``router.request.RequestSpans``). The
spans are built after the response, from those notes and the request's spend
record, as the SDK's finished-span records (``ReadableSpan``, with the ids chosen
on arrival: the SDK's tracer would choose its own, and cleans every attribute
again, which costs more than the request), handed to the SDK's
``BatchSpanProcessor`` and exported in batches on its thread (``otlp_export``).
Span attributes follow the GenAI semantic conventions, plus the gateway's own
(``gateway.*``). Prompt and completion text are never exported unless
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` asks for them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.ledger.record import SpendRecord
from gateway.observability.otlp_export import OtlpHttpExporter
from gateway.observability.tracing_settings import TracingSettings
from gateway.router.request import AttemptSpan, RequestSpans, RouteTrace

log = logging.getLogger(__name__)

SCOPE = InstrumentationScope("gateway")
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
# The gateway's call types as GenAI operation names.
OPERATIONS = {
    "chat": "chat",
    "messages": "chat",
    "responses": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
}
# The gateway's provider names as ``gen_ai.provider.name`` values (others as they are).
PROVIDER_NAMES = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "watsonx": "ibm.watsonx.ai",
}
# Request settings shown as ``gen_ai.request.*`` (body field -> attribute).
REQUEST_SETTINGS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
}
MAX_ADDRESSES = 1024
DEFAULT_PORTS = {"https": 443, "http": 80}

Attributes = dict[str, Any]


@dataclass(slots=True)
class TracedRequest:
    """A traced request as the API fills it in: its ids, the client's trace context,
    and (when sampled) what its spans will show of the request and the answer."""

    spans: RequestSpans
    parent: Context | None
    method: str
    path: str
    body: dict[str, Any] | None = None
    # A whole answer, or the last two events of a stream (for finish reasons).
    answer: dict[str, Any] | None = None
    tail: tuple[bytes | None, bytes | None] = (None, None)
    # The streamed answer put back together (only when message content is captured).
    assembled: dict[str, Any] | None = None


class Tracing:
    """The tracer provider and what it takes to trace one request."""

    def __init__(
        self,
        settings: TracingSettings,
        counted: Callable[[bool], None] = lambda ok: None,
        *,
        exporter: SpanExporter | None = None,
    ) -> None:
        self._sampler = settings.sampler
        self.capture_content = settings.capture_content
        self._resource = Resource.create({"service.name": settings.service_name})
        if exporter is None:
            if settings.exporter == "console":
                exporter = ConsoleSpanExporter(service_name=settings.service_name)
            else:
                exporter = OtlpHttpExporter(
                    settings.endpoint,
                    settings.headers,
                    timeout_s=settings.timeout_s,
                    gzip_body=settings.gzip,
                    ca_file=settings.ca_file,
                    counted=counted,
                )
        # Batches of OTEL_BSP_MAX_EXPORT_BATCH_SIZE every OTEL_BSP_SCHEDULE_DELAY ms, at
        # most OTEL_BSP_MAX_QUEUE_SIZE waiting (the SDK reads them).
        self._processor = BatchSpanProcessor(exporter)
        self._propagator = TraceContextTextMapPropagator()
        self._addresses: dict[str, tuple[str | None, int | None]] = {}

    # --- while the request runs -------------------------------------------------

    def begin(
        self,
        method: str,
        path: str,
        traceparent: bytes | None,
        tracestate: bytes | None,
    ) -> TracedRequest:
        """The request's trace ids, continuing the client's trace when it sent one."""
        parent: Context | None = None
        trace_id = 0
        if traceparent is not None:
            carrier = {"traceparent": traceparent.decode("latin-1")}
            if tracestate is not None:
                carrier["tracestate"] = tracestate.decode("latin-1")
            context = self._propagator.extract(carrier)
            remote = trace_api.get_current_span(context).get_span_context()
            if remote.is_valid:
                parent, trace_id = context, remote.trace_id
        if not trace_id:
            trace_id = random.getrandbits(128) or 1
        decision = self._sampler.should_sample(parent, trace_id, path, SpanKind.SERVER).decision
        sampled = decision is Decision.RECORD_AND_SAMPLE
        spans = RequestSpans(trace_id, random.getrandbits(64) or 1, sampled)
        return TracedRequest(spans, parent, method, path)

    # --- after the response -------------------------------------------------------

    def export(self, traced: TracedRequest, record: SpendRecord, trace: RouteTrace | None) -> None:
        """Build the request's spans from what it noted and its spend record."""
        spans = traced.spans
        if not spans.sampled:
            return
        operation = OPERATIONS.get(record.call_type, record.call_type)
        end_ns = int(record.ended_at * 1e9)
        body = traced.body
        asked = body.get("model") if body is not None else None
        parent = None
        if traced.parent is not None:
            parent = trace_api.get_current_span(traced.parent).get_span_context()
        server_context = SpanContext(
            spans.trace_id,
            spans.span_id,
            is_remote=False,
            trace_flags=SAMPLED,
            trace_state=parent.trace_state if parent is not None else None,
        )
        status = Status(StatusCode.UNSET)
        if record.status >= 400:
            status = Status(StatusCode.ERROR, record.error_type or "error")
        # What the answer says (model, usage, finish reasons, id): read once, on the server
        # span and on the attempt that served it.
        answer = self._answer_attributes(traced, record)
        on_end = self._processor.on_end
        on_end(
            ReadableSpan(
                f"{operation} {asked if isinstance(asked, str) else record.model_group}",
                context=server_context,
                parent=parent,
                resource=self._resource,
                attributes=self._server_attributes(traced, record, trace, operation, answer),
                events=[Event(e.name, e.attributes, e.at_ns) for e in spans.events],
                kind=SpanKind.SERVER,
                status=status,
                start_time=int(record.started_at * 1e9),
                end_time=end_ns,
                instrumentation_scope=SCOPE,
            )
        )
        winner = _winner(spans.attempts, trace, record)
        for index, attempt in enumerate(spans.attempts):
            attributes = self._client_attributes(attempt, index, operation)
            if attempt is winner:
                attributes.update(answer)
            error = attempt.error
            on_end(
                ReadableSpan(
                    f"{operation} {attempt.model}",
                    context=SpanContext(
                        spans.trace_id, attempt.span_id, is_remote=False, trace_flags=SAMPLED
                    ),
                    parent=server_context,
                    resource=self._resource,
                    attributes=attributes,
                    kind=SpanKind.CLIENT,
                    status=Status(StatusCode.UNSET)
                    if error is None
                    else Status(StatusCode.ERROR, error.label),
                    start_time=attempt.start_ns,
                    end_time=attempt.end_ns or end_ns,
                    instrumentation_scope=SCOPE,
                )
            )

    def _server_attributes(
        self,
        traced: TracedRequest,
        record: SpendRecord,
        trace: RouteTrace | None,
        operation: str,
        answer: dict[str, Any],
    ) -> Attributes:
        attributes: Attributes = {
            "gen_ai.operation.name": operation,
            "http.request.method": traced.method,
            "url.path": traced.path,
            "http.response.status_code": record.status,
            "gateway.request_id": record.request_id,
            "gateway.call_type": record.call_type,
            "gateway.model_group": record.model_group,
            "gateway.cache": "hit" if record.cache_hit else "miss",
            "gateway.attempts": record.attempts,
            "gateway.stream": record.stream,
        }
        body = traced.body
        if body is not None:
            model = body.get("model")
            if isinstance(model, str):
                attributes["gen_ai.request.model"] = model
            _request_settings(body, attributes)
        if record.deployment_id:
            attributes["gateway.deployment"] = record.deployment_id
        if record.provider:
            attributes["gen_ai.provider.name"] = provider_name(record.provider)
        if record.fallbacks:
            attributes["gateway.fallback"] = list(record.fallbacks)
        if trace is not None and trace.hedge is not None:
            attributes["gateway.hedge"] = trace.hedge
        if record.error_type:
            attributes["error.type"] = record.error_type
        attributes.update(answer)
        if self.capture_content and body is not None:
            _content(body, traced, attributes)
        return attributes

    def _answer_attributes(self, traced: TracedRequest, record: SpendRecord) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if record.model:
            attributes["gen_ai.response.model"] = record.model
        if record.status < 400 or record.prompt_tokens or record.completion_tokens:
            attributes["gen_ai.usage.input_tokens"] = record.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = record.completion_tokens
        if record.cached_tokens:
            attributes["gen_ai.usage.cache_read.input_tokens"] = record.cached_tokens
        if record.cache_write_tokens:
            attributes["gen_ai.usage.cache_creation.input_tokens"] = record.cache_write_tokens
        reasons, response_id = answer_facts(traced)
        if reasons:
            attributes["gen_ai.response.finish_reasons"] = reasons
        if response_id:
            attributes["gen_ai.response.id"] = response_id
        return attributes

    def _client_attributes(self, attempt: AttemptSpan, index: int, operation: str) -> Attributes:
        attributes: Attributes = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider_name(attempt.provider),
            "gen_ai.request.model": attempt.model,
            "gateway.model_group": attempt.group,
            "gateway.deployment": attempt.deployment_id,
            "gateway.attempt": index + 1,
        }
        if attempt.api_base:
            host, port = self._address(attempt.api_base)
            if host:
                attributes["server.address"] = host
                if port:
                    attributes["server.port"] = port
        if attempt.error is not None:
            attributes["error.type"] = attempt.error.label
            status = attempt.error.upstream_status
            if status:
                attributes["http.response.status_code"] = status
        elif attempt.cancelled:
            attributes["error.type"] = "cancelled"
        return attributes

    def _address(self, api_base: str) -> tuple[str | None, int | None]:
        """An upstream's host and port (read once per api_base: a config names a few)."""
        known = self._addresses.get(api_base)
        if known is None:
            address = urlsplit(api_base)
            known = (address.hostname, address.port or DEFAULT_PORTS.get(address.scheme))
            if len(self._addresses) < MAX_ADDRESSES:
                self._addresses[api_base] = known
        return known

    def shutdown(self) -> None:
        self._processor.shutdown()  # type: ignore[no-untyped-call]


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def _winner(
    attempts: list[AttemptSpan], trace: RouteTrace | None, record: SpendRecord
) -> AttemptSpan | None:
    """The attempt that served the answer (the last clean one on the served deployment)."""
    if trace is None or (record.status >= 400 and not record.completion_tokens):
        return None
    for attempt in reversed(attempts):
        if (
            attempt.deployment_id == trace.deployment_id
            and attempt.error is None
            and not attempt.cancelled
        ):
            return attempt
    return None


def _request_settings(body: dict[str, Any], attributes: Attributes) -> None:
    for field, name in REQUEST_SETTINGS.items():
        value = body.get(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[name] = value
    stop = body.get("stop") or body.get("stop_sequences")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = stop


def answer_facts(traced: TracedRequest) -> tuple[list[str], str | None]:
    """The answer's finish reasons and id, from the whole answer or a stream's last events."""
    documents: list[Any] = []
    if traced.answer is not None:
        documents.append(traced.answer)
    for data in traced.tail:
        if data:
            try:
                documents.append(orjson.loads(data))
            except orjson.JSONDecodeError:
                continue
    reasons: list[str] = []
    response_id: str | None = None
    for document in documents:
        if not isinstance(document, dict):
            continue
        found, identifier = _facts_of(document)
        reasons.extend(reason for reason in found if reason not in reasons)
        response_id = response_id or identifier
    return reasons, response_id


def _facts_of(document: dict[str, Any]) -> tuple[list[str], str | None]:
    if isinstance(document.get("response"), dict):  # a Responses stream's terminal event
        document = document["response"]
    reasons: list[str] = []
    choices = document.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            if isinstance(reason, str):
                reasons.append(reason)
    delta = document.get("delta")
    stop = document.get("stop_reason")
    if stop is None and isinstance(delta, dict):
        stop = delta.get("stop_reason")  # a Messages stream's message_delta
    if isinstance(stop, str):
        reasons.append(stop)
    if document.get("object") == "response":
        status = document.get("status")
        incomplete = document.get("incomplete_details")
        if isinstance(incomplete, dict) and isinstance(incomplete.get("reason"), str):
            reasons.append(incomplete["reason"])
        elif isinstance(status, str) and status != "in_progress":
            reasons.append(status)
    identifier = document.get("id")
    return reasons, identifier if isinstance(identifier, str) else None


def _content(body: dict[str, Any], traced: TracedRequest, attributes: Attributes) -> None:
    """Prompt and answer text as JSON attributes (only when capture is asked for)."""
    messages = body.get("messages", body.get("input", body.get("prompt")))
    if messages is not None:
        attributes["gen_ai.input.messages"] = orjson.dumps(messages).decode()
    system = body.get("system", body.get("instructions"))
    if system is not None:
        attributes["gen_ai.system_instructions"] = orjson.dumps(system).decode()
    answer = traced.answer if traced.answer is not None else traced.assembled
    if answer is None:
        return
    output = answer.get("choices", answer.get("content", answer.get("output")))
    if output is not None:
        attributes["gen_ai.output.messages"] = orjson.dumps(output).decode()
