"""Pure pricing: per-million-token prices, exact Decimal costs and output-token limits.

Every price is read at a time the caller passes (`now`): genai-prices' conditional prices
start on UTC dates, so the same request at the same time always costs the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Final

import genai_prices
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider, StartDateConstraint, TieredPrices

_PER_MTOK: Final = Decimal(1_000_000)
_ZERO: Final = Decimal(0)

# Gateway provider types whose genai-prices provider id differs; others pass through unchanged.
_GENAI_PROVIDER_IDS: Final[dict[str, str]] = {"gemini": "google"}

# Families genai-prices lists under a provider that its API of this type does not serve
# (Vertex AI's Claude models under `google`; the Gemini API serves Gemini and Gemma).
_FOREIGN_FAMILIES: Final[dict[str, tuple[str, ...]]] = {"gemini": ("claude-",)}

# Largest output (completion + reasoning) per model family; the longest matching prefix wins.
# genai-prices only carries `context_window` (an input limit), so this table is hand-maintained
# from the providers' model pages. Callers fall back to 16_384 when no prefix matches.
_MAX_OUTPUT_TOKENS: Final[dict[str, int]] = {
    "gpt-3.5-turbo": 4_096,
    "gpt-4": 8_192,
    "gpt-4-turbo": 4_096,
    "gpt-4o": 16_384,
    "gpt-4.1": 32_768,
    "gpt-4.5": 16_384,
    "gpt-5": 128_000,
    "o1": 100_000,
    "o1-mini": 65_536,
    "o3": 100_000,
    "o4-mini": 100_000,
    "claude-3-haiku": 4_096,
    "claude-3-opus": 4_096,
    "claude-3-sonnet": 4_096,
    "claude-3-5-haiku": 8_192,
    "claude-3-5-sonnet": 8_192,
    "claude-3-7-sonnet": 128_000,  # 64k by default, 128k with the output-128k beta header
    "claude-sonnet-4": 64_000,
    "claude-opus-4": 32_000,
    "claude-opus-4-5": 64_000,
    "claude-haiku-4-5": 64_000,
    "gemini-1.5": 8_192,
    "gemini-2.0": 8_192,
    "gemini-2.5": 65_536,
    "gemini-3": 65_536,
}


@dataclass(frozen=True)
class TokenUsage:
    """Normalised token counts: `input` includes `cached` and `cache_write` tokens;
    `output` includes `reasoning` tokens."""

    input: int = 0
    output: int = 0
    cached: int = 0
    reasoning: int = 0
    cache_write: int = 0

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached", "reasoning", "cache_write"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"TokenUsage.{name} must be a non-negative int, got {value!r}")
        if self.cached + self.cache_write > self.input:
            raise ValueError("TokenUsage.input must include cached and cache_write tokens")
        if self.reasoning > self.output:
            raise ValueError("TokenUsage.output must include reasoning tokens")

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input=self.input + other.input,
            output=self.output + other.output,
            cached=self.cached + other.cached,
            reasoning=self.reasoning + other.reasoning,
            cache_write=self.cache_write + other.cache_write,
        )


def tokens_dict(usage: TokenUsage) -> dict[str, int]:
    """The token figures as stored on the settled event."""
    tokens = {
        "input": usage.input,
        "output": usage.output,
        "cached": usage.cached,
        "reasoning": usage.reasoning,
    }
    if usage.cache_write:
        tokens["cache_write"] = usage.cache_write
    return tokens


@dataclass(frozen=True)
class PriceOverride:
    """Operator-configured price; provider `*` matches any provider type."""

    provider: str
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None


@dataclass(frozen=True)
class Price:
    """USD per million tokens; for genai-prices these are the highest tier (upper-bound use)."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal
    source: str  # "override" | "genai-prices" | "zero"
    cache_write_per_mtok: Decimal | None = None  # None: cache writes bill at the input price


