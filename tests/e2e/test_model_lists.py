"""Model listings through the official SDKs: OpenAI `models.list` / `retrieve`, Anthropic
`models.list` / `retrieve` / `messages.count_tokens`, google-genai `models.list` / `get`.

A key allowed `*` sees the price catalogue of each route's provider type (overrides, then
genai-prices); a narrower key sees only what its routes and provider keys allow.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from govledger.proxy.enforcement.cost import PriceBook, PriceOverride
from govledger.proxy.enforcement.estimate import input_token_bound
from tests.conftest import RunningGateway
from tests.e2e.openai_support import client, module_gateway, virtual_key
from tests.e2e.vendor_support import ANTHROPIC_KEY, anthropic_client, gemini_client, vendor

WIDE = ANTHROPIC_KEY
NARROW = "sk-bf-e2e-models-narrow-01"
OFF = "sk-bf-e2e-models-disabled1"
HOUSE = {
    "provider": "openai",
    "model": "house-model",
    "input_per_mtok": "1",
    "output_per_mtok": "2",
}


def config() -> dict[str, Any]:
    """Three vendors; the wide key allows `*` on two of them and one model on the third."""
    wide = virtual_key(
        "wide",
        WIDE,
        providers=(),
        provider_configs=[
            {"provider": "oa", "allowed_models": ["*"]},
            {"provider": "claude", "allowed_models": ["claude-sonnet-4-5"]},
            {"provider": "gem", "model_map": {"fast": "gemini-2.5-flash"}},
        ],
    )
    narrow = virtual_key(
        "narrow",
        NARROW,
        providers=(),
        provider_configs=[{"provider": "oa", "allowed_models": ["gpt-4o-mini", "unpriced-x"]}],
    )
    return {
        "providers": [
            vendor("oa", "openai"),
            vendor("claude", "anthropic"),
            vendor("gem", "gemini"),
        ],
        "pricing_overrides": [HOUSE],
        "virtual_keys": [wide, narrow, virtual_key("off", OFF, ("oa",), is_active=False)],
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One gateway for the module."""
    with module_gateway(tmp_path_factory, config()) as running:
        yield running


def catalogue(provider_type: str) -> tuple[str, ...]:
    """What the gateway expands `*` to for a provider type, under this module's prices."""
    overrides = [PriceOverride("openai", "house-model", 1, 2)]  # type: ignore[arg-type]
    return PriceBook(overrides, False).catalogue(provider_type)


def expected_wide() -> list[str]:
    openai_models = sorted(catalogue("openai"))
    gemini_models = sorted({*catalogue("gemini"), "fast"})
    return (
        [f"oa/{m}" for m in openai_models]
        + ["claude/claude-sonnet-4-5"]
        + [f"gem/{m}" for m in gemini_models]
    )


def test_the_catalogue_holds_real_priced_models_of_each_vendor_only() -> None:
    assert {"house-model", "gpt-4o-mini", "gpt-4o"} <= set(catalogue("openai"))
    assert "claude-sonnet-4-5" in catalogue("anthropic")
    assert "gemini-2.5-flash" in catalogue("gemini")
    assert not [m for m in catalogue("gemini") if m.startswith("claude")]
    assert not [m for m in catalogue("openai") if m.endswith("-")]
    book = PriceBook([], False)
    for kind in ("openai", "anthropic", "gemini"):
        for model in catalogue(kind):
            if model != "house-model":
                assert book.price(kind, model, datetime.now(UTC)).source == "genai-prices", (
                    kind,
                    model,
                )


def test_openai_lists_and_retrieves_what_the_key_may_use(gateway: RunningGateway) -> None:
    with client(gateway, WIDE) as sdk:
        raw = sdk.models.with_raw_response.list()
        listed = [m.id for m in raw.parse()]
        assert listed == expected_wide()
        assert len(raw.headers["x-govledger-request-id"]) == 32
        bare = sdk.models.retrieve("gpt-4o-mini")
        assert (bare.id, bare.owned_by) == ("gpt-4o-mini", "oa")
        assert sdk.models.retrieve("claude/claude-sonnet-4-5").owned_by == "claude"
        assert sdk.models.retrieve("fast").owned_by == "gem"
        for missing in ("no-such-model", "claude/claude-haiku-4-5", "gem/gpt-4o-mini"):
            with pytest.raises(openai.NotFoundError) as caught:
                sdk.models.retrieve(missing)
            assert caught.value.code == "model_not_found", missing
    with client(gateway, NARROW, "/openai/v1") as sdk:
        assert [m.id for m in sdk.models.list()] == ["oa/gpt-4o-mini", "oa/unpriced-x"]
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve("unpriced-x")  # allowed, but it could never be admitted
    with client(gateway, OFF) as sdk, pytest.raises(openai.PermissionDeniedError) as blocked:
        sdk.models.retrieve("gpt-4o-mini")
    assert blocked.value.code == "virtual_key_blocked"
    unknown = client(gateway, "sk-bf-not-a-key-000000000")
    with unknown as sdk, pytest.raises(openai.AuthenticationError):
        sdk.models.list()


