"""A key's or a team's new state from the fields an admin request set.

``apply_*`` makes the new key or team from the old one and the fields present
(checked by ``api/admin/key_fields``). ``null`` clears a field where clearing
means something (no budget, no expiry, every model).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.errors import InvalidRequest
from gateway.keys.durations import BadDuration, duration_seconds, instant
from gateway.keys.model import LLM_API, Limits, Team, VirtualKey


def apply_to_key(key: VirtualKey, fields: dict[str, Any], now: float) -> VirtualKey:
    changes: dict[str, Any] = {"updated_at": now}
    for name in ("key_alias", "team_id", "user_id", "metadata", "blocked"):
        if name in fields:
            changes[name] = fields[name] if name != "metadata" else fields[name] or {}
    if "models" in fields:
        changes["models"] = tuple(fields["models"] or ())
    if "key_type" in fields:
        changes["key_type"] = fields["key_type"] or LLM_API
    if "duration" in fields:
        seconds = fields["duration"]
        changes["expires_at"] = None if seconds is None else now + seconds
    if "expires" in fields:
        changes["expires_at"] = _expiry(fields["expires"], now)
    changes["limits"] = apply_limits(key.limits, fields, now)
    return key.with_changes(**changes)


def apply_to_team(team: Team, fields: dict[str, Any], now: float) -> Team:
    changes: dict[str, Any] = {"updated_at": now}
    for name in ("team_alias", "blocked"):
        if name in fields:
            changes[name] = fields[name]
    if "metadata" in fields:
        changes["metadata"] = fields["metadata"] or {}
    if "models" in fields:
        changes["models"] = tuple(fields["models"] or ())
    changes["limits"] = apply_limits(team.limits, fields, now)
    return replace(team, **changes)


def apply_limits(limits: Limits, fields: dict[str, Any], now: float) -> Limits:
    changes: dict[str, Any] = {}
    for name in ("max_budget", "rpm_limit", "tpm_limit", "max_parallel_requests"):
        if name in fields:
            changes[name] = fields[name]
    if "budget_duration" in fields:
        text = fields["budget_duration"]
        changes["budget_duration"] = text
        changes["budget_duration_s"] = duration_seconds(text) if text is not None else None
        # A new schedule starts now: the first period is a whole one.
        changes["budget_anchor"] = now
    elif limits.budget_anchor == 0.0:
        changes["budget_anchor"] = now
    return replace(limits, **changes)


def _expiry(value: Any, now: float) -> float | None:
    if value is None:
        return None
    try:
        return now + duration_seconds(value)
    except BadDuration:
        pass
    try:
        return instant(value)
    except BadDuration as exc:
        raise InvalidRequest(f"Invalid 'expires': {exc}.", param="expires") from None
