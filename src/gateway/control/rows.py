"""The control plane's rows as the store reads and writes them.

Keys and teams travel as JSON documents (``doc``) whose meaning belongs to the
``keys`` package; the store only indexes the columns it filters on. A stored
model's parameters are sealed before they reach the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Change:
    """Who changes something and why: each write leaves an audit row with it."""

    actor: str
    action: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_hash: str
    key_alias: str | None
    team_id: str | None
    user_id: str | None
    doc: str  # JSON


@dataclass(frozen=True, slots=True)
class TeamRow:
    team_id: str
    team_alias: str | None
    doc: str  # JSON


@dataclass(frozen=True, slots=True)
class ModelRow:
    model_id: str
    model_name: str
    params_sealed: str  # litellm_params, encrypted (see ``vault``)
    model_info: str  # JSON
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class OverrideRow:
    model_group: str
    redirect_to: str | None
    fallbacks: tuple[str, ...] | None
    expires_at: float  # epoch seconds
    reason: str
    set_by: str
    set_at: float

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "model_group": self.model_group,
                "redirect_to": self.redirect_to,
                "fallbacks": list(self.fallbacks) if self.fallbacks is not None else None,
                "expires_at": self.expires_at,
                "reason": self.reason,
                "set_by": self.set_by,
                "set_at": self.set_at,
            }
        ).decode()


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: float
    actor: str
    action: str
    target_kind: str
    target_id: str
    reason: str | None
    before: str | None  # JSON
    after: str | None  # JSON
