"""``GET /metrics`` (and ``/metrics/``): the Prometheus exposition, every worker's sum."""

from __future__ import annotations

from gateway.api.http import Incoming, send_bytes
from gateway.api.services import DataPlane
from gateway.observability.metrics import EXPOSITION_CONTENT_TYPE

CONTENT_TYPE = EXPOSITION_CONTENT_TYPE.encode()


async def serve_metrics(plane: DataPlane, request: Incoming) -> None:
    if plane.metrics_need_auth:
        plane.auth.check(request.headers)
    await send_bytes(
        request.send,
        200,
        plane.metrics.exposition(),
        [(b"content-type", CONTENT_TYPE), (b"x-request-id", request.request_id.encode())],
    )
