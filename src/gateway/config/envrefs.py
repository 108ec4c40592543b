"""Resolve LiteLLM's ``os.environ/NAME`` references in a raw config tree.

Resolution happens once, before validation, so every later layer sees plain
values. A reference to an unset variable is reported with the field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.paths import join_path

ENV_PREFIX = "os.environ/"


def resolve_env_refs(
    node: Any, env: Mapping[str, str], path: str = "", problems: list[str] | None = None
) -> Any:
    """Return a copy of ``node`` with every ``os.environ/NAME`` string replaced.

    Missing variables are appended to ``problems`` (as ``path: message``) and
    left as ``None`` so validation can continue and report everything at once.
    """
    if problems is None:
        problems = []
    if isinstance(node, str):
        if node.startswith(ENV_PREFIX):
            name = node[len(ENV_PREFIX) :]
            if name not in env:
                problems.append(f"{path}: environment variable {name} is not set")
                return None
            return env[name]
        return node
    if isinstance(node, Mapping):
        return {
            key: resolve_env_refs(value, env, join_path(path, key), problems)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            resolve_env_refs(value, env, f"{path}[{index}]", problems)
            for index, value in enumerate(node)
        ]
    return node
