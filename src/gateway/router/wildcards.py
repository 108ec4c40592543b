"""Groups served by wildcard deployments, made for each name requested.

A request for ``openai/gpt-4o-mini`` that only ``openai/*`` serves gets a group
named after the pattern (what ``x-gateway-model-group``, the ledger and key
model lists see) whose deployments call the concrete model. Each concrete
deployment has an id of its own (``<deployment id>/<model>``), so cooldowns
and rpm/tpm limits are per model as the providers' own limits are: a 404 for
one name, or a 429 on one model, never cools the pattern's other models.
Groups are kept for the names asked most recently, up to a bound, so a caller
sending junk names cannot grow the gateway's memory.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable

from gateway.config.model import DeploymentSpec
from gateway.config.providers import provider_and_model
from gateway.config.wildcards import PatternSet, concrete_model
from gateway.providers.base import Provider
from gateway.router.groups import Deployment, ModelGroup, pick_weight

MAX_MATERIALIZED = 1024

ProviderFactory = Callable[[DeploymentSpec], Provider]


class WildcardGroups:
    def __init__(self, specs: Iterable[DeploymentSpec], build: ProviderFactory | None) -> None:
        self._specs: dict[str, list[DeploymentSpec]] = {}
        for spec in specs:
            self._specs.setdefault(spec.model_group, []).append(spec)
        self._patterns = PatternSet(self._specs)
        self._build = build
        self._made: OrderedDict[str, ModelGroup] = OrderedDict()

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def match(self, name: str) -> ModelGroup | None:
        made = self._made.get(name)
        if made is not None:
            self._made.move_to_end(name)
            return made
        if self._build is None:
            return None
        found = self._patterns.match(name)
        if found is None:
            return None
        pattern, captures = found
        group = ModelGroup(pattern)
        for spec in self._specs[pattern]:
            concrete = _concrete(spec, captures)
            group.add(
                Deployment(
                    spec=concrete,
                    provider=self._build(concrete),
                    pick_weight=pick_weight(concrete),
                    defaults=concrete.request_defaults(),
                )
            )
        self._made[name] = group
        if len(self._made) > MAX_MATERIALIZED:
            self._made.popitem(last=False)
        return group


def _concrete(spec: DeploymentSpec, captures: tuple[str, ...]) -> DeploymentSpec:
    params = spec.params.model_copy(update={"model": concrete_model(spec.params.model, captures)})
    provider, model, _ = provider_and_model(params)
    return dataclasses.replace(
        spec, id=f"{spec.id}/{params.model}", provider=provider, model=model, params=params
    )
