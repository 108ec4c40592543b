"""What a request cost: per-token prices from the config or the shipped table.

A deployment's ``model_info`` (``input_cost_per_token``,
``output_cost_per_token``, ``cache_read_input_token_cost``) wins; otherwise the
model is looked up in ``prices.json`` by its configured name, then by the name
the upstream answered with (dated snapshots such as ``gpt-4o-2024-08-06``
fall back to their base name). A model found nowhere has an unknown price: its
cost is recorded as NULL, never as 0, and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

from gateway.config.model import DeploymentSpec
from gateway.config.wildcards import WildcardIds, is_pattern

# ``-2024-08-06`` or ``-20241022`` at the end of a snapshot's name.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_MAX_REMEMBERED_NAMES = 4096
# A Bedrock model id's parts around the model's own name, outermost first.
_BEDROCK_PARTS = (
    re.compile(r"^(?:us|eu|apac|us-gov|global)\."),
    re.compile(r"^[a-z0-9-]+\.(?=[a-z])"),
    re.compile(r":\d+$"),
    re.compile(r"-v\d+$"),
)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token; ``cached_input`` None means cached tokens cost the input price."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int) -> float:
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (
            (prompt_tokens - cached) * self.input
            + cached * cached_price
            + completion_tokens * self.output
        )


def load_shipped_prices() -> dict[str, Price]:
    raw = resources.files("gateway.ledger").joinpath("prices.json").read_bytes()
    table: dict[str, Any] = orjson.loads(raw)
    return {
        name: Price(float(entry[0]), float(entry[1]), _opt(entry[2]))
        for name, entry in table.items()
        if not name.startswith("_")
    }


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


class PriceBook:
    """Prices resolved once per config; lookups on the request's way out are dict reads."""

    def __init__(self, deployments: Iterable[DeploymentSpec], shipped: Mapping[str, Price]) -> None:
        self._shipped = shipped
        self._by_name: dict[str, Price | None] = {}
        self._by_deployment: dict[str, Price | None] = {}
        self._models: dict[str, str] = {}
        patterns: list[str] = []
        for spec in deployments:
            if is_pattern(spec.model_group):
                patterns.append(spec.id)
                self._by_deployment[spec.id] = _configured(spec)
                continue
            self._models[spec.id] = spec.model
            base = spec.info.base_model
            self._by_deployment[spec.id] = (
                _configured(spec)
                or (self.for_model(base) if base else None)
                or self.for_model(spec.model)
            )
        # Wildcard deployments: their concrete deployments are ``<id>/<model>``.
        self._wildcards = WildcardIds(patterns)

    def configured_model(self, deployment_id: str) -> str | None:
        """The upstream model name a deployment is configured with (or, for a wildcard's
        concrete deployment, the model it was asked for)."""
        model = self._models.get(deployment_id)
        if model is None:
            pattern = self._wildcards.split(deployment_id)
            if pattern is not None:
                return pattern[1]
        return model

    def lookup(self, deployment_id: str | None, served_model: str | None) -> Price | None:
        if deployment_id is not None:
            price = self._by_deployment.get(deployment_id)
            if price is not None:
                return price
            pattern = self._wildcards.split(deployment_id)
            if pattern is not None:
                # The wildcard's own prices, else the concrete model's, else the model
                # the upstream says it served.
                configured = self._by_deployment.get(pattern[0])
                concrete = configured or self.for_model(pattern[1])
                if concrete is not None or not served_model:
                    return concrete
        if served_model:
            return self.for_model(served_model)
        return None

    def for_model(self, name: str) -> Price | None:
        if name in self._by_name:
            return self._by_name[name]
        price = None
        for candidate in _candidates(name.rsplit("/", 1)[-1]):
            price = self._shipped.get(candidate) or self._shipped.get(_SNAPSHOT.sub("", candidate))
            if price is not None:
                break
        if len(self._by_name) < _MAX_REMEMBERED_NAMES:
            self._by_name[name] = price
        return price


def _candidates(bare: str) -> list[str]:
    """The names a model may be listed under: as it is, then (a Bedrock id such as
    ``us.anthropic.claude-3-5-sonnet-20240620-v1:0``) without its region, vendor,
    revision and version, one at a time."""
    names = [bare]
    for pattern in _BEDROCK_PARTS:
        shorter = pattern.sub("", names[-1])
        if shorter != names[-1]:
            names.append(shorter)
    return names


def _configured(spec: DeploymentSpec) -> Price | None:
    info = spec.info
    if info.input_cost_per_token is None and info.output_cost_per_token is None:
        return None
    return Price(
        input=info.input_cost_per_token or 0.0,
        output=info.output_cost_per_token or 0.0,
        cached_input=info.cache_read_input_token_cost,
    )
