"""What makes a fallback override acceptable, decided before anything is stored.

- The group overridden must be a model group of the running config (not an
  alias: the router looks overrides up by group).
- Exactly one of ``redirect_to`` and ``fallbacks`` is given: a redirected
  group never serves, so a chain of its own would never be used.
- A redirect target is a known group (or alias) other than the group itself.
  The router follows one redirect, so redirects do not chain: a target that is
  itself redirected, or a group that others are redirected to, is refused
  with a message saying what to change first.
- A fallback chain names known groups, not the group itself, no group twice,
  and does not close a loop with the chains in force (the config's, with the
  live overrides' chains in place of theirs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config.model import GatewayConfig
from gateway.control.rows import OverrideRow
from gateway.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Routing:
    groups: tuple[str, ...]
    aliases: Mapping[str, str]
    fallbacks: Mapping[str, tuple[str, ...]]

    @staticmethod
    def of(config: GatewayConfig) -> Routing:
        return Routing(tuple(config.group_names()), dict(config.aliases), dict(config.fallbacks))

    def canonical(self, name: str) -> str | None:
        if name in self.groups:
            return name
        return self.aliases.get(name)

    def known_hint(self) -> str:
        return "Model groups: " + ", ".join(self.groups) + "."


def check_group(routing: Routing, group: str) -> None:
    if group in routing.groups:
        return
    if group in routing.aliases:
        raise InvalidRequest(
            f"{group!r} is an alias of {routing.aliases[group]!r}: set the override on "
            f"{routing.aliases[group]!r}.",
            param="model_group",
        )
    raise InvalidRequest(
        f"Unknown model group {group!r}. {routing.known_hint()}", param="model_group"
    )


def check_redirect(
    routing: Routing, group: str, target: str, live: Mapping[str, OverrideRow]
) -> str:
    """The canonical target group, after the checks in the module docstring."""
    canonical = routing.canonical(target)
    if canonical is None:
        raise InvalidRequest(
            f"Unknown model group {target!r} in 'redirect_to'. {routing.known_hint()}",
            param="redirect_to",
        )
    if canonical == group:
        raise InvalidRequest(f"{group!r} cannot be redirected to itself.", param="redirect_to")
    onward = live.get(canonical)
    if onward is not None and onward.redirect_to is not None:
        raise InvalidRequest(
            f"{canonical!r} is itself redirected to {onward.redirect_to!r}; redirects do not "
            f"chain. Redirect {group!r} straight to {onward.redirect_to!r}.",
            param="redirect_to",
        )
    inbound = sorted(g for g, o in live.items() if o.redirect_to == group and g != group)
    if inbound:
        raise InvalidRequest(
            f"{', '.join(map(repr, inbound))} redirect(s) to {group!r}; redirects do not chain. "
            f"Point {'them' if len(inbound) > 1 else 'it'} elsewhere first.",
            param="redirect_to",
        )
    return canonical


def check_fallbacks(
    routing: Routing, group: str, chain: list[str], live: Mapping[str, OverrideRow]
) -> tuple[str, ...]:
    if not chain:
        raise InvalidRequest(
            "'fallbacks' must name at least one model group (delete the override to go back "
            "to the configured chain).",
            param="fallbacks",
        )
    seen: set[str] = set()
    for index, name in enumerate(chain):
        canonical = routing.canonical(name)
        if canonical is None:
            raise InvalidRequest(
                f"Unknown model group {name!r} in fallbacks[{index}]. {routing.known_hint()}",
                param="fallbacks",
            )
        if canonical == group:
            raise InvalidRequest(
                f"fallbacks[{index}]: {group!r} cannot fall back to itself.", param="fallbacks"
            )
        if canonical in seen:
            raise InvalidRequest(
                f"fallbacks[{index}]: {name!r} is listed twice.", param="fallbacks"
            )
        seen.add(canonical)
    chains = {g: tuple(_canonical_all(routing, c)) for g, c in routing.fallbacks.items()}
    for name, override in live.items():
        if override.fallbacks is not None:
            chains[name] = tuple(_canonical_all(routing, override.fallbacks))
    chains[group] = tuple(routing.canonical(n) or n for n in chain)
    loop = _loop_from(group, chains)
    if loop is not None:
        raise InvalidRequest(
            "These fallbacks would make a loop: " + " -> ".join(loop) + ".", param="fallbacks"
        )
    return tuple(chain)


def _canonical_all(routing: Routing, names: tuple[str, ...] | list[str]) -> list[str]:
    return [routing.canonical(n) or n for n in names]


def _loop_from(start: str, chains: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A path from ``start`` back to a group already on it, if the chains hold one."""
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(group: str) -> list[str] | None:
        if group in on_path:
            return [*path[path.index(group) :], group]
        if group in done:
            return None
        path.append(group)
        on_path.add(group)
        for following in chains.get(group, ()):
            found = visit(following)
            if found is not None:
                return found
        path.pop()
        on_path.discard(group)
        done.add(group)
        return None

    return visit(start)
