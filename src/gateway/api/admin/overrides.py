"""``/admin/overrides``: redirect a model group, or replace its fallback chain, for a while.

An override is stored in the database first (with its audit row), then handed
to the fleet: the Redis-backed view every router reads, which every process
updates within milliseconds. If Redis cannot take it, this process applies
it at once and the others pick it up from the database (they poll the
control versions). It ends by itself at its expiry; each change is logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import Field

from gateway.api.admin.context import ControlPlane
from gateway.api.admin.request import AdminRequest
from gateway.api.control.bodies import Body, parse, text, whole_number
from gateway.control.override_rules import Routing, check_fallbacks, check_group, check_redirect
from gateway.control.rows import Change, OverrideRow
from gateway.errors import InvalidRequest, ResourceNotFound
from gateway.keys.durations import iso
from gateway.state.events import OverrideDeleted, OverrideSet
from gateway.state.guard import StateUnavailable
from gateway.state.overrides import Override

log = logging.getLogger("gateway.admin")

MAX_TTL_S = 30 * 86400
MAX_REASON_CHARS = 500


class OverridePut(Body):
    """Redirect the group's traffic to another group, or replace its fallback chain."""

    redirect_to: text() | None = Field(  # type: ignore[valid-type]
        default=None, description="The model group to send the group's requests to."
    )
    fallbacks: list[text()] | None = Field(  # type: ignore[valid-type]
        default=None, max_length=100, description="The fallback chain to use instead."
    )
    ttl_seconds: whole_number(1, MAX_TTL_S) = Field(  # type: ignore[valid-type]
        description="How long it stays in force (1 s to 30 days)."
    )
    reason: text(MAX_REASON_CHARS) = Field(  # type: ignore[valid-type]
        description="Why, for the audit trail (an incident number, say)."
    )


class OverrideDelete(Body):
    reason: text(MAX_REASON_CHARS) | None = None  # type: ignore[valid-type]


async def put_override(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    group = request.path_arg
    put = parse(OverridePut, request.body)
    ttl, reason, redirect, chain = put.ttl_seconds, put.reason, put.redirect_to, put.fallbacks
    if (redirect is None) == (chain is None):
        raise InvalidRequest(
            "Give exactly one of 'redirect_to' (a model group) and 'fallbacks' (a list of "
            "model groups); the other stays null.",
            param="redirect_to",
        )
    routing = Routing.of(control.runtime.config)
    check_group(routing, group)
    now = time.time()
    live = {row.model_group: row for row in await control.store.override_list(now)}
    live.pop(group, None)  # this group's own override is being replaced
    fallbacks: tuple[str, ...] | None = None
    if redirect is not None:
        redirect = check_redirect(routing, group, redirect, live)
    else:
        assert chain is not None
        fallbacks = check_fallbacks(routing, group, chain, live)
    row = OverrideRow(
        model_group=group,
        redirect_to=redirect,
        fallbacks=fallbacks,
        expires_at=now + ttl,
        reason=reason,
        set_by=request.actor.name,
        set_at=now,
    )
    previous = await control.store.override_put(row, Change(request.actor.name, "set", reason))
    propagated = await _share(control, row)
    log.warning(
        "fallback override set",
        extra={
            "model_group": group,
            "redirect_to": redirect,
            "fallbacks": list(fallbacks) if fallbacks is not None else None,
            "expires_at": iso(row.expires_at),
            "reason": reason,
            "actor": request.actor.name,
            "previous": _describe(previous, now) if previous is not None else None,
        },
    )
    return {
        **_describe(row, now),
        "previous": _describe(previous, now) if previous is not None else None,
        "propagated": propagated,
    }


async def delete_override(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    group = request.path_arg
    request.only_params("reason")
    reason = (
        parse(OverrideDelete, request.body).reason
        or parse(OverrideDelete, dict(request.params)).reason
    )
    now = time.time()
    removed = await control.store.override_delete(
        group, Change(request.actor.name, "delete", reason)
    )
    in_view = any(o.group == group for o in await control.overrides.list())
    if removed is None and not in_view:
        raise ResourceNotFound(f"No override is in force for {group!r}.", code="override_not_found")
    propagated = await _unshare(control, group)
    log.warning(
        "fallback override deleted",
        extra={
            "model_group": group,
            "reason": reason,
            "actor": request.actor.name,
            "previous": _describe(removed, now) if removed is not None else None,
        },
    )
    return {
        "model_group": group,
        "deleted": True,
        "previous": _describe(removed, now) if removed is not None else None,
        "propagated": propagated,
    }


async def get_override(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params()
    now = time.time()
    for row in await control.store.override_list(now):
        if row.model_group == request.path_arg:
            return _describe(row, now, here=_here(control, row))
    raise ResourceNotFound(
        f"No override is in force for {request.path_arg!r}.", code="override_not_found"
    )


async def list_overrides(control: ControlPlane, request: AdminRequest) -> dict[str, Any]:
    request.only_params()
    now = time.time()
    rows = await control.store.override_list(now)
    return {"data": [_describe(row, now, here=_here(control, row)) for row in rows]}


# --- the fleet --------------------------------------------------------------------------


async def _share(control: ControlPlane, row: OverrideRow) -> bool:
    override = Override(row.model_group, row.redirect_to, row.fallbacks, row.expires_at)
    try:
        await control.overrides.set(override)
    except StateUnavailable as exc:
        control.bus.deliver(
            OverrideSet(row.model_group, row.redirect_to, row.fallbacks, row.expires_at)
        )
        log.warning(
            "override applied here only; other processes read it from the database",
            extra={"model_group": row.model_group, "reason": str(exc)},
        )
        return False
    return True


async def _unshare(control: ControlPlane, group: str) -> bool:
    try:
        await control.overrides.delete(group)
    except StateUnavailable as exc:
        control.bus.deliver(OverrideDeleted(group))
        log.warning(
            "override removed here only; other processes read it from the database",
            extra={"model_group": group, "reason": str(exc)},
        )
        return False
    return True


def _here(control: ControlPlane, row: OverrideRow) -> bool:
    """Whether this process's router applies the override now."""
    view = control.overrides
    if row.redirect_to is not None:
        return view.redirect(row.model_group) == row.redirect_to
    return view.fallbacks(row.model_group) == row.fallbacks


def _describe(row: OverrideRow, now: float, *, here: bool | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "model_group": row.model_group,
        "redirect_to": row.redirect_to,
        "fallbacks": list(row.fallbacks) if row.fallbacks is not None else None,
        "expires_at": iso(row.expires_at),
        "seconds_left": max(0, round(row.expires_at - now)),
        "reason": row.reason,
        "set_by": row.set_by,
        "set_at": iso(row.set_at),
    }
    if here is not None:
        described["in_force_here"] = here
    return described
