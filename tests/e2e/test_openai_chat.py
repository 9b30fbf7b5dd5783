"""The OpenAI surface's happy paths through the official SDK: chat (sync, async, streaming),
embeddings, responses (plain and streaming), the model list and the `/openai/v1` mount."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    HELLO,
    HELLO_WORDS,
    INPUT_PRICE,
    KEY,
    MILLION,
    admitted_for,
    async_client,
    budget,
    client,
    cost_of,
    events_after,
    hi,
    make_config,
    mark,
    mock_tokens,
    module_gateway,
    nothing_held,
    provider,
    say,
    settled_for,
    virtual_key,
)

Factory = Callable[..., RunningGateway]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One key with a daily budget, allowed m1 and e1 on the fake upstream."""
    route = {"provider": "mock", "allowed_models": ["m1", "e1"]}
    key = virtual_key(providers=(), provider_configs=[route], budgets=[budget("5")])
    with module_gateway(tmp_path_factory, make_config(keys=[key])) as running:
        yield running


def test_a_plain_chat_completion_returns_the_reply_and_its_exact_cost(
    gateway: RunningGateway,
) -> None:
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="m1", messages=hi(), max_tokens=10
        )
    reply = raw.parse()
    assert reply.choices[0].message.content == HELLO
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (1, HELLO_WORDS)
    request_id = raw.headers["x-govledger-request-id"]
    settled = settled_for(gateway, request_id)
    assert settled.status == "ok"
    assert settled.provider == "mock"
    assert settled.provider_key_id == "mock-key"
    assert settled.price_source == "override"
    assert settled.tokens == {"input": 1, "output": HELLO_WORDS, "cached": 0, "reasoning": 0}
    assert settled.cost == cost_of(1, HELLO_WORDS)
    assert Decimal(raw.headers["x-govledger-cost-usd"]) == settled.cost
    assert settled.charges == [
        {
            "budget": "virtual_key:k1#1d",
            "period": settled.charges[0]["period"],
            "amount": settled.cost,
        }
    ]
    assert nothing_held(gateway)


async def test_an_async_chat_completion_is_answered_and_charged_like_a_sync_one(
    gateway: RunningGateway,
) -> None:
    async with async_client(gateway) as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(
            model="m1", messages=say("one two three"), max_tokens=2
        )
    reply = raw.parse()
    assert reply.choices[0].message.content == "one two three"
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    expected = cost_of(mock_tokens("echo: one two three"), 2)
    assert settled.cost == expected
    assert Decimal(raw.headers["x-govledger-cost-usd"]) == expected


def test_a_streamed_chat_completion_hides_the_usage_chunk_the_client_did_not_ask_for(
    gateway: RunningGateway,
) -> None:
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="m1", messages=hi(), max_tokens=10, stream=True
        )
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == HELLO
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    # The gateway asked for the usage anyway, and settled on the real figures.
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert settled.status == "ok"
    assert settled.tokens["input"] == 1
    assert settled.tokens["output"] == HELLO_WORDS
    assert settled.price_source == "override"
    assert settled.cost == cost_of(1, HELLO_WORDS)


def test_a_streamed_chat_completion_keeps_the_usage_chunk_the_client_asked_for(
    gateway: RunningGateway,
) -> None:
    with client(gateway) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="m1",
            messages=hi(),
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(raw.parse())
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1]
    assert with_usage[0].choices == []
    assert with_usage[0].usage is not None
    assert with_usage[0].usage.prompt_tokens == 1
    assert with_usage[0].usage.completion_tokens == HELLO_WORDS
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == HELLO
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert settled.cost == cost_of(1, HELLO_WORDS)


