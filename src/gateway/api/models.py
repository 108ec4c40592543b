"""``GET /v1/models`` and ``GET /v1/models/{id}``: the model groups callers can ask for.

In OpenAI's shape, or in Anthropic's for Anthropic clients (Claude Code finds its models
this way): ``{"data": [{"type": "model", "id", "display_name", "created_at"}],
"has_more", "first_id", "last_id"}``, paged by ``limit``, ``after_id`` and ``before_id``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qs

import orjson

from gateway.errors import InvalidRequest
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


def anthropic_documents(groups: ModelGroups) -> dict[str, bytes]:
    """One Anthropic-shaped body per id, built once."""
    created = datetime.fromtimestamp(int(time.time()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        name: orjson.dumps(
            {"type": "model", "id": name, "display_name": name, "created_at": created}
        )
        for name in groups.public_names()
    }


DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def anthropic_page(ids: Sequence[str], documents: dict[str, bytes], query: bytes) -> bytes:
    """One page of Anthropic's list, per the query's ``limit``, ``after_id``, ``before_id``."""
    params = parse_qs(query.decode("latin-1"))
    raw_limit = params.get("limit", [str(DEFAULT_LIMIT)])[0]
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(
            f"limit: must be an integer from 1 to {MAX_LIMIT}, not {raw_limit!r}", param="limit"
        )
    after = params.get("after_id", [None])[0]
    before = params.get("before_id", [None])[0]
    start, end = 0, len(ids)
    if after is not None:
        start = ids.index(after) + 1 if after in ids else len(ids)
    if before is not None:
        end = ids.index(before) if before in ids else 0
    window = list(ids[start:end])
    page = window[-limit:] if before is not None and after is None else window[:limit]
    has_more = len(page) < len(window)
    body = b'{"data":[' + b",".join(documents[name] for name in page) + b"]"
    return body + orjson.dumps(
        {
            "has_more": has_more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
    ).replace(b"{", b",", 1)
