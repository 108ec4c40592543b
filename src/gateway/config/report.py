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
from gateway.config.spellings import PARAM_SPELLINGS, SECTION_SPELLINGS, canonical_spellings
from gateway.config.unsupported import GENERIC_REASON, KNOWN_UNSUPPORTED, generic_path
from gateway.config.validate import KNOWN_CALLBACKS

HONOURED, RENAMED, APPROXIMATED, IGNORED = "honoured", "renamed", "approximated", "ignored"
VERDICTS = (HONOURED, RENAMED, APPROXIMATED, IGNORED)


@dataclass(frozen=True, slots=True)
class Approximation:
    """How a setting is acted on differently from LiteLLM, for the values ``applies`` to."""

    how: str
    applies: Callable[[Any], bool] = lambda _: True


ONE_DEADLINE = Approximation(
    "one deadline for the whole request (retries and fallbacks included), not per attempt"
)
CALLBACKS = Approximation(
    f"callbacks other than {', '.join(sorted(KNOWN_CALLBACKS))} are not sent",
    lambda value: isinstance(value, list) and any(n not in KNOWN_CALLBACKS for n in value),
)

APPROXIMATED_KEYS: dict[str, Approximation] = {
    "litellm_settings.cache_params.type": Approximation(
        "cache types other than local and redis (s3, disk, qdrant-semantic, ...) are served "
        "by the in-process cache",
        lambda value: value not in (None, "local", "redis"),
    ),
    "litellm_settings.request_timeout": ONE_DEADLINE,
    "router_settings.timeout": ONE_DEADLINE,
    "general_settings.request_timeout": ONE_DEADLINE,
    "litellm_settings.success_callback": CALLBACKS,
    "litellm_settings.failure_callback": CALLBACKS,
    "litellm_settings.callbacks": CALLBACKS,
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
        approximation = APPROXIMATED_KEYS.get(generic_path(key_path))
        if approximation is not None and approximation.applies(value):
            verdicts.append(KeyVerdict(key_path, APPROXIMATED, approximation.how))
        else:
            verdicts.append(KeyVerdict(key_path, HONOURED))
    return verdicts


# --- the README's reference, generated from the same tables --------------------------

REFERENCE_BEGIN = "<!-- config-reference: generated by `python -m gateway.config.report` -->"
REFERENCE_END = "<!-- /config-reference -->"


def reference_markdown() -> str:
    """What the gateway honours, under which names, and what it does not: the README's
    configuration reference (between ``REFERENCE_BEGIN`` and ``REFERENCE_END``)."""
    sections: dict[str, list[str]] = {}
    for key in _declared(ConfigFile, ""):
        section = key.split(".", 1)[0].split("[", 1)[0]
        sections.setdefault(section, []).append(key)
    lines = [REFERENCE_BEGIN, "", "| section | keys honoured |", "|---|---|"]
    for section, keys in sections.items():
        names = ", ".join(f"`{key.split('.', 1)[1] if '.' in key else key}`" for key in keys)
        lines.append(f"| `{section}` | {names} |")
    lines += ["", "| key as written | honoured as |", "|---|---|"]
    lines += [
        f"| `{path}.{spelled}` | `{canonical}` |"
        for path, spellings in _spellings()
        for spelled, canonical in spellings
    ]
    lines += ["", "| key | approximated |", "|---|---|"]
    lines += [f"| `{path}` | {item.how} |" for path, item in APPROXIMATED_KEYS.items()]
    lines += ["", "| key | not acted on, because |", "|---|---|"]
    lines += [f"| `{path}` | {reason} |" for path, reason in KNOWN_UNSUPPORTED.items()]
    lines += [
        "",
        f"Any other key: {GENERIC_REASON} (reported by `check-config` and at start-up).",
        "",
        REFERENCE_END,
    ]
    return "\n".join(lines)


def _declared(model: type[BaseModel], path: str) -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        key_path = join_path(path, name)
        kind = field_type(field.annotation)
        item = field_type(kind, item=True)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys.extend(_declared(kind, key_path))
        elif isinstance(item, type) and issubclass(item, BaseModel):
            keys.extend(_declared(item, key_path + "[]"))
        else:
            keys.append(key_path)
    return keys


def _spellings() -> list[tuple[str, list[tuple[str, str]]]]:
    per_param = [
        (spelled, f"litellm_params.{canonical}") for spelled, canonical in (PARAM_SPELLINGS.items())
    ]
    by_section = [
        (section, [(key, f"{target}.{target_key}")])
        for (section, key), (target, target_key) in SECTION_SPELLINGS.items()
    ]
    return [("model_list[].litellm_params", per_param), *by_section]


if __name__ == "__main__":
    print(reference_markdown())
