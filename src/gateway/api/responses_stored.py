"""Stored responses: ``GET`` and ``DELETE /v1/responses/{id}``, and its ``input_items``.

A response is visible only to the key that made it and to that key's team;
for anyone else, as for an id that never existed or has expired, the answer is
OpenAI's 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from gateway.api.http import JSON_HEADERS, Incoming, send_bytes
from gateway.api.services import DataPlane
from gateway.errors import InvalidRequest, MethodNotAllowed, ResourceNotFound
from gateway.ledger.responses_store import StoredResponse

PREFIXES = ("/v1/responses/", "/responses/")
INPUT_ITEMS = "/input_items"
MAX_PAGE = 100


async def handle_stored_response(plane: DataPlane, incoming: Incoming) -> None:
    caller = await plane.auth.authenticate(incoming.headers)
    path: str = incoming.scope["path"]
    rest = path[len(next(p for p in PREFIXES if path.startswith(p))) :]
    listing = rest.endswith(INPUT_ITEMS)
    response_id = rest[: -len(INPUT_ITEMS)] if listing else rest
    method = incoming.scope["method"]
    if not response_id or "/" in response_id:
        raise ResourceNotFound(f"Unknown path {path}.")
    store = plane.responses.store
    if method == "DELETE" and not listing:
        deleted = store is not None and await store.delete(
            response_id, caller.key_hash, caller.team_id
        )
        if not deleted:
            raise _not_found(response_id)
        payload = {"id": response_id, "object": "response", "deleted": True}
        await _answer(incoming, payload)
        return
    if method != "GET":
        raise MethodNotAllowed(f"Method {method} is not allowed on {path}.")
    stored = (
        await store.get(response_id, caller.key_hash, caller.team_id) if store is not None else None
    )
    if stored is None:
        raise _not_found(response_id)
    if listing:
        await _answer(incoming, _items_page(stored, incoming.scope.get("query_string", b"")))
    else:
        await _answer(incoming, stored.response)


def _not_found(response_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"Response with id '{response_id}' not found.", param="response_id")


def _items_page(stored: StoredResponse, query_string: bytes) -> dict[str, Any]:
    """One page of the input items (OpenAI's cursor list: ``after``, ``limit``, ``order``)."""
    query = _query(query_string)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order: expected 'asc' or 'desc'", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise InvalidRequest("limit: expected an integer", param="limit") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit: expected 1 to {MAX_PAGE}", param="limit")
    items = list(stored.input_items)
    if order == "desc":
        items.reverse()
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    }


def _query(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode("latin-1")))


async def _answer(incoming: Incoming, payload: dict[str, Any]) -> None:
    await send_bytes(
        incoming.send,
        200,
        orjson.dumps(payload),
        [*JSON_HEADERS, (b"x-request-id", incoming.request_id.encode())],
    )
