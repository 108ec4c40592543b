"""Prices: model_info first, then the shipped table (dated snapshots too), else unknown."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

import pytest

from gateway.config.loader import build_config
from gateway.ledger.prices import Price, PriceBook, Rates, load_shipped_prices
from gateway.providers.base import Usage


def book(*entries: dict[str, Any]) -> PriceBook:
    loaded = build_config({"model_list": list(entries)}, {}, "<test>")
    return PriceBook(loaded.config.deployments, load_shipped_prices())


def entry(name: str, model: str, **info: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "api_key": "sk-x"},
        "model_info": {"id": name, **info},
    }


def rates(input: float, output: float, read: float | None = None) -> Rates:
    """Rates as a row without cache-write prices has them (writes at the input rate)."""
    return Rates(input, output, input if read is None else read, input, input)


def test_cached_prompt_tokens_cost_the_cached_price() -> None:
    price = Price(rates(2e-06, 8e-06, 5e-07))
    usage = Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400)
    assert price.cost(usage) == pytest.approx(600 * 2e-06 + 400 * 5e-07 + 100 * 8e-06)
    # Without a cached price, cached tokens cost what any input token costs.
    no_cache_price = book(entry("p", "openai/house", input_cost_per_token=1e-06)).lookup("p", None)
    assert no_cache_price is not None
    assert no_cache_price.cost(Usage(10, 0, 4)) == pytest.approx(10e-06)


def test_each_kind_of_token_costs_its_own_price() -> None:
    price = Price(Rates(3e-06, 1.5e-05, 3e-07, 3.75e-06, 6e-06))
    usage = Usage(
        prompt_tokens=10_000,
        completion_tokens=500,
        cached_tokens=6_000,
        cache_write_tokens=3_000,
        cache_write_1h_tokens=1_000,
    )
    expected = 1_000 * 3e-06 + 6_000 * 3e-07 + 2_000 * 3.75e-06 + 1_000 * 6e-06 + 500 * 1.5e-05
    assert price.cost(usage) == pytest.approx(expected)


def test_a_claude_row_without_cache_prices_gets_anthropics_ratios() -> None:
    price = book(
        entry("c", "anthropic/claude-house", input_cost_per_token=1e-06, output_cost_per_token=0)
    ).lookup("c", None)
    assert price is not None
    assert astuple(price.base) == pytest.approx(astuple(Rates(1e-06, 0.0, 1e-07, 1.25e-06, 2e-06)))


def test_a_long_prompt_is_priced_at_its_tier_for_every_token() -> None:
    price = load_shipped_prices()["claude-sonnet-4-5"]
    short = Usage(prompt_tokens=200_000, completion_tokens=1_000)
    long = Usage(prompt_tokens=200_001, completion_tokens=1_000, cached_tokens=100_000)
    assert price.cost(short) == pytest.approx(200_000 * 3e-06 + 1_000 * 1.5e-05)
    assert price.cost(long) == pytest.approx(100_001 * 6e-06 + 100_000 * 6e-07 + 1_000 * 2.25e-05)


def test_a_configured_tier_without_cache_prices_keeps_the_bases_proportions() -> None:
    price = book(
        entry(
            "g",
            "gemini/house",
            input_cost_per_token=1e-06,
            output_cost_per_token=4e-06,
            cache_read_input_token_cost=2.5e-07,
            input_cost_per_token_above_128k_tokens=2e-06,
        )
    ).lookup("g", None)
    assert price is not None
    ((threshold, tier),) = price.tiers
    assert threshold == 128_000
    assert astuple(tier) == pytest.approx(astuple(Rates(2e-06, 4e-06, 5e-07, 2e-06, 2e-06)))


def test_the_service_tier_served_picks_its_prices() -> None:
    price = load_shipped_prices()["gpt-5"]
    usage = Usage(prompt_tokens=1_000, completion_tokens=1_000)
    assert price.cost(usage) == pytest.approx(1_000 * 1.25e-06 + 1_000 * 1e-05)
    flex = Usage(prompt_tokens=1_000, completion_tokens=1_000, service_tier="flex")
    assert price.cost(flex) == pytest.approx(1_000 * 6.25e-07 + 1_000 * 5e-06)
    # A tier the row has no price for ("default", "scale") is priced at the base rates.
    assert price.cost(Usage(1_000, 1_000, service_tier="scale")) == price.cost(usage)


def test_model_info_wins_over_the_shipped_table() -> None:
    prices = book(
        entry(
            "a",
            "openai/gpt-4o",
            input_cost_per_token=1e-06,
            output_cost_per_token=3e-06,
            cache_read_input_token_cost=1e-07,
        )
    )
    assert prices.lookup("a", "gpt-4o") == Price(rates(1e-06, 3e-06, 1e-07))


def test_the_shipped_table_prices_known_models_and_their_snapshots() -> None:
    prices = book(entry("mini", "openai/gpt-4o-mini"), entry("other", "openai/house-model"))
    shipped = load_shipped_prices()
    mini = prices.lookup("mini", None)
    assert mini is not None and mini.base == rates(1.5e-07, 6e-07, 7.5e-08)
    assert prices.lookup("other", "gpt-4o-2024-08-06") == shipped["gpt-4o"]
    haiku = prices.lookup("other", "claude-3-5-haiku-20241022")
    assert haiku is not None
    assert astuple(haiku.base) == pytest.approx(astuple(Rates(8e-07, 4e-06, 8e-08, 1e-06, 1.6e-06)))


def test_an_unknown_model_has_no_price() -> None:
    prices = book(entry("house", "openai/house-model"))
    assert prices.lookup("house", "house-model") is None
    assert prices.lookup(None, None) is None


@pytest.mark.parametrize(
    ("bedrock_id", "listed"),
    [
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("amazon.titan-embed-text-v2:0", "titan-embed-text-v2"),
        ("cohere.embed-english-v3", "embed-english-v3"),
    ],
)
def test_bedrock_ids_are_priced_as_the_model_they_name(bedrock_id: str, listed: str) -> None:
    shipped = load_shipped_prices()
    assert PriceBook([], shipped).for_model(bedrock_id) == shipped[listed]


def test_a_dotted_openai_name_is_not_mistaken_for_a_bedrock_id() -> None:
    shipped = load_shipped_prices()
    assert PriceBook([], shipped).for_model("gpt-4.1-mini") == shipped["gpt-4.1-mini"]
