"""Keys the gateway does not honour, reported with a reason.

A LiteLLM config carries many keys. The ones listed here are known and get a
specific explanation; any other unknown key gets a generic one. Either way it
is reported, never silently dropped.
"""

from __future__ import annotations

from pydantic import BaseModel

from gateway.config.paths import join_path

# Known LiteLLM keys and why the gateway does not act on them (yet).
KNOWN_UNSUPPORTED: dict[str, str] = {
    "litellm_settings.set_verbose": "not applicable: set LOG_LEVEL=DEBUG instead",
    "litellm_settings.json_logs": "not applicable: the gateway always logs JSON",
    "general_settings.disable_prisma_schema_update": (
        "not applicable: the gateway applies its own SQL migrations (gateway migrate)"
    ),
}

GENERIC_REASON = "not a setting this gateway knows; ignored"


def unsupported_keys(model: BaseModel, path: str = "") -> list[str]:
    """Every key present in the file that no section declares, as warnings."""
    warnings: list[str] = []
    for key in sorted(model.model_extra or {}):
        key_path = join_path(path, key)
        reason = KNOWN_UNSUPPORTED.get(generic_path(key_path), GENERIC_REASON)
        warnings.append(f"{key_path}: {reason}")
    for name in type(model).model_fields:
        value = getattr(model, name)
        child_path = join_path(path, name)
        if isinstance(value, BaseModel):
            warnings.extend(unsupported_keys(value, child_path))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    warnings.extend(unsupported_keys(item, f"{child_path}[{index}]"))
    return warnings


def generic_path(path: str) -> str:
    """``model_list[3].litellm_params.x`` -> ``model_list.litellm_params.x`` for lookups."""
    out = []
    depth = 0
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)
