"""Gateway configs the tests start from: deployments on the mock upstream."""

from __future__ import annotations

from typing import Any

MASTER_KEY = "sk-gateway-master-key-for-tests"
MAX_REQUEST_SIZE_MB = 1

# Model groups of ``upstream_config``: group -> (litellm model, deployment id, api key).
CHAT = "chat"
CHAT_UPSTREAM_MODEL = "gpt-upstream-chat"
CHAT_DEPLOYMENT = "chat-deployment"
CHAT_KEY = "sk-upstream-chat-deployment"
SLASHED = "openai/gpt-5.5"
SLASHED_DEPLOYMENT = "gpt-5.5-deployment"
SLASHED_KEY = "sk-upstream-gpt-5.5"
TEXT = "text"
TEXT_UPSTREAM_MODEL = "gpt-upstream-instruct"
TEXT_DEPLOYMENT = "text-deployment"
TEXT_KEY = "sk-upstream-text"
EMBED = "embed"
EMBED_UPSTREAM_MODEL = "text-embedding-upstream"
EMBED_DEPLOYMENT = "embed-deployment"
EMBED_KEY = "sk-upstream-embed"

GROUPS = [CHAT, SLASHED, TEXT, EMBED]

# Routing that stays out of the way of data-plane tests sharing one gateway: no
# retries, and no upstream failure cools a group's only deployment down for the
# tests that follow. (The router's own tests start gateways with their settings.)
QUIET_ROUTER = {"num_retries": 0, "allowed_fails": 1_000_000, "cooldown_time": 1}


def deployment(
    group: str,
    model: str,
    deployment_id: str,
    api_base: str,
    api_key: str,
    **params: Any,
) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": model, "api_base": api_base, "api_key": api_key, **params},
        "model_info": {"id": deployment_id},
    }


def upstream_config(api_base: str, **sections: Any) -> dict[str, Any]:
    """Four model groups on the mock upstream at ``api_base``; ``sections`` add or replace."""
    config: dict[str, Any] = {
        "model_list": [
            deployment(CHAT, f"openai/{CHAT_UPSTREAM_MODEL}", CHAT_DEPLOYMENT, api_base, CHAT_KEY),
            deployment(SLASHED, SLASHED, SLASHED_DEPLOYMENT, api_base, SLASHED_KEY),
            deployment(
                TEXT,
                f"text-completion-openai/{TEXT_UPSTREAM_MODEL}",
                TEXT_DEPLOYMENT,
                api_base,
                TEXT_KEY,
            ),
            deployment(
                EMBED, f"openai/{EMBED_UPSTREAM_MODEL}", EMBED_DEPLOYMENT, api_base, EMBED_KEY
            ),
        ],
        "general_settings": {"max_request_size_mb": MAX_REQUEST_SIZE_MB},
    }
    config["model_list"][3]["model_info"]["mode"] = "embedding"
    config.update(sections)
    return config
