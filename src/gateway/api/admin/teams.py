"""``/team/*``: teams with budgets and limits of their own, checked with each key's.

A key's request must pass its own limits and its team's. Deleting a team
deletes its keys (as LiteLLM does); every change is audited and announced.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.key_fields import TeamChanges, read_changes
from gateway.api.admin.keys import budget_zone, describe_key
from gateway.api.admin.request import AdminRequest, text, text_list, whole_number
from gateway.control.rows import Change, TeamRow
from gateway.errors import InvalidRequest, ResourceNotFound
from gateway.keys.directory import key_event_id, team_event_id
from gateway.keys.durations import iso
from gateway.keys.fields import apply_to_team
from gateway.keys.model import Team, VirtualKey, describe_limits
from gateway.ledger.control_db import Conflict
from gateway.state.events import Invalidate, Scope

MAX_TEAM_KEYS_SHOWN = 100
MAX_DELETE = 100
MAX_TEAM_ID_CHARS = 128
MAX_TEAMS_PAGE = 100


async def new(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    body = request.body
    fields = read_changes(TeamChanges, body, identifiers=frozenset({"team_id"}))
    team_id = text(body, "team_id", max_chars=MAX_TEAM_ID_CHARS) or str(uuid.uuid4())
    now = time.time()
    team = apply_to_team(Team(team_id=team_id, created_at=now, updated_at=now), fields, now)
    team = _zoned(control, team, fields, now)
    try:
        await control.store.team_insert(_row(team), Change(request.actor.name, "create"))
    except Conflict:
        raise InvalidRequest(f"The team {team_id!r} exists already.", param="team_id") from None
    control.note(request.actor.name, "create", "team", team_id)
    await control.tell_fleet(Invalidate(Scope.KEYS, (team_event_id(team_id),)))
    return describe_team(team, now, spend=0.0)


async def update(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    body = request.body
    team_id = _team_id(body)
    fields = read_changes(TeamChanges, body, identifiers=frozenset({"team_id"}))
    current = await _load(control, team_id)
    now = time.time()
    team = _zoned(control, apply_to_team(current, fields, now), fields, now)
    if await control.store.team_update(_row(team), Change(request.actor.name, "update")) is None:
        raise ResourceNotFound(f"The team {team_id!r} was deleted meanwhile.", param="team_id")
    control.note(request.actor.name, "update", "team", team_id)
    await control.tell_fleet(Invalidate(Scope.KEYS, (team_event_id(team_id),)))
    return describe_team(team, now, spend=await _spend(control, team, now))


async def delete(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only("team_ids")
    team_ids = text_list(request.body, "team_ids", max_items=MAX_DELETE)
    if not team_ids:
        raise InvalidRequest("Name the teams to delete: 'team_ids'.", param="team_ids")
    team_ids = list(dict.fromkeys(team_ids))
    for team_id in team_ids:
        await _load(control, team_id)
    deleted = await control.store.team_delete(team_ids, Change(request.actor.name, "delete"))
    if deleted is None:
        raise ResourceNotFound("A team was deleted meanwhile: nothing was deleted.")
    _docs, key_hashes = deleted
    for team_id in team_ids:
        control.note(request.actor.name, "delete", "team", team_id)
    await control.tell_fleet(
        Invalidate(
            Scope.KEYS,
            (*(team_event_id(t) for t in team_ids), *(key_event_id(h) for h in key_hashes)),
        )
    )
    return {"deleted_teams": team_ids, "deleted_keys": len(key_hashes)}


async def info(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params("team_id")
    team_id = _team_id(dict(request.params))
    team = await _load(control, team_id)
    now = time.time()
    docs = await control.store.team_keys(team_id, MAX_TEAM_KEYS_SHOWN)
    return {
        "team_id": team_id,
        "team_info": describe_team(team, now, spend=await _spend(control, team, now)),
        "keys": [describe_key(VirtualKey.from_json(d), now, spend=None) for d in docs],
    }


async def list_teams(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    """Every team (by id), each with its spend in its budget period."""
    request.only_params("page", "size")
    params: dict[str, Any] = dict(request.params)
    page = whole_number(params, "page", low=1, high=1_000_000, default=1)
    size = whole_number(params, "size", low=1, high=MAX_TEAMS_PAGE, default=MAX_TEAMS_PAGE)
    docs, total = await control.store.team_list(offset=(page - 1) * size, limit=size)
    now = time.time()
    teams = [Team.from_json(doc) for doc in docs]
    return {
        "teams": [describe_team(t, now, spend=await _spend(control, t, now)) for t in teams],
        "total_count": total,
        "current_page": page,
        "total_pages": (total + size - 1) // size,
    }


def describe_team(team: Team, now: float, *, spend: float | None) -> dict[str, Any]:
    return {
        "team_id": team.team_id,
        "team_alias": team.team_alias,
        "models": list(team.models),
        "spend": spend,
        **describe_limits(team.limits, now),
        "metadata": team.metadata,
        "blocked": team.blocked,
        "created_at": iso(team.created_at),
        "updated_at": iso(team.updated_at),
    }


def _zoned(control: ControlPlane, team: Team, fields: dict[str, Any], now: float) -> Team:
    """The team with its budget schedule in the configured zone (as for keys)."""
    limits = team.limits.in_zone(budget_zone(control), now, restarted="budget_duration" in fields)
    return replace(team, limits=limits)


def _team_id(source: dict[str, Any]) -> str:
    team_id = text(source, "team_id", max_chars=MAX_TEAM_ID_CHARS)
    if team_id is None:
        raise InvalidRequest("Missing 'team_id'.", param="team_id")
    return team_id


async def _load(control: ControlPlane, team_id: str) -> Team:
    doc = await control.store.team_get(team_id)
    if doc is None:
        raise ResourceNotFound(f"Unknown team {team_id!r}.", param="team_id")
    return Team.from_json(doc)


async def _spend(control: ControlPlane, team: Team, now: float) -> float:
    start, _reset = team.limits.period(now)
    return await control.store.spend_since(team_id=team.team_id, since=start)


def _row(team: Team) -> TeamRow:
    return TeamRow(team.team_id, team.team_alias, team.to_json())
