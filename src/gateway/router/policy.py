"""The router's settings, resolved once from the config."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.model import DEFAULT_MAX_FALLBACKS, GatewayConfig

# LiteLLM's defaults, so a config that relies on them behaves the same.
DEFAULT_ALLOWED_FAILS = 3
DEFAULT_COOLDOWN_TIME_S = 5.0


@dataclass(frozen=True, slots=True)
class RouterPolicy:
    num_retries: int
    retry_policy: dict[str, int] = field(default_factory=dict)
    group_retry_policy: dict[str, dict[str, int]] = field(default_factory=dict)
    allowed_fails: int = DEFAULT_ALLOWED_FAILS
    allowed_fails_policy: dict[str, int] = field(default_factory=dict)
    cooldown_time: float = DEFAULT_COOLDOWN_TIME_S
    max_retry_after_cooldown: float = 300.0
    max_cooldown_time: float = 300.0
    max_fallbacks: int = DEFAULT_MAX_FALLBACKS
    pre_call_checks: bool = False
    tag_filtering: bool = False
    tag_match_any: bool = True
    retry_budget_ratio: float = 0.2
    retry_budget_min: int = 10
    retry_budget_window: float = 10.0
    # Session affinity: how long a session's pin lasts unused (None: affinity is off),
    # and the most sessions one process remembers.
    affinity_ttl: float | None = None
    affinity_max_sessions: int = 100_000
    # Seconds before a hedge: a group's own, else the default (None: not hedged).
    hedge_after: dict[str, float] = field(default_factory=dict)
    hedge_default: float | None = None

    @classmethod
    def from_config(cls, config: GatewayConfig) -> RouterPolicy:
        settings = config.file.router_settings
        affinity = settings.affinity()
        return cls(
            num_retries=config.num_retries,
            retry_policy=_strip_suffix(settings.retry_policy, "Retries"),
            group_retry_policy={
                group: _strip_suffix(policy, "Retries")
                for group, policy in settings.model_group_retry_policy.items()
            },
            allowed_fails=(
                settings.allowed_fails
                if settings.allowed_fails is not None
                else DEFAULT_ALLOWED_FAILS
            ),
            allowed_fails_policy=_strip_suffix(settings.allowed_fails_policy, "AllowedFails"),
            cooldown_time=(
                settings.cooldown_time
                if settings.cooldown_time is not None
                else DEFAULT_COOLDOWN_TIME_S
            ),
            max_retry_after_cooldown=settings.max_retry_after_cooldown,
            max_cooldown_time=settings.max_cooldown_time,
            max_fallbacks=(
                settings.max_fallbacks
                if settings.max_fallbacks is not None
                else DEFAULT_MAX_FALLBACKS
            ),
            pre_call_checks=settings.enable_pre_call_checks,
            tag_filtering=settings.enable_tag_filtering,
            tag_match_any=settings.tag_filtering_match_any,
            retry_budget_ratio=settings.retry_budget.ratio,
            retry_budget_min=settings.retry_budget.min_retries_per_window,
            retry_budget_window=settings.retry_budget.window_seconds,
            affinity_ttl=affinity.ttl if affinity.enabled else None,
            affinity_max_sessions=affinity.max_sessions,
            hedge_after=_hedge_delays(config),
            hedge_default=(
                settings.hedge_after_ms / 1000.0 if settings.hedge_after_ms is not None else None
            ),
        )

    def hedge_delay(self, group: str) -> float | None:
        return self.hedge_after.get(group, self.hedge_default)

    def retries_for(self, group: str, error_class: str) -> int:
        """How many retries an error of ``error_class`` earns in ``group``.

        As in LiteLLM, a per-class policy replaces ``num_retries`` for that class;
        a group's own policy replaces the global one.
        """
        group_policy = self.group_retry_policy.get(group)
        if group_policy is not None and error_class in group_policy:
            return group_policy[error_class]
        return self.retry_policy.get(error_class, self.num_retries)


def _hedge_delays(config: GatewayConfig) -> dict[str, float]:
    """Per group, seconds before a hedge from its deployments' ``model_info.hedge_after_ms``
    (the smallest, when several say it)."""
    own: dict[str, float] = {}
    for spec in config.deployments:
        ms = spec.info.hedge_after_ms
        if ms is not None:
            own[spec.model_group] = min(ms / 1000.0, own.get(spec.model_group, ms / 1000.0))
    return own


def _strip_suffix(policy: dict[str, int], suffix: str) -> dict[str, int]:
    return {key.removesuffix(suffix): value for key, value in policy.items()}
