"""One line per model group saying how it routes, for ``gateway check-config``."""

from __future__ import annotations

from gateway.config.model import DeploymentSpec, GatewayConfig


def strategy_of(config: GatewayConfig, group: str) -> str:
    """The group's routing strategy: its own setting, a deployment's, else the default."""
    settings = config.file.router_settings
    named = settings.model_group_routing_strategy.get(group)
    if named is not None:
        return named
    for spec in config.deployments:
        if spec.model_group == group and spec.info.routing_strategy is not None:
            return spec.info.routing_strategy
    return settings.routing_strategy


def routing_lines(config: GatewayConfig) -> list[str]:
    settings = config.file.router_settings
    affinity = settings.affinity()
    affinity_ttl = affinity.ttl if affinity.enabled else None
    lines = []
    for group in config.group_names():
        members = [spec for spec in config.deployments if spec.model_group == group]
        parts = [strategy_of(config, group), _tiers(members)]
        if settings.enable_tag_filtering and any(spec.params.tags for spec in members):
            rule = "any" if settings.tag_filtering_match_any else "all"
            parts.append(f"tag filtering ({rule} tag matches)")
        if affinity_ttl is not None and len(members) > 1:
            parts.append(f"session affinity (ttl {affinity_ttl:g}s)")
        hedge_ms = min(
            (spec.info.hedge_after_ms for spec in members if spec.info.hedge_after_ms is not None),
            default=settings.hedge_after_ms,
        )
        if hedge_ms is not None and len(members) > 1:
            parts.append(f"hedged after {hedge_ms:g}ms")
        chain = config.fallbacks.get(group) or config.default_fallbacks
        if chain:
            parts.append("falls back to " + " -> ".join(chain))
        lines.append(f"routing: {group}: " + "; ".join(parts))
    return lines


def _tiers(members: list[DeploymentSpec]) -> str:
    by_order: dict[float, list[DeploymentSpec]] = {}
    for spec in members:
        rank = float("inf") if spec.params.order is None else float(spec.params.order)
        by_order.setdefault(rank, []).append(spec)
    tiers = []
    for order in sorted(by_order):
        names = ", ".join(_member(spec) for spec in by_order[order])
        tiers.append(names if order == float("inf") else f"order {order:g}: {names}")
    return " | then ".join(tiers)


def _member(spec: DeploymentSpec) -> str:
    params = spec.params
    notes = []
    if params.weight is not None:
        notes.append(f"weight {params.weight:g}")
    if params.rpm is not None:
        notes.append(f"rpm {params.rpm}")
    if params.tpm is not None:
        notes.append(f"tpm {params.tpm}")
    if params.tags:
        notes.append("tags " + ",".join(params.tags))
    return spec.id + (f" ({'; '.join(notes)})" if notes else "")