class PriceUnknownError(LookupError):
    """No override and no genai-prices entry for a provider/model pair."""

    def __init__(self, provider_type: str, model: str) -> None:
        super().__init__(f"no price known for provider {provider_type!r} model {model!r}")
        self.provider_type = provider_type
        self.model = model


@dataclass(frozen=True)
class _Resolution:
    price: Price
    genai: tuple[Provider, ModelInfo] | None = None


_ZERO_PRICE: Final = Price(_ZERO, _ZERO, _ZERO, "zero")


def normalise_model(provider_type: str, model: str) -> str:
    """Model name as priced: Gemini's `models/` prefix stripped."""
    return model.removeprefix("models/") if provider_type == "gemini" else model


def genai_provider_id(provider_type: str) -> str:
    """genai-prices provider id for a gateway provider type (gemini -> google)."""
    return _GENAI_PROVIDER_IDS.get(provider_type, provider_type)


@lru_cache(maxsize=4096)
def max_output_tokens(provider_type: str, model: str) -> int | None:
    """Largest output the model family can produce, or None when unknown."""
    name = normalise_model(provider_type, model).lower()
    best = max((p for p in _MAX_OUTPUT_TOKENS if name.startswith(p)), key=len, default=None)
    return None if best is None else _MAX_OUTPUT_TOKENS[best]


class PriceBook:
    """Resolves prices (override, then genai-prices, then optional zero) with a per-model cache."""

    def __init__(self, overrides: Sequence[PriceOverride], allow_unknown_at_zero: bool) -> None:
        self._overrides = {(o.provider, o.model): o for o in overrides}
        self._allow_unknown_at_zero = allow_unknown_at_zero
        self._cache: dict[tuple[str, str], _Resolution | None] = {}  # for the day `_day`
        self._day: date | None = None

    def price(self, provider_type: str, model: str, now: datetime) -> Price:
        """Per-million prices at `now`; PriceUnknownError when unknown and zero is not allowed."""
        return self._resolve(provider_type, model, now).price

    def cost(self, provider_type: str, model: str, usage: TokenUsage, now: datetime) -> Decimal:
        """Exact settlement cost in USD of a request made at `now`; genai-prices models use its
        calc_price (exact tiers, the prices in force at that timestamp)."""
        resolution = self._resolve(provider_type, model, now)
        if resolution.genai is not None:
            provider, info = resolution.genai
            genai_usage = genai_prices.Usage(
                input_tokens=usage.input,
                output_tokens=usage.output,
                cache_read_tokens=usage.cached,
                cache_write_tokens=usage.cache_write,
            )
            calculation = info.calc_price(genai_usage, provider, genai_request_timestamp=now)
            return calculation.total_price
        price = resolution.price
        uncached = usage.input - usage.cached
        return (
            uncached * price.input_per_mtok
            + usage.cached * price.cached_input_per_mtok
            + usage.output * price.output_per_mtok
        ) / _PER_MTOK

    def reservation_cost(
        self, provider_type: str, model: str, usage: TokenUsage, now: datetime
    ) -> Decimal:
        """Upper bound of `cost()` from `now` on for any usage within these counts: every input
        token may be a cache write and every price is at its highest tier."""
        price = self._resolve(provider_type, model, now).price
        input_rate = max(
            price.input_per_mtok, price.cached_input_per_mtok, price.cache_write_per_mtok or _ZERO
        )
        return (usage.input * input_rate + usage.output * price.output_per_mtok) / _PER_MTOK

    def catalogue(self, provider_type: str) -> tuple[str, ...]:
        """The models priced for a provider type: its overrides (and `*` ones), then
        genai-prices' current per-token models (no deprecated ones, no fine-tune prefixes)."""
        named = [m for (p, m) in self._overrides if p in (provider_type, "*")]
        return tuple(dict.fromkeys([*sorted(named), *_genai_models(provider_type)]))

    def _resolve(self, provider_type: str, model: str, now: datetime) -> _Resolution:
        day = now.astimezone(UTC).date()  # genai-prices' price changes start on UTC dates
        if day != self._day:
            self._cache.clear()
            self._day = day
        key = (provider_type, model)
        try:
            resolution = self._cache[key]
        except KeyError:
            resolution = self._cache[key] = self._lookup(provider_type, model, now)
        if resolution is None:
            raise PriceUnknownError(provider_type, model)
        return resolution

    def _lookup(self, provider_type: str, model: str, now: datetime) -> _Resolution | None:
        name = normalise_model(provider_type, model)
        override = self._overrides.get((provider_type, name)) or self._overrides.get(("*", name))
        if override is not None:
            cached = override.cached_input_per_mtok
            return _Resolution(
                Price(
                    override.input_per_mtok,
                    override.output_per_mtok,
                    override.input_per_mtok if cached is None else cached,
                    "override",
                )
            )
        try:
            found = get_snapshot().find_provider_model(
                name, None, genai_provider_id(provider_type), None
            )
        except LookupError:
            found = None
        if found is not None and (price := _upper_bound_price(found[1], now)) is not None:
            return _Resolution(price, found)
        return _Resolution(_ZERO_PRICE) if self._allow_unknown_at_zero else None


