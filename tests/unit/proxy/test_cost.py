"""Tests for proxy.cost: price resolution, exact costs and output limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import genai_prices
import pytest
from genai_prices.types import (
    ClauseEquals,
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    StartDateConstraint,
    Tier,
    TieredPrices,
)
from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.enforcement.cost import (
    Price,
    PriceBook,
    PriceOverride,
    PriceUnknownError,
    TokenUsage,
    _upper_bound_price,
    max_output_tokens,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # prices are read at a time, never the clock
OVERRIDE = PriceOverride("openai", "house-model", Decimal("1.5"), Decimal("6"), Decimal("0.25"))
GENAI_MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-sonnet"),
    ("anthropic", "claude-sonnet-4-6"),
    ("gemini", "gemini-2.5-flash"),
    ("gemini", "gemini-2.5-pro"),
]


@st.composite
def usages(draw: st.DrawFn, limit: int = 2_000_000) -> TokenUsage:
    """Valid normalised usages: input covers cached and cache_write, output covers reasoning."""
    count = st.integers(0, limit)
    cached, cache_write, fresh = draw(count), draw(count), draw(count)
    reasoning, visible = draw(count), draw(count)
    return TokenUsage(
        input=cached + cache_write + fresh,
        output=reasoning + visible,
        cached=cached,
        reasoning=reasoning,
        cache_write=cache_write,
    )


def genai_total(provider_id: str, model: str, usage: TokenUsage) -> Decimal:
    """Reference figure straight from genai_prices.calc_price."""
    genai_usage = genai_prices.Usage(
        input_tokens=usage.input,
        output_tokens=usage.output,
        cache_read_tokens=usage.cached,
        cache_write_tokens=usage.cache_write,
    )
    calculation = genai_prices.calc_price(
        genai_usage, model, provider_id=provider_id, genai_request_timestamp=NOW
    )
    return calculation.total_price


@pytest.fixture
def book() -> PriceBook:
    return PriceBook([OVERRIDE], allow_unknown_at_zero=False)


def test_gpt_4o_costs_seven_and_a_half_thousandths_for_1000_in_500_out(book: PriceBook) -> None:
    assert book.cost("openai", "gpt-4o", TokenUsage(input=1000, output=500), NOW) == Decimal(
        "0.0075"
    )


def test_claude_3_5_sonnet_costs_0_0105_for_1000_in_500_out(book: PriceBook) -> None:
    usage = TokenUsage(input=1000, output=500)
    assert book.cost("anthropic", "claude-3-5-sonnet", usage, NOW) == Decimal("0.0105")


def test_gpt_4o_mini_prices_are_15_and_60_cents_per_million(book: PriceBook) -> None:
    price = book.price("openai", "gpt-4o-mini", NOW)
    assert (price.input_per_mtok, price.output_per_mtok) == (Decimal("0.15"), Decimal("0.6"))
    assert price.source == "genai-prices"


def test_dated_model_names_resolve_to_their_family(book: PriceBook) -> None:
    assert book.price("openai", "gpt-4o-2024-08-06", NOW) == book.price("openai", "gpt-4o", NOW)
    dated = book.price("anthropic", "claude-3-5-sonnet-20241022", NOW)
    assert dated == book.price("anthropic", "claude-3-5-sonnet", NOW)


def test_gemini_models_prefix_is_stripped_and_maps_to_google(book: PriceBook) -> None:
    price = book.price("gemini", "models/gemini-2.5-flash", NOW)
    assert price == book.price("gemini", "gemini-2.5-flash", NOW)
    usage = TokenUsage(input=1000, output=500)
    assert book.cost("gemini", "models/gemini-2.5-flash", usage, NOW) == genai_total(
        "google", "gemini-2.5-flash", usage
    )


def test_cached_and_cache_write_tokens_are_billed_like_genai_prices(book: PriceBook) -> None:
    usage = TokenUsage(input=1000, output=500, cached=400, cache_write=100)
    cost = book.cost("anthropic", "claude-3-5-sonnet", usage, NOW)
    assert cost == Decimal("0.009495")
    assert cost == genai_total("anthropic", "claude-3-5-sonnet", usage)


def test_tiered_prices_report_the_highest_tier_but_settle_at_the_exact_tier(
    book: PriceBook,
) -> None:
    price = book.price("gemini", "gemini-2.5-pro", NOW)
    assert price.input_per_mtok == Decimal("2.5")  # base is 1.25 below 200k input tokens
    assert book.cost("gemini", "gemini-2.5-pro", TokenUsage(input=100_000), NOW) == Decimal("0.125")
    assert book.cost("gemini", "gemini-2.5-pro", TokenUsage(input=300_000), NOW) == Decimal("0.75")


def test_future_dated_prices_are_included_and_superseded_ones_are_not() -> None:
    def flat(value: str) -> ModelPrice:
        return ModelPrice(input_mtok=Decimal(value), output_mtok=Decimal(value))

    tiered = TieredPrices(base=Decimal("3"), tiers=[Tier(start=200_000, price=Decimal("4"))])
    info = ModelInfo(
        id="m",
        match=ClauseEquals(equals="m"),
        prices=[
            ConditionalPrice(prices=flat("100")),
            ConditionalPrice(StartDateConstraint(date(2000, 1, 1)), prices=flat("2")),
            ConditionalPrice(
                StartDateConstraint(date(2999, 1, 1)),
                prices=ModelPrice(input_mtok=tiered, output_mtok=Decimal("1")),
            ),
        ],
    )
    price = _upper_bound_price(info, NOW)
    assert price is not None
    assert (price.input_per_mtok, price.output_per_mtok) == (Decimal("4"), Decimal("2"))
    before = _upper_bound_price(info, datetime(1999, 12, 31, tzinfo=UTC))
    assert before is not None and before.input_per_mtok == Decimal("100")


def test_override_beats_genai_prices_and_exact_provider_beats_wildcard() -> None:
    wildcard = PriceOverride("*", "gpt-4o", Decimal("9"), Decimal("9"))
    exact = PriceOverride("openai", "gpt-4o", Decimal("1"), Decimal("2"))
    book = PriceBook([wildcard, exact], allow_unknown_at_zero=False)
    assert book.price("openai", "gpt-4o", NOW) == Price(
        Decimal(1), Decimal(2), Decimal(1), "override"
    )
    assert book.price("azure", "gpt-4o", NOW).input_per_mtok == Decimal("9")


def test_override_without_cached_price_bills_cached_tokens_at_the_input_price() -> None:
    book = PriceBook([PriceOverride("*", "m", Decimal("2"), Decimal("8"))], False)
    assert book.cost("x", "m", TokenUsage(input=10, cached=10), NOW) == Decimal("0.00002")


def test_unknown_model_raises_an_error_naming_provider_and_model(book: PriceBook) -> None:
    with pytest.raises(PriceUnknownError, match="'openai'.*'no-such-model'"):
        book.price("openai", "no-such-model", NOW)
    with pytest.raises(PriceUnknownError):
        book.cost("openai", "no-such-model", TokenUsage(input=1), NOW)


def test_unknown_provider_is_unknown_rather_than_a_crash(book: PriceBook) -> None:
    with pytest.raises(PriceUnknownError, match="no-such-provider"):
        book.price("no-such-provider", "gpt-4o", NOW)


def test_unknown_model_is_free_when_zero_is_allowed() -> None:
    book = PriceBook([], allow_unknown_at_zero=True)
    assert book.price("openai", "no-such-model", NOW).source == "zero"
    assert book.cost("openai", "no-such-model", TokenUsage(input=5, output=5), NOW) == 0


def test_free_genai_models_cost_zero_and_non_token_models_are_unknown(book: PriceBook) -> None:
    assert book.price("gemini", "gemma-3", NOW).source == "genai-prices"
    assert book.cost("gemini", "gemma-3", TokenUsage(input=10, output=10), NOW) == 0
    with pytest.raises(PriceUnknownError, match="whisper-1"):
        book.price("openai", "whisper-1", NOW)  # priced per audio hour, not per token


def test_resolutions_are_cached(book: PriceBook) -> None:
    assert book.price("openai", "gpt-4o", NOW) is book.price("openai", "gpt-4o", NOW)


def test_token_usage_rejects_negative_and_inconsistent_counts() -> None:
    with pytest.raises(ValueError, match="output"):
        TokenUsage(output=-1)
    with pytest.raises(ValueError, match="include cached"):
        TokenUsage(input=1, cached=2)
    with pytest.raises(ValueError, match="include reasoning"):
        TokenUsage(output=1, reasoning=2)


def test_max_output_tokens_uses_the_longest_matching_family_prefix() -> None:
    assert max_output_tokens("openai", "gpt-4o-2024-08-06") == 16_384
    assert max_output_tokens("openai", "gpt-4-turbo-2024-04-09") == 4_096
    assert max_output_tokens("openai", "o1-mini") == 65_536
    assert max_output_tokens("anthropic", "claude-3-5-sonnet-latest") == 8_192
    assert max_output_tokens("gemini", "models/gemini-2.5-pro") == 65_536
    assert max_output_tokens("openai", "mystery-model") is None


@given(usages())
def test_zero_usage_costs_nothing_for_every_source(usage: TokenUsage) -> None:
    book = PriceBook([OVERRIDE], allow_unknown_at_zero=True)
    for provider, model in [*GENAI_MODELS, ("openai", "house-model"), ("x", "unknown")]:
        assert book.cost(provider, model, TokenUsage(), NOW) == 0
    assert book.cost("x", "unknown", usage, NOW) == 0


@given(usages(), usages())
def test_override_cost_is_exactly_linear(a: TokenUsage, b: TokenUsage) -> None:
    book = PriceBook([OVERRIDE], allow_unknown_at_zero=False)
    cost = book.cost
    assert cost("openai", "house-model", a + b, NOW) == cost(
        "openai", "house-model", a, NOW
    ) + cost("openai", "house-model", b, NOW)


@given(usages(), usages(), st.sampled_from([*GENAI_MODELS, ("openai", "house-model")]))
def test_cost_never_decreases_when_tokens_are_added(
    base: TokenUsage, extra: TokenUsage, pair: tuple[str, str]
) -> None:
    book = PriceBook([OVERRIDE], allow_unknown_at_zero=False)
    assert book.cost(*pair, base + extra, NOW) >= book.cost(*pair, base, NOW)


@given(usages(), st.sampled_from(GENAI_MODELS))
def test_genai_cost_equals_calc_price_for_the_same_usage(
    usage: TokenUsage, pair: tuple[str, str]
) -> None:
    provider, model = pair
    book = PriceBook([], allow_unknown_at_zero=False)
    provider_id = "google" if provider == "gemini" else provider
    assert book.cost(provider, model, usage, NOW) == genai_total(provider_id, model, usage)


@given(usages(), st.sampled_from([*GENAI_MODELS, ("openai", "house-model")]))
def test_reservation_cost_bounds_the_settled_cost(usage: TokenUsage, pair: tuple[str, str]) -> None:
    book = PriceBook([OVERRIDE], allow_unknown_at_zero=False)
    reserved = book.reservation_cost(*pair, TokenUsage(input=usage.input, output=usage.output), NOW)
    assert reserved >= book.cost(*pair, usage, NOW)


def test_a_price_is_read_at_the_time_given_and_cached_for_that_utc_day_only(
    book: PriceBook,
) -> None:
    today = book.price("openai", "gpt-4o", NOW)
    assert book.price("openai", "gpt-4o", NOW + timedelta(hours=1)) is today
    assert book.price("openai", "gpt-4o", NOW + timedelta(days=1)) is not today
