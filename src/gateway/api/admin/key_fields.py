"""The fields an admin request may set on a key or a team, as pydantic models.

``read_changes`` returns only the fields present in the body (``model_fields_set``),
each checked (a 400 names the field and what it expected); ``keys.fields.apply_*``
makes the new key or team from the old one and those fields. ``null`` clears a
field where clearing means something (no budget, no expiry, every model). The
same models describe the bodies in ``/openapi.json``.

LiteLLM scripts send fields this gateway does not implement (``tags``,
``guardrails``, ...) with empty values: those are accepted while empty, and
refused with a 400 naming them otherwise, never silently dropped.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import Field, ValidationError, create_model, field_validator

from gateway.api.control.bodies import Body, first_problem
from gateway.errors import InvalidRequest
from gateway.keys.durations import BadDuration, duration_seconds
from gateway.keys.model import KEY_TYPES, LLM_API

MAX_NAME_CHARS = 256
MAX_MODELS = 1000
MAX_METADATA_BYTES = 16_384

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


# --- one field at a time: each returns the value to keep, or raises with what it expected


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string or null")
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise ValueError(f"at most {MAX_NAME_CHARS} printable characters")
    return value


def _models(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ValueError("expected a list of model names ([] allows every model)")
    if len(value) > MAX_MODELS:
        raise ValueError(f"at most {MAX_MODELS} names")
    return list(dict.fromkeys(value))


def _usd(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number (USD) or null")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError("must be zero or more")
    return number


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number, zero or more, or null")
    return value


def _duration_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a duration such as '30d', '1h' or '1mo'")
    text = str(value)
    try:
        duration_seconds(text)
    except BadDuration as exc:
        raise ValueError(str(exc)) from None
    return text


def _duration(value: Any) -> float | None:
    text = _duration_text(value)
    return None if text is None else duration_seconds(text)


def _expires(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected a duration such as '30d', an ISO 8601 time, or null")
    return value


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"larger than {MAX_METADATA_BYTES} bytes")
    return value


def _blocked(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _key_type(value: Any) -> str:
    if value in (None, "default"):
        return LLM_API
    if value not in KEY_TYPES:
        raise ValueError(f"{value!r}; expected one of default, " + ", ".join(KEY_TYPES))
    return str(value)


def _empty_only(cls: Any, value: Any) -> None:
    if value not in (None, [], {}, 0, False, ""):
        raise ValueError("not supported by this gateway; leave it out")


def _described(schema: dict[str, Any], description: str) -> Any:
    """An optional field (the ``field_validator`` of its class checks it, so a string is
    never read as a number), described by ``schema``."""
    return Field(default=None, description=description or None, json_schema_extra=schema)


NULLABLE_TEXT = {"type": ["string", "null"], "maxLength": MAX_NAME_CHARS}
DURATION = {"type": ["string", "null"], "examples": ["30d", "1h", "1mo"]}
MODELS = {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": MAX_MODELS}
MODELS_MEANING = "Model groups it may use ([] or null: every model; 'prefix*' matches names)."
COUNT = {"type": ["integer", "null"], "minimum": 0}


class LimitChanges(Body):
    max_budget: Any = _described(
        {"type": ["number", "null"], "minimum": 0}, "USD per budget period."
    )
    budget_duration: Any = _described(DURATION, "How often the budget resets.")
    rpm_limit: Any = _described(COUNT, "Requests per minute.")
    tpm_limit: Any = _described(COUNT, "Tokens per minute.")
    max_parallel_requests: Any = _described(COUNT, "Requests in flight at once.")

    @field_validator("max_budget", mode="before")
    @classmethod
    def _check_budget(cls, value: Any) -> float | None:
        return _usd(value)

    @field_validator("budget_duration", mode="before")
    @classmethod
    def _check_budget_duration(cls, value: Any) -> str | None:
        return _duration_text(value)

    @field_validator("rpm_limit", "tpm_limit", "max_parallel_requests", mode="before")
    @classmethod
    def _check_count(cls, value: Any) -> int | None:
        return _count(value)


class _Common(LimitChanges):
    models: Any = _described(MODELS, MODELS_MEANING)
    metadata: Any = _described({"type": ["object", "null"]}, "Free-form JSON (16 KB at most).")
    blocked: Any = _described({"type": "boolean"}, "A blocked key or team is refused (401).")

    @field_validator("models", mode="before")
    @classmethod
    def _check_models(cls, value: Any) -> list[str]:
        return _models(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _check_metadata(cls, value: Any) -> dict[str, Any]:
        return _metadata(value)

    @field_validator("blocked", mode="before")
    @classmethod
    def _check_blocked(cls, value: Any) -> bool:
        return _blocked(value)


class _KeyChanges(_Common):
    key_alias: Any = _described(NULLABLE_TEXT, "Unique among keys.")
    team_id: Any = _described(NULLABLE_TEXT, "The team whose limits it shares.")
    user_id: Any = _described(NULLABLE_TEXT, "")
    key_type: Any = _described(
        {"type": ["string", "null"], "enum": ["default", *KEY_TYPES, None]},
        "management keys may call the admin API.",
    )
    duration: Any = _described(DURATION, "The key expires this long after it is written.")
    expires: Any = _described({"type": ["string", "null"]}, "A duration, or an ISO 8601 time.")

    @field_validator("key_alias", "team_id", "user_id", mode="before")
    @classmethod
    def _check_name(cls, value: Any) -> str | None:
        return _name(value)

    @field_validator("key_type", mode="before")
    @classmethod
    def _check_key_type(cls, value: Any) -> str:
        return _key_type(value)

    @field_validator("duration", mode="before")
    @classmethod
    def _check_duration(cls, value: Any) -> float | None:
        return _duration(value)

    @field_validator("expires", mode="before")
    @classmethod
    def _check_expires(cls, value: Any) -> str | None:
        return _expires(value)


class _TeamChanges(_Common):
    team_alias: Any = _described(NULLABLE_TEXT, "")

    @field_validator("team_alias", mode="before")
    @classmethod
    def _check_alias(cls, value: Any) -> str | None:
        return _name(value)


def _with_litellm_extras(base: type[Body], name: str) -> type[Body]:
    """``base`` plus LiteLLM's fields this gateway does not implement (empty only)."""
    meaning = "A LiteLLM field this gateway does not implement: accepted while empty."
    extras: dict[str, Any] = {
        field: (Any, Field(default=None, description=meaning)) for field in sorted(NOT_IMPLEMENTED)
    }
    empty_only = field_validator(*sorted(NOT_IMPLEMENTED), mode="before")(_empty_only)
    model: type[Body] = create_model(
        name, __base__=base, __validators__={"_empty_only": empty_only}, **extras
    )
    return model


