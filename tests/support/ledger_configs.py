"""Gateway configs for the ledger tests: priced deployments on the mock upstream."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from support.configs import CHAT, EMBED, MASTER_KEY, SLASHED, deployment, upstream_config

# Prices set in model_info (USD per token).
CHAT_INPUT = 1e-06
CHAT_OUTPUT = 2e-06
EMBED_INPUT = 1e-07
# A model group priced by the shipped table (gpt-4o-mini: 1.5e-07 in, 6e-07 out).
MINI = "mini"
MINI_INPUT = 1.5e-07
MINI_OUTPUT = 6e-07
# SLASHED (openai/gpt-5.5) has no price anywhere: its cost is unknown.
UNPRICED = SLASHED
MASTER_KEY_HASH = hashlib.sha256(MASTER_KEY.encode()).hexdigest()


def ledger_config(api_base: str, data_dir: Path, **general: Any) -> dict[str, Any]:
    config = upstream_config(api_base)
    models = config["model_list"]
    for entry in models:
        if entry["model_name"] == CHAT:
            entry["model_info"].update(
                input_cost_per_token=CHAT_INPUT, output_cost_per_token=CHAT_OUTPUT
            )
        elif entry["model_name"] == EMBED:
            entry["model_info"].update(input_cost_per_token=EMBED_INPUT)
    models.append(deployment(MINI, "openai/gpt-4o-mini", "mini-deployment", api_base, "sk-mini"))
    config["general_settings"].update(
        {"proxy_batch_write_at": 0.2, "ledger_data_dir": str(data_dir), **general}
    )
    return config
