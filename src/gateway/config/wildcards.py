"""Wildcard model names, as LiteLLM routes them: ``openai/*``, ``anthropic/claude-*``, ``*``.

A ``model_name`` with ``*`` serves every requested name it matches (``*``
matches one or more characters); of several patterns that match, the most
specific wins (the most literal characters, then the fewest wildcards). What
each ``*`` matched is put in place of the ``*`` in the deployment's ``model``
(``openai/*`` asked as ``openai/gpt-4o-mini`` calls model ``gpt-4o-mini``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WILDCARD = "*"


def is_pattern(name: str) -> bool:
    return WILDCARD in name


def pattern_regex(name: str) -> re.Pattern[str]:
    return re.compile("(.+)".join(re.escape(part) for part in name.split(WILDCARD)), re.DOTALL)


def specificity(name: str) -> tuple[int, int]:
    """A sort key: more specific patterns first."""
    return (-(len(name) - name.count(WILDCARD)), name.count(WILDCARD))


class PatternSet:
    """The patterns of a config, most specific first."""

    def __init__(self, names: Iterable[str]) -> None:
        ordered = sorted(dict.fromkeys(n for n in names if is_pattern(n)), key=specificity)
        self.patterns = [(name, pattern_regex(name)) for name in ordered]

    def match(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """The pattern that serves ``name``, and what each of its ``*`` matched."""
        for pattern, regex in self.patterns:
            found = regex.fullmatch(name)
            if found is not None:
                return pattern, found.groups()
        return None


def concrete_model(model: str, captures: tuple[str, ...]) -> str:
    """A deployment's ``model`` with its ``*`` replaced by what the request's name matched
    (the last match fills any ``*`` beyond the pattern's own)."""
    if not is_pattern(model) or not captures:
        return model
    parts = model.split(WILDCARD)
    out = [parts[0]]
    for index, part in enumerate(parts[1:]):
        out.append(captures[min(index, len(captures) - 1)])
        out.append(part)
    return "".join(out)


class WildcardIds:
    """A wildcard's concrete deployments are ``<configured id>/<model>``: which configured
    deployment an id belongs to (metrics label that, so callers' names cannot mint series)."""

    def __init__(self, pattern_ids: Iterable[str]) -> None:
        self._prefixes = [(f"{pattern_id}/", pattern_id) for pattern_id in pattern_ids]

    def split(self, deployment_id: str) -> tuple[str, str] | None:
        """(configured id, concrete model) of a concrete id; None for any other id."""
        for prefix, pattern_id in self._prefixes:
            if deployment_id.startswith(prefix):
                return pattern_id, deployment_id[len(prefix) :]
        return None

    def configured(self, deployment_id: str) -> str:
        if not self._prefixes:
            return deployment_id
        found = self.split(deployment_id)
        return found[0] if found is not None else deployment_id
