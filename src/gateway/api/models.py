"""``GET /v1/models`` and ``GET /v1/models/{id}``: the model groups callers can ask for."""

from __future__ import annotations

import time

import orjson

from gateway.router.groups import ModelGroups

OWNER = "gateway"


def model_documents(groups: ModelGroups) -> tuple[bytes, dict[str, bytes]]:
    """The list body and one body per id, built once (the config changes rarely)."""
    created = int(time.time())
    names = groups.public_names()
    entries = [
        {"id": name, "object": "model", "created": created, "owned_by": OWNER} for name in names
    ]
    listing = orjson.dumps({"object": "list", "data": entries})
    by_id = {name: orjson.dumps(entry) for name, entry in zip(names, entries, strict=True)}
    return listing, by_id
