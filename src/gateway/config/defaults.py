"""The embedded default config: mock models, so a fresh checkout runs with nothing else."""

from __future__ import annotations

from typing import Any

EMBEDDED_SOURCE = "<embedded defaults>"

EMBEDDED_CONFIG: dict[str, Any] = {
    "model_list": [
        {
            "model_name": "mock-chat",
            "litellm_params": {
                "model": "mock/mock-chat",
                "mock_latency_ms": 20,
                "mock_stream_chunks": 8,
            },
        },
        {
            # For agent frameworks: it calls the first tool it is offered, then answers
            # once it has the tool's result.
            "model_name": "mock-agent",
            "litellm_params": {
                "model": "mock/mock-agent",
                "mock_latency_ms": 20,
                "mock_tool_calls": "first_tool",
            },
        },
        {
            "model_name": "mock-embedding",
            "litellm_params": {"model": "mock/mock-embedding"},
            "model_info": {"mode": "embedding"},
        },
    ],
}