@lru_cache(maxsize=16)
def _genai_models(provider_type: str) -> tuple[str, ...]:
    """genai-prices' models of a provider type that a client can name and is billed per token."""
    try:
        provider = get_snapshot().find_provider(None, genai_provider_id(provider_type), None)
    except LookupError:
        return ()
    foreign = _FOREIGN_FAMILIES.get(provider_type, ())
    return tuple(
        info.id
        for info in provider.models
        if not info.deprecated
        and not info.id.endswith(("-", "."))  # a prefix of fine-tuned names, not a model
        and not info.id.startswith(foreign)
        and info.is_match(info.id)
        and _upper_bound_price(info, None) is not None
    )


def _upper_bound_price(info: ModelInfo, now: datetime | None) -> Price | None:
    """Highest per-token prices the model can charge from `now` on (None: over all its prices,
    to know whether it is priced per token at all); None if priced by other units."""
    candidates = _current_and_future_prices(info, now)

    def top(*keys: str) -> Decimal | None:
        values = [_highest(getattr(p, k)) for p in candidates for k in keys]
        present = [v for v in values if v is not None]
        return max(present) if present else None

    input_price, output_price = top("input_mtok"), top("output_mtok")
    if input_price is None and output_price is None:
        free = not any(v is not None for p in candidates for v in vars(p).values())
        return Price(_ZERO, _ZERO, _ZERO, "genai-prices") if free else None
    input_price = input_price or _ZERO
    cached = top("cache_read_mtok")
    return Price(
        input_per_mtok=input_price,
        output_per_mtok=output_price or _ZERO,
        cached_input_per_mtok=input_price if cached is None else cached,
        source="genai-prices",
        # TokenUsage has no TTL split, so settlement bills cache writes at the 5-minute rate.
        cache_write_per_mtok=top("cache_write_mtok", "cache_write_5m_mtok"),
    )


def _current_and_future_prices(info: ModelInfo, now: datetime | None) -> list[ModelPrice]:
    """Conditional prices that can still apply: the last permanently active one and later ones
    (every one when `now` is None)."""
    if isinstance(info.prices, ModelPrice):
        return [info.prices]
    if now is None:
        return [conditional.prices for conditional in info.prices]
    floor = 0
    for index, conditional in enumerate(info.prices):
        constraint = conditional.constraint
        if constraint is None or (
            isinstance(constraint, StartDateConstraint) and constraint.active(now)
        ):
            floor = index
    return [conditional.prices for conditional in info.prices[floor:]]


def _highest(value: Decimal | TieredPrices | None) -> Decimal | None:
    if isinstance(value, TieredPrices):
        return max([value.base, *(tier.price for tier in value.tiers)])
    return value
