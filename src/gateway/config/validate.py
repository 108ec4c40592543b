"""Cross-references inside the config: every named group exists, no chain loops."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config.schema import ConfigFile, alias_group
from gateway.config.wildcards import PatternSet

FallbackList = list[dict[str, list[str]]]

# LiteLLM's error classes, as named in retry_policy / allowed_fails_policy keys.
ERROR_CLASSES = (
    "BadRequestError",
    "AuthenticationError",
    "TimeoutError",
    "RateLimitError",
    "ContentPolicyViolationError",
    "InternalServerError",
)
RETRY_POLICY_KEYS = frozenset(f"{name}Retries" for name in ERROR_CLASSES)
ALLOWED_FAILS_POLICY_KEYS = frozenset(f"{name}AllowedFails" for name in ERROR_CLASSES)


def check_references(file: ConfigFile, groups: Iterable[str]) -> list[str]:
    known = set(groups)
    aliases = file.router_settings.model_group_alias
    problems: list[str] = []
    served = PatternSet(known)
    for alias, spelled in aliases.items():
        target = alias_group(spelled)
        if target not in known and served.match(target) is None:
            problems.append(
                f"router_settings.model_group_alias.{alias}: "
                f"unknown model group {target!r}{_known_hint(known)}"
            )
    routable = _Routable(known | set(aliases), PatternSet(known))

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

    settings = file.router_settings
    problems.extend(
        _check_keys("router_settings.retry_policy", settings.retry_policy, RETRY_POLICY_KEYS)
    )
    problems.extend(
        _check_keys(
            "router_settings.allowed_fails_policy",
            settings.allowed_fails_policy,
            ALLOWED_FAILS_POLICY_KEYS,
        )
    )
    for group, policy in settings.model_group_retry_policy.items():
        path = f"router_settings.model_group_retry_policy.{group}"
        if group not in routable:
            problems.append(f"{path}: unknown model group {group!r}{_known_hint(known)}")
        problems.extend(_check_keys(path, policy, RETRY_POLICY_KEYS))

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


def _check_keys(path: str, policy: dict[str, int], allowed: frozenset[str]) -> list[str]:
    return [
        f"{path}.{key}: unknown key; expected one of {', '.join(sorted(allowed))}"
        for key in policy
        if key not in allowed
    ] + [f"{path}.{key}: must not be negative" for key, value in policy.items() if value < 0]


# Webhook sinks the gateway can send per-request events to.
CALLBACK_SINKS = frozenset({"webhook", "generic", "generic_api", "posthog"})
# Callbacks whose job the gateway always does: Prometheus metrics are served at /metrics.
ALWAYS_ON_CALLBACKS = frozenset({"prometheus"})
# Callbacks that turn on OpenTelemetry traces (observability/tracing.py).
TRACE_CALLBACKS = frozenset({"otel"})
KNOWN_CALLBACKS = CALLBACK_SINKS | ALWAYS_ON_CALLBACKS | TRACE_CALLBACKS


def policy_warnings(file: ConfigFile) -> list[str]:
    """Settings that are valid but will not do what they seem to."""
    warnings: list[str] = []
    litellm = file.litellm_settings
    for path, names in (
        ("litellm_settings.success_callback", litellm.success_callback),
        ("litellm_settings.failure_callback", litellm.failure_callback),
        ("litellm_settings.callbacks", litellm.callbacks),
    ):
        warnings.extend(
            f"{path}[{index}]: callback {name!r} is not supported (supported: "
            f"{', '.join(sorted(KNOWN_CALLBACKS))}); ignored"
            for index, name in enumerate(names)
            if name not in KNOWN_CALLBACKS
        )
    policies = [("router_settings.retry_policy", file.router_settings.retry_policy)]
    policies += [
        (f"router_settings.model_group_retry_policy.{group}", policy)
        for group, policy in file.router_settings.model_group_retry_policy.items()
    ]
    for path, policy in policies:
        if policy.get("BadRequestErrorRetries", 0) > 0:
            warnings.append(
                f"{path}.BadRequestErrorRetries: a 400 is the caller's error and is never "
                "retried; this setting has no effect"
            )
    warnings.extend(_cache_warnings(file))
    return warnings


CACHE_TYPES = ("local", "redis")
# LiteLLM's names for what ``cache_params.supported_call_types`` may list.
CACHE_CALL_TYPES = frozenset(
    {"completion", "acompletion", "text_completion", "atext_completion", "embedding", "aembedding"}
)


def _cache_warnings(file: ConfigFile) -> list[str]:
    params = file.litellm_settings.cache_params
    path = "litellm_settings.cache_params"
    warnings = []
    if params.type not in CACHE_TYPES:
        warnings.append(
            f"{path}.type: {params.type!r} is not supported; answers are cached in process "
            "(use 'local', or 'redis' to share them)"
        )
    for index, name in enumerate(params.supported_call_types or []):
        if name not in CACHE_CALL_TYPES:
            warnings.append(
                f"{path}.supported_call_types[{index}]: {name!r} is never cached here; "
                f"expected one of {', '.join(sorted(CACHE_CALL_TYPES))}"
            )
    return warnings


class _Routable:
    """Names a request may name: groups, aliases, and any name a wildcard group serves."""

    def __init__(self, names: set[str], patterns: PatternSet) -> None:
        self._names = names
        self._patterns = patterns

    def __contains__(self, name: object) -> bool:
        if name in self._names:
            return True
        return isinstance(name, str) and self._patterns.match(name) is not None


def _check_fallback_list(
    path: str, entries: FallbackList, routable: _Routable, known: set[str]
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
