"""A span exporter: OTLP/HTTP with protobuf bodies, as a collector's 4318 port takes them.

The SDK's ``BatchSpanProcessor`` calls ``export`` on its own thread with each batch;
the batch is written by ``otlp_wire`` and POSTed to the endpoint, gzip-compressed when
``OTEL_EXPORTER_OTLP_COMPRESSION=gzip``, retried with backoff on the answers the OTLP
specification calls retryable (429, 502, 503, 504) and on connection failures, within
the export timeout. A failed batch is reported (``counted``) and dropped: traces never
hold back the requests they describe.
"""

from __future__ import annotations

import gzip
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from gateway.observability.otlp_wire import export_request

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 502, 503, 504})
USER_AGENT = "gateway-otlp-exporter"


class RetryableExport(Exception):
    """The collector could not take the batch now; sending it again may work."""


class OtlpHttpExporter(SpanExporter):
    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float,
        gzip_body: bool = False,
        ca_file: str | None = None,
        counted: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        self._endpoint = endpoint
        self._headers = {
            **headers,
            "Content-Type": "application/x-protobuf",
            "User-Agent": USER_AGENT,
        }
        if gzip_body:
            self._headers["Content-Encoding"] = "gzip"
        self._gzip = gzip_body
        self._timeout = timeout_s
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._counted = counted
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown or not spans:
            return SpanExportResult.FAILURE if self._shutdown else SpanExportResult.SUCCESS
        body = export_request(spans)
        if self._gzip:
            body = gzip.compress(body, compresslevel=6)
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(RetryableExport),
                stop=stop_after_delay(self._timeout),
                wait=wait_exponential_jitter(initial=0.2, max=2.0),
                reraise=True,
            ):
                with attempt:
                    self._post(body)
        except Exception as exc:
            # The reason only: never the headers (they may carry the collector's key).
            log.warning("trace export failed: %s spans dropped (%s)", len(spans), exc)
            self._counted(False)
            return SpanExportResult.FAILURE
        self._counted(True)
        return SpanExportResult.SUCCESS

    def _post(self, body: bytes) -> None:
        # The operator's collector URL (http or https, checked at start-up).
        request = urllib.request.Request(  # noqa: S310
            self._endpoint, data=body, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 (the operator's collector URL)
                request, timeout=self._timeout, context=self._context
            ) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRYABLE:
                raise RetryableExport(f"the collector answered {exc.code}") from None
            raise RuntimeError(f"the collector refused the batch ({exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RetryableExport(f"cannot reach the collector: {exc}") from None

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
