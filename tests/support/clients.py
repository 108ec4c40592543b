"""OpenAI SDK clients on a gateway: its master key, no SDK retries, bounded timeouts."""

from __future__ import annotations

from typing import Any

import openai

from support.gateway_process import GatewayProcess

CLIENT_TIMEOUT_S = 30.0


def sdk_client(process: GatewayProcess, **options: Any) -> openai.OpenAI:
    """A sync OpenAI client on ``process``: its master key, no retries, bounded timeout."""
    return openai.OpenAI(
        base_url=options.pop("base_url", process.v1_url),
        api_key=options.pop("api_key", process.master_key or "no-key-needed"),
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
        **options,
    )


def async_sdk_client(process: GatewayProcess, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=options.pop("base_url", process.v1_url),
        api_key=options.pop("api_key", process.master_key or "no-key-needed"),
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
        **options,
    )
