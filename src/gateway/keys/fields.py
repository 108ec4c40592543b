"""The fields an admin request may set on a key or a team, checked one by one.

``read_fields`` returns only the fields present in the body, each with its
type checked (a 400 names the field and what it expected); ``apply_*`` makes
the new key or team from the old one and those fields. ``null`` clears a
field where clearing means something (no budget, no expiry, every model).

LiteLLM scripts send fields this gateway does not implement (``tags``,
``guardrails``, ...) with empty values: those are accepted while empty, and
refused with a 400 naming them otherwise, never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.keys.durations import BadDuration, duration_seconds, instant
from gateway.keys.model import KEY_TYPES, LLM_API, Limits, Team, VirtualKey

MAX_NAME_CHARS = 256
MAX_MODELS = 1000
MAX_METADATA_BYTES = 16_384

LIMIT_FIELDS = ("max_budget", "budget_duration", "rpm_limit", "tpm_limit", "max_parallel_requests")
KEY_FIELDS = frozenset(
    {
        "key_alias",
        "team_id",
        "user_id",
        "models",
        "metadata",
        "blocked",
        "key_type",
        "duration",
        "expires",
        *LIMIT_FIELDS,
    }
)
TEAM_FIELDS = frozenset({"team_alias", "models", "metadata", "blocked", *LIMIT_FIELDS})

# LiteLLM fields accepted only with an empty value (see the module docstring).
NOT_IMPLEMENTED = frozenset(
    {
        "aliases",
        "allowed_cache_controls",
        "allowed_routes",
        "budget_id",
        "config",
        "enforced_params",
        "guardrails",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "object_permission",
        "organization_id",
        "permissions",
        "policies",
        "prompts",
        "send_invite_email",
        "soft_budget",
        "spend",
        "tags",
    }
)


def read_fields(
    body: dict[str, Any], allowed: frozenset[str], *, identifiers: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The settable fields present in ``body``, checked; ``identifiers`` are skipped here."""
    found: dict[str, Any] = {}
    for name, value in body.items():
        if name in identifiers:
            continue
        if name in allowed:
            found[name] = _check(name, value)
        elif name in NOT_IMPLEMENTED:
            if value not in (None, [], {}, 0, False, ""):
                raise InvalidRequest(
                    f"{name!r} is not supported by this gateway; leave it out.", param=name
                )
        else:
            raise InvalidRequest(
                f"Unknown field {name!r}. Accepted: "
                + ", ".join(sorted(allowed | identifiers))
                + ".",
                param=name,
            )
    if "duration" in found and "expires" in found:
        raise InvalidRequest("Give either 'duration' or 'expires', not both.", param="expires")
    return found


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


# --- one field at a time -----------------------------------------------------------------


def _check(name: str, value: Any) -> Any:
    if name in ("key_alias", "team_alias", "user_id", "team_id"):
        return _name(name, value)
    if name == "models":
        return _models(value)
    if name == "max_budget":
        return _number(name, value)
    if name in ("rpm_limit", "tpm_limit", "max_parallel_requests"):
        return _count(name, value)
    if name == "budget_duration":
        if value is None:
            return None
        return _duration_text(name, value)
    if name == "duration":
        return None if value is None else duration_seconds(_duration_text(name, value))
    if name == "expires":
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(
                "Invalid 'expires': expected a duration such as '30d', an ISO 8601 time, or null.",
                param=name,
            )
        return value
    if name == "metadata":
        return _metadata(value)
    if name == "blocked":
        if not isinstance(value, bool):
            raise InvalidRequest("Invalid 'blocked': expected true or false.", param=name)
        return value
    if name == "key_type":
        if value in (None, "default"):
            return LLM_API
        if value not in KEY_TYPES:
            raise InvalidRequest(
                f"Invalid 'key_type': {value!r}; expected one of default, "
                + ", ".join(KEY_TYPES)
                + ".",
                param=name,
            )
        return value
    raise InvalidRequest(f"Field {name!r} cannot be set here.", param=name)


def _name(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Invalid {name!r}: expected a non-empty string or null.", param=name)
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise InvalidRequest(
            f"Invalid {name!r}: at most {MAX_NAME_CHARS} printable characters.", param=name
        )
    return value


def _models(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise InvalidRequest(
            "Invalid 'models': expected a list of model names ([] allows every model).",
            param="models",
        )
    if len(value) > MAX_MODELS:
        raise InvalidRequest(f"Invalid 'models': at most {MAX_MODELS} names.", param="models")
    return list(dict.fromkeys(value))


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"Invalid {name!r}: expected a number (USD) or null.", param=name)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InvalidRequest(f"Invalid {name!r}: must be zero or more.", param=name)
    return number


def _count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(
            f"Invalid {name!r}: expected a whole number, zero or more, or null.", param=name
        )
    return value


def _duration_text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidRequest(
            f"Invalid {name!r}: expected a duration such as '30d', '1h' or '1mo'.", param=name
        )
    text = str(value)
    try:
        duration_seconds(text)
    except BadDuration as exc:
        raise InvalidRequest(f"Invalid {name!r}: {exc}.", param=name) from None
    return text


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("Invalid 'metadata': expected a JSON object.", param="metadata")
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise InvalidRequest(
            f"Invalid 'metadata': larger than {MAX_METADATA_BYTES} bytes.", param="metadata"
        )
    return value
