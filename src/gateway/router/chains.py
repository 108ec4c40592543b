"""Which group to try after a group fails: fallback chains from four sources.

Priority for a group's chain: the request body's ``fallbacks`` (for the group
asked for), the runtime override set through the admin API, the config's
``router_settings.fallbacks``, then ``default_fallbacks`` (only for groups
without a chain of their own). Context-window and content-policy errors use
their own chains. ``disable_fallbacks`` turns all of it off.
"""

from __future__ import annotations

from typing import Protocol

from gateway.config.model import GatewayConfig
from gateway.router.classify import FallbackKind


class FallbackOverrides(Protocol):
    """Runtime overrides, set by operators (the admin API fills this)."""

    def redirect(self, group: str) -> str | None:
        """A group whose traffic goes straight to another group, or None."""

    def fallbacks(self, group: str) -> tuple[str, ...] | None:
        """A replacement chain for ``group``, or None to keep the configured one."""


class NoOverrides:
    def redirect(self, group: str) -> str | None:
        return None

    def fallbacks(self, group: str) -> tuple[str, ...] | None:
        return None


class ChainPlanner:
    def __init__(self, config: GatewayConfig, overrides: FallbackOverrides) -> None:
        self._general = config.fallbacks
        self._context = config.context_window_fallbacks
        self._policy = config.content_policy_fallbacks
        self._default = config.default_fallbacks
        self._overrides = overrides

    @property
    def overrides(self) -> FallbackOverrides:
        return self._overrides

    def chain(
        self, group: str, kind: FallbackKind, request_fallbacks: list[str] | None
    ) -> tuple[str, ...]:
        """The groups to try, in order, after ``group`` failed with an error of ``kind``.

        ``request_fallbacks`` is the body's list when ``group`` is the one asked for.
        """
        if kind is FallbackKind.NONE:
            return ()
        if kind is FallbackKind.CONTEXT_WINDOW:
            return self._context.get(group, ())
        if kind is FallbackKind.CONTENT_POLICY:
            return self._policy.get(group, ())
        if request_fallbacks is not None:
            return tuple(request_fallbacks)
        override = self._overrides.fallbacks(group)
        if override is not None:
            return override
        configured = self._general.get(group)
        if configured is not None:
            return configured
        return tuple(g for g in self._default if g != group)
