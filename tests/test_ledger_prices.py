"""Prices: model_info first, then the shipped table (dated snapshots too), else unknown."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.loader import build_config
from gateway.ledger.prices import Price, PriceBook, load_shipped_prices


def book(*entries: dict[str, Any]) -> PriceBook:
    loaded = build_config({"model_list": list(entries)}, {}, "<test>")
    return PriceBook(loaded.config.deployments, load_shipped_prices())


def entry(name: str, model: str, **info: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "api_key": "sk-x"},
        "model_info": {"id": name, **info},
    }


def test_cached_prompt_tokens_cost_the_cached_price() -> None:
    price = Price(input=2e-06, output=8e-06, cached_input=5e-07)
    assert price.cost(1000, 100, 400) == pytest.approx(600 * 2e-06 + 400 * 5e-07 + 100 * 8e-06)
    # Without a cached price, cached tokens cost what any input token costs.
    assert Price(1e-06, 1e-06).cost(10, 0, 4) == pytest.approx(10e-06)


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
    assert prices.lookup("a", "gpt-4o") == Price(1e-06, 3e-06, 1e-07)


def test_the_shipped_table_prices_known_models_and_their_snapshots() -> None:
    prices = book(entry("mini", "openai/gpt-4o-mini"), entry("other", "openai/house-model"))
    assert prices.lookup("mini", None) == Price(1.5e-07, 6e-07, 7.5e-08)
    assert prices.lookup("other", "gpt-4o-2024-08-06") == Price(2.5e-06, 1e-05, 1.25e-06)
    assert prices.lookup("other", "claude-3-5-haiku-20241022") == Price(8e-07, 4e-06, 8e-08)


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
