"""Errors leave the gateway here, in OpenAI's shape: one table, one function."""

from __future__ import annotations

import math

import orjson

from gateway.errors import GatewayError


def error_body(error: GatewayError) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "message": error.message,
                "type": error.openai_type,
                "param": error.param,
                "code": error.code,
            }
        }
    )


def error_headers(error: GatewayError) -> list[tuple[bytes, bytes]]:
    if error.retry_after is None:
        return []
    return [(b"retry-after", str(max(1, math.ceil(error.retry_after))).encode())]


def error_status(error: GatewayError) -> int:
    status = error.http_status()
    return status if 400 <= status <= 599 else 500
