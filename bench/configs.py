"""The one config both proxies run: the same deployments on the same mock, master-key auth.

Each upstream latency is its own model group (``bench-0ms``, ``bench-50ms``) of
two deployments on the mock's port for that latency, so every request is
routed across two deployments. The file is JSON, which is also YAML: both
proxies read it as their ``config.yaml``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MASTER_KEY = "sk-bench-master-key"


def group_name(latency_ms: int) -> str:
    return f"bench-{latency_ms}ms"


def proxy_config(
    mock_ports: dict[int, int],
    *,
    model_info: dict[str, Any] | None = None,
    provider: str = "openai",
) -> dict[str, Any]:
    """``mock_ports``: upstream latency in ms -> the mock's port answering with it;
    ``model_info``: fields added to every deployment's ``model_info``; ``provider``:
    ``openai`` (chat completions), or ``anthropic`` (the mock's Messages API)."""
    model_list = []
    for latency_ms, port in sorted(mock_ports.items()):
        for suffix in ("a", "b"):
            model_list.append(
                {
                    "model_name": group_name(latency_ms),
                    "litellm_params": {
                        "model": f"{provider}/bench-upstream",
                        # Anthropic's provider puts /v1/messages on its api_base itself.
                        "api_base": f"http://127.0.0.1:{port}"
                        + ("" if provider == "anthropic" else "/v1"),
                        "api_key": f"sk-upstream-{suffix}",
                    },
                    "model_info": {
                        "id": f"{group_name(latency_ms)}-{suffix}",
                        **(model_info or {}),
                    },
                }
            )
    return {"model_list": model_list, "general_settings": {"master_key": MASTER_KEY}}


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def request_body(
    latency_ms: int, stream: bool, *, nonce: bool = False, session: bool = False
) -> bytes:
    """A small chat request, the same for every target (the mock ignores its content).

    ``nonce``: the user message opens with ``__NONCE__``, which ``post.lua`` replaces
    with a value unique to each request when the run varies its bodies. ``session``:
    the body's ``user`` is ``__SESSION__``, which it replaces with one of a few dozen
    session ids in turn (with ``nonce``).
    """
    user = "__NONCE__ Say twenty tokens." if nonce else "Say twenty tokens."
    body: dict[str, Any] = {
        "model": group_name(latency_ms),
        "messages": [
            {"role": "system", "content": "You are a benchmark."},
            {"role": "user", "content": user},
        ],
        "max_tokens": 20,
    }
    if session:
        body["user"] = "__SESSION__"
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def messages_body(latency_ms: int, stream: bool, *, nonce: bool = False) -> bytes:
    """The same request as ``request_body``, for Anthropic's ``POST /v1/messages``."""
    user = "__NONCE__ Say twenty tokens." if nonce else "Say twenty tokens."
    body: dict[str, Any] = {
        "model": group_name(latency_ms),
        "system": "You are a benchmark.",
        "messages": [{"role": "user", "content": user}],
        "max_tokens": 20,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def responses_body(latency_ms: int, stream: bool, *, nonce: bool = False, store: bool) -> bytes:
    """The same request as ``request_body``, for ``POST /v1/responses``."""
    user = "__NONCE__ Say twenty tokens." if nonce else "Say twenty tokens."
    body: dict[str, Any] = {
        "model": group_name(latency_ms),
        "instructions": "You are a benchmark.",
        "input": user,
        "max_output_tokens": 20,
        "store": store,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def portkey_config(mock_port: int) -> dict[str, Any]:
    """The same two deployments for Portkey's gateway, which takes its routing from each
    request's ``x-portkey-config`` header rather than from a file: ``loadbalance`` across
    two OpenAI targets whose ``custom_host`` is the mock (Portkey draws one at random per
    request, weights 1 each when none are given)."""
    return {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {
                "provider": "openai",
                "api_key": f"sk-upstream-{suffix}",
                "custom_host": f"http://127.0.0.1:{mock_port}/v1",
            }
            for suffix in ("a", "b")
        ],
    }