def test_anthropic_lists_pages_and_retrieves(gateway: RunningGateway) -> None:
    with anthropic_client(gateway) as sdk:
        page = sdk.models.list(limit=5)
        assert [m.id for m in page.data] == expected_wide()[:5] and page.has_more
        assert [m.id for m in sdk.models.list(limit=7)] == expected_wide()  # auto-paginated
        assert sdk.models.retrieve("claude-sonnet-4-5").id == "claude-sonnet-4-5"
        assert sdk.models.retrieve("oa/gpt-4o-mini").type == "model"
        with pytest.raises(anthropic.NotFoundError) as caught:
            sdk.models.retrieve("claude/claude-haiku-4-5")
        assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError):
            sdk.models.list(after_id="nothing")
    with (
        anthropic_client(gateway, api_key=OFF) as sdk,
        pytest.raises(anthropic.PermissionDeniedError),
    ):
        sdk.models.list()


def test_count_tokens_answers_the_estimators_upper_bound(gateway: RunningGateway) -> None:
    messages: list[Any] = [{"role": "user", "content": "How many tokens is this sentence?"}]
    system = "Answer briefly."
    with anthropic_client(gateway) as sdk:
        raw = sdk.messages.with_raw_response.count_tokens(
            model="claude-sonnet-4-5", messages=messages, system=system
        )
        counted = raw.parse().input_tokens
        assert raw.headers["x-govledger-token-count"] == "upper-bound"
        body = {"model": "claude-sonnet-4-5", "messages": messages, "system": system}
        assert counted == input_token_bound(body, "anthropic_messages")
        reply = sdk.messages.create(
            model="claude-sonnet-4-5", messages=messages, system=system, max_tokens=5
        )
        assert counted >= reply.usage.input_tokens  # a bound, never below the real count
        with pytest.raises(anthropic.BadRequestError) as bad:
            sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=[])
        assert bad.value.body["error"]["details"]["error_code"] == "missing_messages"  # type: ignore[index]
    with anthropic_client(gateway, api_key=NARROW) as sdk:
        with pytest.raises(anthropic.PermissionDeniedError) as blocked:
            sdk.messages.count_tokens(model="gpt-4o", messages=messages)
        error = blocked.value.body["error"]  # type: ignore[index]
        assert error["details"]["error_code"] == "model_blocked"
    with anthropic_client(gateway, api_key="sk-bf-unknown-00000000000") as sdk:
        with pytest.raises(anthropic.AuthenticationError) as denied:
            sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)
        assert denied.value.body["type"] == "error"  # type: ignore[index]


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_gemini_lists_pages_and_gets(gateway: RunningGateway, version: str) -> None:
    sdk = gemini_client(gateway, version, key=WIDE)
    config = genai_types.ListModelsConfig(page_size=9)
    names = [m.name for m in sdk.models.list(config=config)]
    assert names == [f"models/{m}" for m in expected_wide()]
    got = sdk.models.get(model="gemini-2.5-flash")
    assert got.name == "models/gemini-2.5-flash"
    assert got.output_token_limit == 65_536
    assert sdk.models.get(model="models/oa/gpt-4o-mini").display_name == "gpt-4o-mini"
    with pytest.raises(genai_errors.ClientError) as caught:
        sdk.models.get(model="gem/gpt-4o-mini")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    narrow = gemini_client(gateway, version, key=NARROW)
    assert [m.name for m in narrow.models.list()] == [
        "models/oa/gpt-4o-mini",
        "models/oa/unpriced-x",
    ]
    blocked = gemini_client(gateway, version, key=OFF)
    with pytest.raises(genai_errors.ClientError) as refused:
        blocked.models.get(model="gpt-4o-mini")
    assert refused.value.status == "PERMISSION_DENIED"
