"""LiteLLM's other spellings of settings the gateway honours, read as the canonical key.

Real LiteLLM configs write the same setting several ways (``vertex_ai_project``
for ``vertex_project``, ``fallbacks`` under ``litellm_settings``, a master key
under ``litellm_settings``). Each is moved to its canonical place before the
file is validated, and ``check-config`` says so; where both spellings are
present, the canonical one wins and the other is reported as overridden.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# In every ``model_list[].litellm_params``: spelling -> canonical key.
PARAM_SPELLINGS = {
    "vertex_ai_project": "vertex_project",
    "vertex_ai_location": "vertex_location",
    "vertex_ai_credentials": "vertex_credentials",
}
# (section, key) -> (canonical section, key).
SECTION_SPELLINGS = {
    ("litellm_settings", "fallbacks"): ("router_settings", "fallbacks"),
    ("litellm_settings", "master_key"): ("general_settings", "master_key"),
}


@dataclass(frozen=True, slots=True)
class Renamed:
    """One setting written under another spelling: where, what it means, and whether the
    canonical spelling was also set (and so won)."""

    path: str
    canonical: str
    overridden: bool

    def note(self) -> str:
        if self.overridden:
            return f"{self.path}: overridden by {self.canonical}, which is also set"
        return f"{self.path}: honoured as {self.canonical}"


def canonical_spellings(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Renamed]]:
    """The file with every known spelling under its canonical key, and what was moved."""
    out = copy.deepcopy(dict(data))
    notes: list[Renamed] = []
    entries = out.get("model_list")
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            params = entry.get("litellm_params") if isinstance(entry, dict) else None
            if isinstance(params, dict):
                where = f"model_list[{index}].litellm_params"
                _move(params, params, PARAM_SPELLINGS.items(), paths=(where, where), notes=notes)
    for (section, key), (target_section, target_key) in SECTION_SPELLINGS.items():
        source = out.get(section)
        if not isinstance(source, dict) or key not in source:
            continue
        target = out.get(target_section)
        if target is None:
            target = out[target_section] = {}
        if isinstance(target, dict):
            _move(source, target, [(key, target_key)], paths=(section, target_section), notes=notes)
    return out, notes


def _move(
    source: dict[str, Any],
    target: dict[str, Any],
    spellings: Any,
    *,
    paths: tuple[str, str],
    notes: list[Renamed],
) -> None:
    source_path, target_path = paths
    for spelled, canonical in spellings:
        if spelled not in source:
            continue
        value = source.pop(spelled)
        where, meant = f"{source_path}.{spelled}", f"{target_path}.{canonical}"
        overridden = canonical in target
        if not overridden:
            target[canonical] = value
        notes.append(Renamed(where, meant, overridden))