async def test_an_async_streamed_chat_completion_delivers_every_piece(
    gateway: RunningGateway,
) -> None:
    text = "alpha beta gamma delta"
    before = mark(gateway)
    async with async_client(gateway) as sdk:
        stream = await sdk.chat.completions.create(
            model="m1", messages=say(text), max_tokens=50, stream=True
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == text
    assert len([p for p in pieces if p]) == 4
    [settled] = events_after(gateway, before, ev.RequestSettled)
    assert settled.status == "ok"
    assert settled.cost == cost_of(mock_tokens(f"echo: {text}"), 4)
    assert nothing_held(gateway)


def test_embeddings_are_charged_for_their_input_tokens_only(gateway: RunningGateway) -> None:
    texts = ["first input text", "second"]
    with client(gateway) as sdk:
        raw = sdk.embeddings.with_raw_response.create(model="e1", input=texts)
    result = raw.parse()
    assert [item.index for item in result.data] == [0, 1]
    assert all(len(item.embedding) == 8 for item in result.data)
    tokens = sum(mock_tokens(t) for t in texts)
    assert result.usage.prompt_tokens == tokens
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert settled.tokens["output"] == 0
    assert settled.cost == tokens * INPUT_PRICE / MILLION
    assert Decimal(raw.headers["x-govledger-cost-usd"]) == settled.cost
    assert admitted_for(gateway, settled.request_id).surface == "openai_embeddings"


def test_a_plain_responses_call_returns_its_output_text_and_is_charged(
    gateway: RunningGateway,
) -> None:
    with client(gateway) as sdk:
        raw = sdk.responses.with_raw_response.create(
            model="m1", input="echo: from the responses api", max_output_tokens=3
        )
    response = raw.parse()
    assert response.output_text == "from the responses api"
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    expected = cost_of(mock_tokens("echo: from the responses api"), 3)
    assert settled.cost == expected
    assert Decimal(raw.headers["x-govledger-cost-usd"]) == expected
    assert admitted_for(gateway, settled.request_id).surface == "openai_responses"


def test_a_streamed_responses_call_completes_and_is_charged_once(
    gateway: RunningGateway,
) -> None:
    before = mark(gateway)
    with client(gateway) as sdk:
        raw = sdk.responses.with_raw_response.create(
            model="m1", input="echo: streamed words here", stream=True
        )
        events = list(raw.parse())
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "streamed words here"
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert settled.status == "ok"
    assert settled.cost == cost_of(mock_tokens("echo: streamed words here"), 3)
    assert len(events_after(gateway, before, ev.RequestSettled)) == 1
    assert nothing_held(gateway)


def test_the_model_list_names_only_the_models_the_key_may_use(gateway_factory: Factory) -> None:
    config = make_config(
        providers=[
            provider("mock"),
            provider(
                "narrow",
                keys=[{"id": "narrow-key", "value": "sk-upstream-narrow", "models": ["m1"]}],
            ),
            provider("unused"),
        ],
        keys=[
            virtual_key(
                providers=(),
                provider_configs=[
                    {"provider": "mock", "allowed_models": ["m1", "m2"]},
                    # the route allows m2, but its only upstream key serves m1 alone
                    {"provider": "narrow", "allowed_models": ["m1", "m2"]},
                ],
            )
        ],
    )
    gateway = gateway_factory(config)
    with client(gateway) as sdk:
        raw = sdk.models.with_raw_response.list()
    ids = sorted(model.id for model in raw.parse())
    assert ids == ["mock/m1", "mock/m2", "narrow/m1"]
    assert raw.headers["x-govledger-request-id"]


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1"])
def test_both_mounts_serve_chat_embeddings_responses_and_models(
    gateway: RunningGateway, prefix: str
) -> None:
    before = mark(gateway)
    with client(gateway, KEY, prefix) as sdk:
        chat = sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
        embedding = sdk.embeddings.create(model="e1", input="x")
        response = sdk.responses.create(model="m1", input="hi", max_output_tokens=10)
        models = sorted(m.id for m in sdk.models.list())
    assert chat.choices[0].message.content == HELLO
    assert len(embedding.data) == 1
    assert response.output_text == HELLO
    assert models == ["mock/e1", "mock/m1"]
    settled = events_after(gateway, before, ev.RequestSettled)
    assert [e.status for e in settled] == ["ok", "ok", "ok"]


def test_inference_skips_the_frameworks_telemetry_check_and_management_keeps_it(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI asks OpenTelemetry's providers on every request (1% of the server's samples);
    # the gateway traces its inference requests itself
    import httpx

    asked: list[bool] = []
    telemetry = gateway.app._native_telemetry
    real = telemetry.enabled

    def enabled() -> bool:
        asked.append(True)
        return bool(real())

    monkeypatch.setattr(telemetry, "enabled", enabled)
    with client(gateway) as sdk:
        reply = sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
    assert reply.choices[0].message.content == HELLO
    assert asked == []
    assert httpx.get(f"{gateway.url}/readyz").status_code == 200
    assert asked == [True]
