"""``/key/*``: virtual keys, with LiteLLM's routes and field names.

A key is generated here, shown once in the answer (``key``), and stored as its
sha256 (``token``). A key is named in later calls by either. Every change is
audited and then announced (``Invalidate(KEYS)``), so every process drops its
cached copy: a deleted key stops working everywhere within milliseconds.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.key_fields import KeyChanges, read_changes
from gateway.api.admin.request import AdminRequest, flag, text, text_list, whole_number
from gateway.control.rows import Change, KeyRow
from gateway.errors import InvalidRequest, ResourceNotFound
from gateway.keys.directory import key_event_id
from gateway.keys.durations import iso
from gateway.keys.fields import apply_to_key
from gateway.keys.gate import UNRESTRICTED, allows
from gateway.keys.model import Team, VirtualKey, describe_limits
from gateway.keys.periods import DEFAULT_ZONE
from gateway.keys.secret import custom_key_problem, display_name, hash_key, hash_of, new_key
from gateway.ledger.control_db import Conflict
from gateway.state.events import Invalidate, Scope

MAX_PAGE_SIZE = 100
MAX_DELETE = 100


async def generate(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    body = request.body
    fields = read_changes(KeyChanges, body, identifiers=frozenset({"key"}))
    chosen = text(body, "key", max_chars=512)
    if chosen is not None:
        problem = custom_key_problem(chosen)
        if problem is not None:
            raise InvalidRequest(f"Invalid 'key': {problem}.", param="key")
    secret = chosen or new_key()
    now = time.time()
    key = VirtualKey(
        key_hash=hash_key(secret),
        key_name=display_name(secret),
        created_at=now,
        updated_at=now,
        created_by=request.actor.name,
    )
    key = _zoned(control, apply_to_key(key, fields, now), fields, now)
    await _check_team(control, key)
    await _store(control, key, Change(request.actor.name, "generate"), insert=True)
    control.note(request.actor.name, "generate", "key", key.key_hash)
    await control.tell_fleet(Invalidate(Scope.KEYS, (key_event_id(key.key_hash),)))
    return {"key": secret, **describe_key(key, now, spend=0.0)}


async def update(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    body = request.body
    key_hash, by_alias = await _identify(control, body)
    identifiers = frozenset({"key", "key_alias"} if by_alias else {"key"})
    fields = read_changes(KeyChanges, body, identifiers=identifiers)
    current = await _load(control, key_hash)
    now = time.time()
    key = _zoned(control, apply_to_key(current, fields, now), fields, now)
    await _check_team(control, key)
    await _store(control, key, Change(request.actor.name, "update"), insert=False)
    control.note(request.actor.name, "update", "key", key_hash)
    await control.tell_fleet(Invalidate(Scope.KEYS, (key_event_id(key_hash),)))
    return describe_key(key, now, spend=await _spend(control, key, now))


async def delete(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    body = request.body
    request.only("keys", "key_aliases")
    named = text_list(body, "keys", max_items=MAX_DELETE) or []
    aliases = text_list(body, "key_aliases", max_items=MAX_DELETE) or []
    if not named and not aliases:
        raise InvalidRequest(
            "Name the keys to delete: 'keys' (keys or their hashes) or 'key_aliases'.",
            param="keys",
        )
    hashes = [hash_of(k) for k in named]
    for alias in aliases:
        found = await control.store.key_hash_of_alias(alias)
        if found is None:
            raise ResourceNotFound(f"No key has the alias {alias!r}.", param="key_aliases")
        hashes.append(found)
    hashes = list(dict.fromkeys(hashes))
    for key_hash in hashes:
        if await control.store.key_get(key_hash) is None:
            raise ResourceNotFound(
                f"Unknown key (hash {key_hash[:16]}...): nothing was deleted.", param="keys"
            )
    docs = await control.store.key_delete(hashes, Change(request.actor.name, "delete"))
    if not docs:
        raise ResourceNotFound("A key was deleted meanwhile: nothing was deleted.", param="keys")
    for key_hash in hashes:
        control.note(request.actor.name, "delete", "key", key_hash)
    await control.tell_fleet(Invalidate(Scope.KEYS, tuple(key_event_id(h) for h in hashes)))
    return {"deleted_keys": [*named, *aliases]}


async def regenerate(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    body = dict(request.body)
    if request.path_arg:
        if "key" in body:
            raise InvalidRequest("Name the key in the path or in the body, not both.", param="key")
        body["key"] = request.path_arg
    old_hash, _by_alias = await _identify(control, body, allow_alias=False)
    fields = read_changes(KeyChanges, body, identifiers=frozenset({"key", "new_key"}))
    chosen = text(body, "new_key", max_chars=512)
    if chosen is not None:
        problem = custom_key_problem(chosen)
        if problem is not None:
            raise InvalidRequest(f"Invalid 'new_key': {problem}.", param="new_key")
    current = await _load(control, old_hash)
    secret = chosen or new_key()
    now = time.time()
    key = _zoned(control, apply_to_key(current, fields, now), fields, now).with_changes(
        key_hash=hash_key(secret), key_name=display_name(secret)
    )
    await _check_team(control, key)
    row = _row(key)
    try:
        before = await control.store.key_replace(
            old_hash, row, Change(request.actor.name, "regenerate")
        )
    except Conflict:
        raise InvalidRequest(_conflict_message(key), param="new_key") from None
    if before is None:
        raise ResourceNotFound("The key was deleted meanwhile.", param="key")
    control.note(request.actor.name, "regenerate", "key", old_hash)
    await control.tell_fleet(
        Invalidate(Scope.KEYS, (key_event_id(old_hash), key_event_id(key.key_hash)))
    )
    return {"key": secret, **describe_key(key, now, spend=0.0)}


async def info(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params("key")
    named = text(dict(request.params), "key", max_chars=512)
    if named is None:
        raise InvalidRequest("Missing query parameter 'key' (the key or its hash).", param="key")
    key = await _load(control, hash_of(named))
    now = time.time()
    return {"key": named, "info": describe_key(key, now, spend=await _spend(control, key, now))}


async def list_keys(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params("page", "size", "team_id", "user_id", "key_alias", "return_full_object")
    params: dict[str, Any] = dict(request.params)
    page = whole_number(params, "page", low=1, high=1_000_000, default=1)
    size = whole_number(params, "size", low=1, high=MAX_PAGE_SIZE, default=10)
    full = flag(params, "return_full_object", default=False)
    docs, total = await control.store.key_list(
        team_id=text(params, "team_id"),
        user_id=text(params, "user_id"),
        key_alias=text(params, "key_alias"),
        offset=(page - 1) * size,
        limit=size,
    )
    keys = [VirtualKey.from_json(doc) for doc in docs]
    now = time.time()
    if full:
        # Each key's spend in its budget period, as /key/info gives it (a page is at most
        # MAX_PAGE_SIZE keys: one indexed sum each).
        described = [describe_key(k, now, spend=await _spend(control, k, now)) for k in keys]
    return {
        "keys": described if full else [k.key_hash for k in keys],
        "total_count": total,
        "current_page": page,
        "total_pages": (total + size - 1) // size,
    }


# --- shared ----------------------------------------------------------------------------


def budget_zone(control: ControlPlane) -> str:
    """Where budgets reset at midnight: ``litellm_settings.timezone``, UTC when unset."""
    return control.runtime.config.file.litellm_settings.timezone or DEFAULT_ZONE


def _zoned(
    control: ControlPlane, key: VirtualKey, fields: dict[str, Any], now: float
) -> VirtualKey:
    """The key with its budget schedule in the configured zone (recorded with the key, so
    every process counts the same periods whatever its own config says)."""
    limits = key.limits.in_zone(budget_zone(control), now, restarted="budget_duration" in fields)
    return key.with_changes(limits=limits)


def describe_key(key: VirtualKey, now: float, *, spend: float | None) -> dict[str, Any]:
    return {
        "token": key.key_hash,
        "key_name": key.key_name,
        "key_alias": key.key_alias,
        "team_id": key.team_id,
        "user_id": key.user_id,
        "models": list(key.models),
        "spend": spend,
        **describe_limits(key.limits, now),
        "expires": iso(key.expires_at) if key.expires_at is not None else None,
        "metadata": key.metadata,
        "blocked": key.blocked,
        "key_type": key.key_type,
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
        "created_by": key.created_by,
    }


async def _identify(
    control: ControlPlane, body: dict[str, Any], *, allow_alias: bool = True
) -> tuple[str, bool]:
    """The hash of the key a request names (by ``key``, else by ``key_alias``)."""
    named = text(body, "key", max_chars=512)
    if named is not None:
        return hash_of(named), False
    alias = text(body, "key_alias") if allow_alias else None
    if alias is None:
        raise InvalidRequest(
            "Name the key: 'key' (the key or its hash)"
            + (" or 'key_alias'." if allow_alias else "."),
            param="key",
        )
    found = await control.store.key_hash_of_alias(alias)
    if found is None:
        raise ResourceNotFound(f"No key has the alias {alias!r}.", param="key_alias")
    return found, True


async def _load(control: ControlPlane, key_hash: str) -> VirtualKey:
    doc = await control.store.key_get(key_hash)
    if doc is None:
        raise ResourceNotFound("Unknown key: no key has this value or hash.", param="key")
    return VirtualKey.from_json(doc)


async def _check_team(control: ControlPlane, key: VirtualKey) -> None:
    if key.team_id is None:
        return
    doc = await control.store.team_get(key.team_id)
    if doc is None:
        raise InvalidRequest(
            f"Unknown team {key.team_id!r}: create it with /team/new first.", param="team_id"
        )
    team = Team.from_json(doc)
    # The key's own list can only narrow the team's: LiteLLM's "everything" names
    # ("all-team-models", ...) mean "what the team allows" on a team's key.
    outside = [m for m in key.models if m not in UNRESTRICTED and not allows(team.models, (m,))]
    if outside:
        raise InvalidRequest(
            f"The team {team.label!r} does not allow {', '.join(map(repr, outside))}. "
            "Its models: " + ", ".join(team.models) + ".",
            param="models",
        )


async def _store(control: ControlPlane, key: VirtualKey, change: Change, *, insert: bool) -> None:
    row = _row(key)
    try:
        if insert:
            await control.store.key_insert(row, change)
        elif await control.store.key_update(row, change) is None:
            raise ResourceNotFound("The key was deleted meanwhile.", param="key")
    except Conflict:
        raise InvalidRequest(_conflict_message(key), param="key_alias") from None


async def _spend(control: ControlPlane, key: VirtualKey, now: float) -> float:
    start, _reset = key.limits.period(now)
    return await control.store.spend_since(key_hash=key.key_hash, since=start)


def _row(key: VirtualKey) -> KeyRow:
    return KeyRow(key.key_hash, key.key_alias, key.team_id, key.user_id, key.to_json())


def _conflict_message(key: VirtualKey) -> str:
    if key.key_alias is not None:
        return (
            f"The key_alias {key.key_alias!r} is already used by another key (or this key "
            "value exists already)."
        )
    return "This key value exists already: choose another."
