"""Field paths as users read them: ``router_settings.fallbacks[2]``."""

from __future__ import annotations

from collections.abc import Iterable


def join_path(parent: str, key: object) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def path_from_loc(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path = join_path(path, part)
    return path
