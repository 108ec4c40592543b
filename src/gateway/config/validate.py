"""Cross-references inside the config: every named group exists, no chain loops."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config.schema import ConfigFile

FallbackList = list[dict[str, list[str]]]


def check_references(file: ConfigFile, groups: Iterable[str]) -> list[str]:
    known = set(groups)
    aliases = file.router_settings.model_group_alias
    problems: list[str] = []
    for alias, target in aliases.items():
        if target not in known:
            problems.append(
                f"router_settings.model_group_alias.{alias}: "
                f"unknown model group {target!r}{_known_hint(known)}"
            )
    routable = known | set(aliases)

    lists: list[tuple[str, FallbackList]] = [
        ("router_settings.fallbacks", file.router_settings.fallbacks),
        ("router_settings.context_window_fallbacks", file.router_settings.context_window_fallbacks),
        ("router_settings.content_policy_fallbacks", file.router_settings.content_policy_fallbacks),
        (
            "litellm_settings.context_window_fallbacks",
            file.litellm_settings.context_window_fallbacks or [],
        ),
        (
            "litellm_settings.content_policy_fallbacks",
            file.litellm_settings.content_policy_fallbacks or [],
        ),
    ]
    for path, entries in lists:
        problems.extend(_check_fallback_list(path, entries, routable, known))
        problems.extend(_check_cycles(path, entries))

    for path, defaults in (
        ("router_settings.default_fallbacks", file.router_settings.default_fallbacks),
        ("litellm_settings.default_fallbacks", file.litellm_settings.default_fallbacks),
    ):
        for index, group in enumerate(defaults or []):
            if group not in routable:
                problems.append(
                    f"{path}[{index}]: unknown model group {group!r}{_known_hint(known)}"
                )
    return problems


def _check_fallback_list(
    path: str, entries: FallbackList, routable: set[str], known: set[str]
) -> list[str]:
    problems = []
    for index, entry in enumerate(entries):
        if not entry:
            problems.append(f"{path}[{index}]: empty mapping; expected {{group: [fallbacks]}}")
        for group, targets in entry.items():
            if group not in routable:
                problems.append(
                    f"{path}[{index}]: unknown model group {group!r}{_known_hint(known)}"
                )
            for target in targets:
                if target not in routable:
                    problems.append(
                        f"{path}[{index}]: unknown model group {target!r}{_known_hint(known)}"
                    )
                elif target == group:
                    problems.append(f"{path}[{index}]: {group!r} falls back to itself")
    return problems


def _check_cycles(path: str, entries: FallbackList) -> list[str]:
    graph: dict[str, list[str]] = {}
    for entry in entries:
        for group, targets in entry.items():
            graph.setdefault(group, []).extend(t for t in targets if t != group)
    problems = []
    reported: set[frozenset[str]] = set()
    for start in graph:
        cycle = _find_cycle(graph, start)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            problems.append(f"{path}: fallback cycle {' -> '.join([*cycle, cycle[0]])}")
    return problems


def _find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A cycle through ``start``, depth first, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return trail
            if nxt not in trail:
                stack.append((nxt, [*trail, nxt]))
    return None


def _known_hint(known: set[str]) -> str:
    if not known:
        return " (model_list is empty)"
    names = sorted(known)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f" (known: {shown})"
