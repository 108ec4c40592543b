"""``check-config --report``: what the gateway makes of every key of a LiteLLM config.

Each key the file sets is one of:

- ``honoured``: a setting the gateway acts on as LiteLLM does;
- ``renamed``: honoured under its canonical name (``vertex_ai_project`` is
  ``vertex_project``), or overridden by the canonical spelling set beside it;
- ``approximated``: acted on, but not exactly as LiteLLM does (the detail says how);
- ``ignored``: not acted on (the detail says why).

The classification reads the same schema the loader validates with, so the report
cannot drift from what the gateway does. Keys inside a free-form value (a fallback
chain, ``model_info``'s metadata, ``environment_variables``) count as their parent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel

from gateway.config.envrefs import field_type
from gateway.config.paths import join_path
from gateway.config.schema import ConfigFile
from gateway.config.spellings import canonical_spellings
from gateway.config.unsupported import GENERIC_REASON, KNOWN_UNSUPPORTED, generic_path
from gateway.config.validate import ALWAYS_ON_CALLBACKS, CALLBACK_SINKS

HONOURED, RENAMED, APPROXIMATED, IGNORED = "honoured", "renamed", "approximated", "ignored"
VERDICTS = (HONOURED, RENAMED, APPROXIMATED, IGNORED)

ONE_DEADLINE = (
    "one deadline for the whole request (retries and fallbacks included), not per attempt"
)


def _cache_type(value: Any) -> str | None:
    if value in (None, "local", "redis"):
        return None
    return f"{value!r} is not a cache this gateway has: answers are cached in process"


def _callbacks(value: Any) -> str | None:
    names = value if isinstance(value, list) else []
    unknown = [n for n in names if n not in CALLBACK_SINKS and n not in ALWAYS_ON_CALLBACKS]
    if not unknown:
        return None
    return f"{', '.join(map(str, unknown))}: not a callback this gateway has; the rest are sent"


# Settings the gateway acts on differently from LiteLLM: how, for the value the file has
# (None: exactly as LiteLLM does, for that value).
APPROXIMATED_KEYS: dict[str, Callable[[Any], str | None]] = {
    "litellm_settings.cache_params.type": _cache_type,
    "litellm_settings.request_timeout": lambda _: ONE_DEADLINE,
    "router_settings.timeout": lambda _: ONE_DEADLINE,
    "general_settings.request_timeout": lambda _: ONE_DEADLINE,
    "litellm_settings.success_callback": _callbacks,
    "litellm_settings.failure_callback": _callbacks,
}


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    path: str
    verdict: str
    detail: str = ""


def classify_keys(data: Mapping[str, Any]) -> list[KeyVerdict]:
    """A verdict for every key the file sets, in file order."""
    spelled, renamed = canonical_spellings(data)
    verdicts = [
        KeyVerdict(r.path, IGNORED if r.overridden else RENAMED, r.note().split(": ", 1)[1])
        for r in renamed
    ]
    # A canonical key a rename put there is the renamed key, already counted.
    moved = {r.canonical for r in renamed if not r.overridden}
    verdicts.extend(v for v in _walk(ConfigFile, spelled, "") if v.path not in moved)
    return verdicts


def summary(verdicts: list[KeyVerdict]) -> dict[str, Any]:
    counts = Counter(v.verdict for v in verdicts)
    total = len(verdicts)
    acted_on = counts[HONOURED] + counts[RENAMED]
    return {
        "keys": total,
        **{verdict: counts[verdict] for verdict in VERDICTS},
        "honoured_share": round(acted_on / total, 4) if total else 1.0,
    }


def as_json(verdicts: list[KeyVerdict]) -> dict[str, Any]:
    return {"keys": [asdict(v) for v in verdicts], "summary": summary(verdicts)}


def as_text(verdicts: list[KeyVerdict]) -> str:
    lines = [f"{v.verdict:<13}{v.path}" + (f": {v.detail}" if v.detail else "") for v in verdicts]
    counted = summary(verdicts)
    lines.append(
        f"{counted['keys']} keys: {counted[HONOURED]} honoured, {counted[RENAMED]} honoured "
        f"under another name, {counted[APPROXIMATED]} approximated, {counted[IGNORED]} ignored "
        f"({counted['honoured_share']:.0%} honoured)"
    )
    return "\n".join(lines)


def _walk(model: type[BaseModel], node: Any, path: str) -> list[KeyVerdict]:
    if not isinstance(node, Mapping):
        return []
    verdicts: list[KeyVerdict] = []
    for key, value in node.items():
        key_path = join_path(path, str(key))
        field = model.model_fields.get(str(key))
        if field is None:
            reason = KNOWN_UNSUPPORTED.get(generic_path(key_path), GENERIC_REASON)
            verdicts.append(KeyVerdict(key_path, IGNORED, reason))
            continue
        kind = field_type(field.annotation)
        if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, Mapping):
            verdicts.extend(_walk(kind, value, key_path))
            continue
        item = field_type(kind, item=True)
        if isinstance(item, type) and issubclass(item, BaseModel) and isinstance(value, list):
            for index, entry in enumerate(value):
                verdicts.extend(_walk(item, entry, f"{key_path}[{index}]"))
            continue
        how = APPROXIMATED_KEYS.get(generic_path(key_path))
        approximated = how(value) if how is not None else None
        if approximated is not None:
            verdicts.append(KeyVerdict(key_path, APPROXIMATED, approximated))
        else:
            verdicts.append(KeyVerdict(key_path, HONOURED))
    return verdicts
