"""The models stored in the control database (``store_model_in_db``), opened for use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.control.rows import ModelRow
from gateway.control.store import ControlStore
from gateway.control.vault import SALT_KEY_ENV, Vault, VaultError

# Stored models read at once (a reload and the admin routes read them whole).
MAX_STORED_MODELS = 10_000


@dataclass(frozen=True, slots=True)
class StoredModel:
    row: ModelRow
    entry: dict[str, Any]  # model_name, litellm_params (with credentials), model_info


async def stored_models(
    store: ControlStore, vault: Vault | None
) -> tuple[list[StoredModel], list[str]]:
    """Every stored model that can be opened, and a warning for each that cannot."""
    rows = await store.model_list(MAX_STORED_MODELS)
    if rows and vault is None:
        return [], [
            f"{len(rows)} stored model(s) not loaded: {SALT_KEY_ENV} is not set, so their "
            "credentials cannot be opened"
        ]
    models: list[StoredModel] = []
    warnings: list[str] = []
    for row in rows:
        assert vault is not None
        try:
            params = vault.open(row.params_sealed)
        except VaultError as exc:
            warnings.append(f"stored model {row.model_id!r} not loaded: {exc}")
            continue
        info = orjson.loads(row.model_info)
        models.append(
            StoredModel(
                row,
                {
                    "model_name": row.model_name,
                    "litellm_params": params,
                    "model_info": {**info, "id": row.model_id},
                },
            )
        )
    return models, warnings
