"""The messages the fleet sends itself over pub/sub, and their wire format.

Each message is one JSON object: ``kind``, ``origin`` (the sending process,
so it can skip its own messages) and the event's fields by name. Lua scripts
publish ``cooldown`` messages in the same shape.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import orjson


class Scope(enum.StrEnum):
    """What an ``Invalidate`` asks every process to drop."""

    KEYS = "keys"  # cached virtual keys
    CREDENTIALS = "credentials"  # provider credentials
    CONFIG = "config"  # the config (reload it)
    CACHE = "cache"  # response-cache entries held in process


@dataclass(frozen=True, slots=True)
class CooldownSet:
    """A deployment cools down until ``until`` (epoch seconds) on every process."""

    KIND: ClassVar[str] = "cooldown"
    deployment_id: str
    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class OverrideSet:
    """An operator's fallback override for ``group`` (see ``overrides.Override``)."""

    KIND: ClassVar[str] = "override"
    group: str
    redirect_to: str | None
    fallbacks: tuple[str, ...] | None
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class OverrideDeleted:
    KIND: ClassVar[str] = "override_deleted"
    group: str


@dataclass(frozen=True, slots=True)
class Invalidate:
    """Drop what is held in process for ``scope``: the ``ids`` given, or all of it."""

    KIND: ClassVar[str] = "invalidate"
    scope: Scope
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PinMoved:
    """A session (``key``: its group and a digest of its id) now goes to ``deployment_id``."""

    KIND: ClassVar[str] = "pin"
    key: str
    deployment_id: str


Event = CooldownSet | OverrideSet | OverrideDeleted | Invalidate | PinMoved
EVENT_TYPES: dict[str, type[Event]] = {
    cls.KIND: cls for cls in (CooldownSet, OverrideSet, OverrideDeleted, Invalidate, PinMoved)
}


class BadMessage(ValueError):
    """A pub/sub message that is not one of ours, or from an incompatible version."""


def encode(event: Event, origin: str) -> bytes:
    return orjson.dumps({"kind": event.KIND, "origin": origin, **asdict(event)})


def decode(raw: bytes) -> tuple[str, Event]:
    """(origin, event) from a message; ``BadMessage`` when it cannot be read."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    cls = EVENT_TYPES.get(data.get("kind"))  # type: ignore[arg-type]
    origin = data.get("origin")
    if cls is None or not isinstance(origin, str):
        raise BadMessage(f"unknown kind {data.get('kind')!r}")
    try:
        values = {f.name: _field(f.name, data[f.name]) for f in fields(cls) if f.name in data}
        return origin, cls(**values)
    except (TypeError, ValueError, KeyError) as exc:
        raise BadMessage(f"bad {cls.KIND} message: {exc}") from None


def _field(name: str, value: Any) -> Any:
    """Check one field's JSON value and give it its Python type."""
    if name in {"until", "expires_at"}:
        if value is None and name == "expires_at":
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if name in {"fallbacks", "ids"}:
        if value is None and name == "fallbacks":
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of strings")
        return tuple(value)
    if name == "scope":
        return Scope(value)
    if name == "redirect_to" and value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value
