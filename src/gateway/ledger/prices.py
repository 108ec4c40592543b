"""What a request cost: per-token prices from the config or the shipped table.

A deployment's ``model_info`` (``input_cost_per_token``, ``output_cost_per_token``,
``cache_read_input_token_cost``, ``cache_creation_input_token_cost`` and LiteLLM's
tier and service-tier variants) wins; otherwise the
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
from gateway.providers.base import Usage

# ``-2024-08-06`` or ``-20241022`` at the end of a snapshot's name.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_MAX_REMEMBERED_NAMES = 4096
# A Bedrock model id's parts around the model's own name, outermost first.
_BEDROCK_PARTS = (
    re.compile(r"^(?:us|eu|apac|us-gov|global)\."),
    re.compile(r"^[a-z0-9-]+\.(?=[a-z])"),
    re.compile(r":\d+$"),
    re.compile(r"-v\d+$"),
    # Vertex AI's ``claude-sonnet-4-5@20250929``: the version after the ``@``.
    re.compile(r"@[\w.-]+$"),
)


# The price fields, by LiteLLM's names, in ``model_info`` and in ``prices.json``.
INPUT, OUTPUT = "input_cost_per_token", "output_cost_per_token"
CACHE_READ, CACHE_WRITE = "cache_read_input_token_cost", "cache_creation_input_token_cost"
CACHE_WRITE_1H = "cache_creation_input_token_cost_above_1hr"
RATE_FIELDS = (INPUT, OUTPUT, CACHE_READ, CACHE_WRITE)
# Long-context tiers: ``input_cost_per_token_above_200k_tokens`` and the like price every
# token of a request whose prompt is above the threshold (Anthropic's and Gemini's rule).
TIER_THRESHOLDS_K = (128, 200, 272)
# Service tiers with their own prices (``input_cost_per_token_flex``), by the names the
# providers answer with in ``service_tier``.
SERVICE_TIERS = ("flex", "priority")
# Anthropic's cache prices against its input price, for Claude rows that list none:
# reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x. Other providers bill cache
# writes (where they report any) as plain input, and unlisted reads as plain input.
_CLAUDE_RATIOS = {CACHE_READ: 0.1, CACHE_WRITE: 1.25, CACHE_WRITE_1H: 2.0}


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token for each kind of token one answer can use."""

    input: float
    output: float
    cache_read: float
    cache_write: float  # a 5-minute write (every write, where a provider has one ttl)
    cache_write_1h: float

    def cost(self, usage: Usage) -> float:
        prompt = max(usage.prompt_tokens, 0)
        read = min(max(usage.cached_tokens, 0), prompt)
        written = min(max(usage.cache_write_tokens, 0), prompt - read)
        hour = min(max(usage.cache_write_1h_tokens, 0), written)
        return (
            (prompt - read - written) * self.input
            + read * self.cache_read
            + (written - hour) * self.cache_write
            + hour * self.cache_write_1h
            + max(usage.completion_tokens, 0) * self.output
        )


@dataclass(frozen=True, slots=True)
class Price:
    """A model's rates: the base ones, long-context tiers (prompt tokens above a
    threshold, highest first) and service tiers (flex, priority)."""

    base: Rates
    tiers: tuple[tuple[int, Rates], ...] = ()
    service_tiers: tuple[tuple[str, Rates], ...] = ()

    def rates(self, usage: Usage) -> Rates:
        if usage.service_tier is not None:
            for name, rates in self.service_tiers:
                if name == usage.service_tier:
                    return rates
        for threshold, rates in self.tiers:
            if usage.prompt_tokens > threshold:
                return rates
        return self.base

    def cost(self, usage: Usage) -> float:
        return self.rates(usage).cost(usage)


def price_from_fields(fields: Mapping[str, Any], model: str) -> Price | None:
    """A price from LiteLLM's field names; None without an input or output rate.
    Missing cache rates follow the provider's rule (see ``_CLAUDE_RATIOS``); a tier's
    missing rates keep the base's proportions to its own input rate."""
    if _number(fields.get(INPUT)) is None and _number(fields.get(OUTPUT)) is None:
        return None
    base = _base_rates(fields, "claude" in model.lower())
    tiers = []
    for k in sorted(TIER_THRESHOLDS_K, reverse=True):
        rates = _derived_rates(fields, f"_above_{k}k_tokens", base)
        if rates is not None:
            tiers.append((k * 1000, rates))
    service = []
    for name in SERVICE_TIERS:
        rates = _derived_rates(fields, f"_{name}", base)
        if rates is not None:
            service.append((name, rates))
    return Price(base, tuple(tiers), tuple(service))


def _base_rates(fields: Mapping[str, Any], claude: bool) -> Rates:
    input_rate = _number(fields.get(INPUT)) or 0.0

    def cache(name: str, otherwise: float) -> float:
        value = _number(fields.get(name))
        if value is not None:
            return value
        return input_rate * _CLAUDE_RATIOS[name] if claude else otherwise

    write = cache(CACHE_WRITE, input_rate)
    listed_1h = _number(fields.get(CACHE_WRITE_1H))
    return Rates(
        input=input_rate,
        output=_number(fields.get(OUTPUT)) or 0.0,
        cache_read=cache(CACHE_READ, input_rate),
        cache_write=write,
        cache_write_1h=listed_1h
        if listed_1h is not None
        else (input_rate * _CLAUDE_RATIOS[CACHE_WRITE_1H] if claude else write),
    )


def _derived_rates(fields: Mapping[str, Any], suffix: str, base: Rates) -> Rates | None:
    """The rates under one suffix (a tier), or None when it lists no input or output."""
    listed = {name: _number(fields.get(name + suffix)) for name in (*RATE_FIELDS, CACHE_WRITE_1H)}
    if listed[INPUT] is None and listed[OUTPUT] is None:
        return None
    listed_input, listed_output = listed[INPUT], listed[OUTPUT]
    input_rate = base.input if listed_input is None else listed_input
    scale = input_rate / base.input if base.input else 1.0

    def pick(name: str, base_value: float) -> float:
        value = listed[name]
        return base_value * scale if value is None else value

    return Rates(
        input=input_rate,
        output=base.output if listed_output is None else listed_output,
        cache_read=pick(CACHE_READ, base.cache_read),
        cache_write=pick(CACHE_WRITE, base.cache_write),
        cache_write_1h=pick(CACHE_WRITE_1H, base.cache_write_1h),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def load_shipped_prices() -> dict[str, Price]:
    raw = resources.files("gateway.ledger").joinpath("prices.json").read_bytes()
    table: dict[str, Any] = orjson.loads(raw)
    prices = {}
    for name, fields in table.items():
        if name.startswith("_") or not isinstance(fields, dict):
            continue
        price = price_from_fields(fields, name)
        if price is not None:
            prices[name] = price
    return prices


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
    """A deployment's own prices from its ``model_info``, priced by the model it names."""
    info = spec.info
    return price_from_fields(info.model_dump(), info.base_model or spec.model)
