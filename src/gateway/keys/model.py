"""Virtual keys and teams: what they allow, what they may spend, how fast they may go.

Both carry the same ``Limits``. A budget runs in periods of ``budget_duration``
(see ``periods``): the first from ``budget_anchor`` (when the schedule was
set) to the first reset, the next ones between resets at midnight in
``budget_timezone``, the zone configured when the schedule was recorded. The
periods are a function of the stored document alone, so every process
computes the same ones, and the reset needs no job: a new period simply
starts counting from zero. Without ``budget_duration`` the budget is for the
key's whole life.

A schedule recorded before calendar periods (no ``budget_timezone``) keeps
counting whole durations from its anchor until the admin API next writes it;
that write moves it to calendar periods at the end of the period it is in.

Stored as JSON documents; the database indexes only what it filters on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from gateway.keys.durations import BadDuration, iso
from gateway.keys.periods import DEFAULT_ZONE, cadence, first_end, period, rolling_period, time_zone

LLM_API = "llm_api"
MANAGEMENT = "management"
KEY_TYPES = (LLM_API, MANAGEMENT)


@dataclass(frozen=True, slots=True)
class Limits:
    max_budget: float | None = None  # USD per period
    budget_duration: str | None = None  # as given ("30d"); None: no reset
    budget_duration_s: float | None = None
    budget_anchor: float = 0.0  # epoch seconds the first period starts at
    # The zone the resets fall at midnight in (IANA name); None: a schedule from before
    # calendar periods, in whole durations from the anchor.
    budget_timezone: str | None = DEFAULT_ZONE
    # (anchor, end) when the first period ends elsewhere than at the schedule's first reset:
    # a schedule moved from an older one finishes the period it was in. Holds only for
    # that anchor, so a schedule set anew drops it.
    budget_first_end: tuple[float, float] | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None

    def period(self, now: float) -> tuple[float, float | None]:
        """(start, reset time) of the budget period holding ``now``; no reset without a duration."""
        length = self.budget_duration_s
        if length is None or self.budget_duration is None:
            return 0.0, None
        anchor = self.budget_anchor
        if self.budget_timezone is None:
            return rolling_period(anchor, length, now)
        try:
            rule = cadence(self.budget_duration)
        except BadDuration:
            # Not written by this version's admin API: count whole durations, as before.
            return rolling_period(anchor, length, now)
        zone = time_zone(self.budget_timezone)
        moved = self.budget_first_end
        if moved is not None and moved[0] == anchor:
            end = moved[1]
        else:
            end = first_end(rule, zone, anchor)
        return period(rule, zone, anchor, end, now)

    def in_zone(self, zone: str, now: float, *, restarted: bool) -> Limits:
        """The schedule as the admin API records it, with resets in ``zone`` (the configured
        timezone). One just set (``restarted``: its anchor is now) starts there at once; an
        older one, or one in another zone, finishes the period it is in and then follows
        ``zone``: no spend is counted twice, none is forgiven."""
        if restarted or self.budget_duration is None:
            return replace(self, budget_timezone=zone, budget_first_end=None)
        if self.budget_timezone == zone:
            return self
        start, end = self.period(now)
        if end is None:
            return replace(self, budget_timezone=zone, budget_first_end=None)
        return replace(
            self, budget_timezone=zone, budget_anchor=start, budget_first_end=(start, end)
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "max_budget": self.max_budget,
            "budget_duration": self.budget_duration,
            "budget_duration_s": self.budget_duration_s,
            "budget_anchor": self.budget_anchor,
            "budget_timezone": self.budget_timezone,
            "budget_first_end": (
                list(self.budget_first_end) if self.budget_first_end is not None else None
            ),
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "max_parallel_requests": self.max_parallel_requests,
        }

    @staticmethod
    def from_doc(doc: dict[str, Any]) -> Limits:
        return Limits(
            max_budget=doc.get("max_budget"),
            budget_duration=doc.get("budget_duration"),
            budget_duration_s=doc.get("budget_duration_s"),
            budget_anchor=float(doc.get("budget_anchor") or 0.0),
            # Absent from documents written before calendar periods: their schedule rolls on.
            budget_timezone=doc.get("budget_timezone"),
            budget_first_end=_pair(doc.get("budget_first_end")),
            rpm_limit=doc.get("rpm_limit"),
            tpm_limit=doc.get("tpm_limit"),
            max_parallel_requests=doc.get("max_parallel_requests"),
        )


@dataclass(frozen=True, slots=True)
class VirtualKey:
    key_hash: str
    key_name: str  # "sk-...AbCd": enough to recognise, not to use
    created_at: float
    updated_at: float
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    models: tuple[str, ...] = ()  # empty: every model
    limits: Limits = field(default_factory=Limits)
    expires_at: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    blocked: bool = False
    key_type: str = LLM_API  # management keys call the admin API, not models
    created_by: str = ""

    @property
    def label(self) -> str:
        """How messages and the audit name the key (never the key itself)."""
        return self.key_alias or self.key_name

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "key_hash": self.key_hash,
                "key_name": self.key_name,
                "key_alias": self.key_alias,
                "team_id": self.team_id,
                "user_id": self.user_id,
                "models": list(self.models),
                **self.limits.to_doc(),
                "expires_at": self.expires_at,
                "metadata": self.metadata,
                "blocked": self.blocked,
                "key_type": self.key_type,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
                "created_by": self.created_by,
            }
        ).decode()

    @staticmethod
    def from_json(text: str | bytes) -> VirtualKey:
        doc = orjson.loads(text)
        return VirtualKey(
            key_hash=doc["key_hash"],
            key_name=doc["key_name"],
            created_at=float(doc["created_at"]),
            updated_at=float(doc["updated_at"]),
            key_alias=doc.get("key_alias"),
            team_id=doc.get("team_id"),
            user_id=doc.get("user_id"),
            models=tuple(doc.get("models") or ()),
            limits=Limits.from_doc(doc),
            expires_at=doc.get("expires_at"),
            metadata=doc.get("metadata") or {},
            blocked=bool(doc.get("blocked")),
            key_type=doc.get("key_type") or LLM_API,
            created_by=doc.get("created_by") or "",
        )

    def with_changes(self, **changes: Any) -> VirtualKey:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str
    created_at: float
    updated_at: float
    team_alias: str | None = None
    models: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    metadata: dict[str, Any] = field(default_factory=dict)
    blocked: bool = False

    @property
    def label(self) -> str:
        return self.team_alias or self.team_id

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "team_id": self.team_id,
                "team_alias": self.team_alias,
                "models": list(self.models),
                **self.limits.to_doc(),
                "metadata": self.metadata,
                "blocked": self.blocked,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
            }
        ).decode()

    @staticmethod
    def from_json(text: str | bytes) -> Team:
        doc = orjson.loads(text)
        return Team(
            team_id=doc["team_id"],
            created_at=float(doc["created_at"]),
            updated_at=float(doc["updated_at"]),
            team_alias=doc.get("team_alias"),
            models=tuple(doc.get("models") or ()),
            limits=Limits.from_doc(doc),
            metadata=doc.get("metadata") or {},
            blocked=bool(doc.get("blocked")),
        )


def describe_limits(limits: Limits, now: float) -> dict[str, Any]:
    """The limits as the admin API shows them (with the current period's reset time)."""
    _start, reset = limits.period(now)
    return {
        "max_budget": limits.max_budget,
        "budget_duration": limits.budget_duration,
        "budget_reset_at": iso(reset) if reset is not None else None,
        "budget_timezone": limits.budget_timezone if limits.budget_duration is not None else None,
        "rpm_limit": limits.rpm_limit,
        "tpm_limit": limits.tpm_limit,
        "max_parallel_requests": limits.max_parallel_requests,
    }


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list) and len(value) == 2:
        return float(value[0]), float(value[1])
    return None