KeyChanges = _with_litellm_extras(_KeyChanges, "KeyChanges")
TeamChanges = _with_litellm_extras(_TeamChanges, "TeamChanges")
KEY_FIELDS = frozenset(_KeyChanges.model_fields)
TEAM_FIELDS = frozenset(_TeamChanges.model_fields)


def read_changes(
    model: type[Body], body: dict[str, Any], *, identifiers: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The settable fields present in ``body``, checked; ``identifiers`` (the key or team
    being named) are read by the handler itself."""
    settable = KEY_FIELDS if model is KeyChanges else TEAM_FIELDS
    changes = {name: value for name, value in body.items() if name not in identifiers}
    for name in changes:
        if name not in model.model_fields:
            raise InvalidRequest(
                f"Unknown field {name!r}. Accepted: "
                + ", ".join(sorted(settable | identifiers))
                + ".",
                param=name,
            )
    try:
        parsed = model.model_validate(changes)
    except ValidationError as exc:
        raise first_problem(exc, list(changes)) from None
    present = parsed.model_fields_set & settable
    if "duration" in present and "expires" in present:
        raise InvalidRequest("Give either 'duration' or 'expires', not both.", param="expires")
    return {name: getattr(parsed, name) for name in present}


def with_identifiers(model: type[Body], name: str, **identifiers: str) -> type[Body]:
    """``model`` with the fields that name what is changed, for the document only."""
    fields: dict[str, Any] = {
        field: (str | None, Field(default=None, description=description))
        for field, description in identifiers.items()
    }
    described: type[Body] = create_model(name, __base__=model, **fields)
    return described


# The bodies as the routes take them, for the document: the changes and what names the
# key or team (read by the handlers themselves).
KEY = "The key, or its sha256 (token)."
KeyGenerate = with_identifiers(
    KeyChanges, "KeyGenerate", key="Choose the key (sk-, 20+ characters)."
)
KeyUpdate = with_identifiers(KeyChanges, "KeyUpdate", key=KEY + " Or name it by key_alias.")
KeyRegenerate = with_identifiers(
    KeyChanges, "KeyRegenerate", key=KEY, new_key="Choose the new key (sk-, 20+ characters)."
)
KeyRegenerateInPath = with_identifiers(
    KeyChanges, "KeyRegenerateInPath", new_key="Choose the new key (sk-, 20+ characters)."
)
TeamNew = with_identifiers(TeamChanges, "TeamNew", team_id="Generated when left out.")
TeamUpdate = with_identifiers(TeamChanges, "TeamUpdate", team_id="The team to change.")
