"""Model groups: the deployments that answer to one ``model_name``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.config.model import DeploymentSpec, GatewayConfig
from gateway.config.wildcards import is_pattern
from gateway.errors import ModelNotFound
from gateway.providers.base import Provider


@dataclass(slots=True, eq=False)
class Deployment:
    spec: DeploymentSpec
    provider: Provider
    # simple-shuffle's weight (LiteLLM's rule: weight, else rpm, else tpm).
    pick_weight: float | None
    # Request settings from litellm_params that a chat or text request gets unless it set them.
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def model_group(self) -> str:
        return self.spec.model_group


@dataclass(slots=True)
class ModelGroup:
    name: str
    deployments: list[Deployment] = field(default_factory=list)
    # Deployments by ``order`` (lowest first; no order last): higher tiers are
    # implicit fallbacks within the group.
    tiers: list[list[Deployment]] = field(default_factory=list)

    def add(self, deployment: Deployment) -> None:
        self.deployments.append(deployment)
        by_order: dict[float, list[Deployment]] = {}
        for member in self.deployments:
            order = member.spec.params.order
            by_order.setdefault(float("inf") if order is None else order, []).append(member)
        self.tiers = [by_order[key] for key in sorted(by_order)]


def pick_weight(spec: DeploymentSpec) -> float | None:
    params = spec.params
    if params.weight is not None:
        return params.weight
    if params.rpm is not None:
        return float(params.rpm)
    if params.tpm is not None:
        return float(params.tpm)
    return None


class PatternGroups(Protocol):
    """The groups wildcard deployments serve (``router.wildcards``)."""

    @property
    def names(self) -> list[str]: ...

    def match(self, name: str) -> ModelGroup | None: ...


class ModelGroups:
    """Name -> group, with aliases resolved, then wildcard patterns. Built once per config."""

    def __init__(
        self,
        config: GatewayConfig,
        providers: Mapping[str, Provider],
        patterns: PatternGroups | None = None,
    ) -> None:
        self._groups: dict[str, ModelGroup] = {}
        self._patterns = patterns
        for spec in config.deployments:
            if is_pattern(spec.model_group):
                continue  # served through ``patterns``, per name asked
            group = self._groups.setdefault(spec.model_group, ModelGroup(spec.model_group))
            group.add(
                Deployment(
                    spec=spec,
                    provider=providers[spec.id],
                    pick_weight=pick_weight(spec),
                    defaults=spec.request_defaults(),
                )
            )
        self._aliases = dict(config.aliases)
        self._hidden = config.hidden_aliases

    def resolve(self, name: str) -> ModelGroup:
        group = self.get(name)
        if group is None:
            raise ModelNotFound(
                f"The model {name!r} does not exist. Available models: "
                + ", ".join(self.public_names()),
                param="model",
            )
        return group

    def get(self, name: str) -> ModelGroup | None:
        group = self._groups.get(name)
        if group is not None:
            return group
        target = self._aliases.get(name)
        if target is not None:
            name = target
            group = self._groups.get(name)
            if group is not None:
                return group
        return self._patterns.match(name) if self._patterns is not None else None

    def public_names(self) -> list[str]:
        """What ``/v1/models`` lists: every group, and every alias not hidden."""
        aliases = (a for a in self._aliases if a not in self._groups and a not in self._hidden)
        patterns = self._patterns.names if self._patterns is not None else []
        return [*self._groups, *patterns, *aliases]

    def all_deployments(self) -> list[Deployment]:
        return [d for group in self._groups.values() for d in group.deployments]
