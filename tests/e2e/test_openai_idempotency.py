"""Idempotency-Key through the OpenAI SDK: a duplicate gets the first response again without a
new charge; another body gets 422; a duplicate of a request still in flight gets 409; a key
whose request got no answer may be used again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal

import openai
import orjson
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai.types.chat import ChatCompletion

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    KEY,
    OTHER_KEY,
    async_client,
    budget,
    client,
    error_body,
    events_after,
    failing_upstream,
    flush_ledger,
    hang_up_after_first_event,
    hi,
    make_config,
    mark,
    module_gateway,
    nothing_held,
    of_type,
    provider,
    raw_request,
    say,
    serve,
    slow_stream_upstream,
    virtual_key,
    wait_until,
    wait_until_async,
)

Factory = Callable[..., RunningGateway]


def idempotent(key: str) -> dict[str, str]:
    """The header of an idempotent request."""
    return {"Idempotency-Key": key}


def spent(gateway: RunningGateway) -> Decimal:
    """Key k1's settled spend (in memory)."""
    held = gateway.runtime.usage.budgets.get("virtual_key:k1#1d")
    return Decimal(0) if held is None else held.settled


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """Keys k1 (with a budget) and k2 on the fake upstream; each test uses its own
    Idempotency-Key values."""
    config = make_config(
        keys=[virtual_key("k1", KEY, budgets=[budget("1")]), virtual_key("k2", OTHER_KEY)]
    )
    with module_gateway(tmp_path_factory, config) as running:
        yield running


def test_the_same_key_and_body_get_the_first_response_again_without_a_new_charge(
    gateway: RunningGateway,
) -> None:
    before = mark(gateway)
    spent_before = spent(gateway)
    with client(gateway) as sdk:
        first, second = (
            sdk.chat.completions.with_raw_response.create(
                model="m1", messages=hi(), max_tokens=10, extra_headers=idempotent("order-1")
            )
            for _ in range(2)
        )
        first_body, second_body = first.http_response.content, second.http_response.content
    assert second_body == first_body
    assert second.parse().id == first.parse().id
    request_id = first.headers["x-govledger-request-id"]
    assert second.headers["x-govledger-request-id"] == request_id
    assert second.headers["x-govledger-cost-usd"] == first.headers["x-govledger-cost-usd"]
    [settled] = events_after(gateway, before, ev.RequestSettled)
    assert settled.request_id == request_id
    assert len(events_after(gateway, before, ev.RequestAdmitted)) == 1
    assert spent(gateway) - spent_before == settled.cost
    # The same JSON with its keys in another order is the same body.
    body = {"max_tokens": 10, "messages": [{"content": "hi", "role": "user"}], "model": "m1"}
    headers = {"authorization": f"Bearer {KEY}", **idempotent("order-1")}
    third = raw_request(gateway, "/v1/chat/completions", orjson.dumps(body), headers)
    assert (third.status, third.body) == (200, first_body)
    assert len(events_after(gateway, before, ev.RequestSettled)) == 1


def test_the_same_key_with_another_body_gets_422(gateway: RunningGateway) -> None:
    before = mark(gateway)
    with client(gateway) as sdk:
        sdk.chat.completions.create(
            model="m1", messages=hi(), max_tokens=10, extra_headers=idempotent("order-2")
        )
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            sdk.chat.completions.create(
                model="m1", messages=hi(), max_tokens=11, extra_headers=idempotent("order-2")
            )
    error = caught.value
    assert error.status_code == 422
    assert error_body(error)["code"] == "idempotency_key_reused"
    assert error.response.headers["x-govledger-request-id"]
    assert len(events_after(gateway, before, ev.RequestSettled)) == 1


async def test_the_same_key_while_the_first_is_in_flight_gets_409(
    gateway: RunningGateway,
) -> None:
    before = mark(gateway)
    async with async_client(gateway) as sdk:

        async def slow() -> LegacyAPIResponse[ChatCompletion]:
            return await sdk.chat.completions.with_raw_response.create(
                model="m1-slow", messages=hi(), max_tokens=5, extra_headers=idempotent("slow-1")
            )

        first = asyncio.create_task(slow())
        await wait_until_async(lambda: gateway.runtime.usage.inflight, what="an admission")
        with pytest.raises(openai.ConflictError) as caught:
            await sdk.chat.completions.create(
                model="m1-slow", messages=hi(), max_tokens=5, extra_headers=idempotent("slow-1")
            )
        assert error_body(caught.value)["code"] == "idempotency_request_in_flight"
        done = await first
        replay = await sdk.chat.completions.with_raw_response.create(
            model="m1-slow", messages=hi(), max_tokens=5, extra_headers=idempotent("slow-1")
        )
    assert replay.headers["x-govledger-request-id"] == done.headers["x-govledger-request-id"]
    assert len(events_after(gateway, before, ev.RequestSettled)) == 1


def test_idempotency_keys_are_scoped_to_the_virtual_key(gateway: RunningGateway) -> None:
    before = mark(gateway)
    ids = set()
    for key in (KEY, OTHER_KEY):
        with client(gateway, key) as sdk:
            raw = sdk.chat.completions.with_raw_response.create(
                model="m1", messages=hi(), max_tokens=10, extra_headers=idempotent("shared")
            )
            ids.add(raw.headers["x-govledger-request-id"])
    assert len(ids) == 2
    assert len(events_after(gateway, before, ev.RequestSettled)) == 2


def test_a_refused_request_does_not_hold_its_idempotency_key(gateway_factory: Factory) -> None:
    limit = {"request_max_limit": 1, "request_reset_duration": "1m"}
    gateway = gateway_factory(make_config(keys=[virtual_key(rate_limit=limit)]))
    with client(gateway) as sdk:
        sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10)
        for _ in range(2):  # a client retrying a 429 with its key: 429 again, not 409
            with pytest.raises(openai.RateLimitError):
                sdk.chat.completions.create(
                    model="m1", messages=hi(), max_tokens=10, extra_headers=idempotent("retry-1")
                )
    flush_ledger(gateway)
    assert [e.code for e in of_type(gateway, ev.RequestRejected)] == ["request_limited"] * 2


def test_a_streamed_response_is_replayed_whole_without_a_new_charge(
    gateway: RunningGateway,
) -> None:
    before = mark(gateway)
    with client(gateway) as sdk:
        runs = [
            list(
                sdk.chat.completions.create(
                    model="m1",
                    messages=say("streamed once"),
                    max_tokens=10,
                    stream=True,
                    extra_headers=idempotent("stream-1"),
                )
            )
            for _ in range(2)
        ]
    first, second = ([chunk.model_dump() for chunk in run] for run in runs)
    assert second == first
    assert "".join(c.choices[0].delta.content or "" for c in runs[1] if c.choices) == (
        "streamed once"
    )
    assert len(events_after(gateway, before, ev.RequestSettled)) == 1


async def test_a_stream_the_client_hung_up_on_does_not_hold_its_idempotency_key(
    gateway_factory: Factory,
) -> None:
    with serve(slow_stream_upstream()) as upstream:
        gateway = gateway_factory(make_config(providers=[provider("mock", upstream + "/v1")]))
        body = {
            "model": "m1",
            "messages": say(" ".join(["word"] * 20)),
            "max_tokens": 30,
            "stream": True,
        }
        headers = {"authorization": f"Bearer {KEY}", **idempotent("stream-2")}
        await hang_up_after_first_event(gateway, "/v1/chat/completions", body, headers)
        wait_until(lambda: of_type(gateway, ev.RequestSettled), what="the settlement")
        async with async_client(gateway) as sdk:
            retried = await sdk.chat.completions.create(
                model="m1",
                messages=say(" ".join(["word"] * 20)),
                max_tokens=30,
                stream=True,
                extra_headers=idempotent("stream-2"),
            )
            text = "".join([c.choices[0].delta.content or "" async for c in retried if c.choices])
    assert text == " ".join(["word"] * 20)
    statuses = [e.status for e in of_type(gateway, ev.RequestSettled)]
    assert statuses == ["client_disconnected", "ok"]
    assert nothing_held(gateway)


def test_an_upstream_refusal_does_not_hold_its_idempotency_key(gateway_factory: Factory) -> None:
    with serve(failing_upstream(400)) as upstream:
        gateway = gateway_factory(make_config(providers=[provider("mock", upstream + "/v1")]))
        with client(gateway) as sdk:
            for _ in range(2):  # passed through as the upstream's 400, both times
                with pytest.raises(openai.BadRequestError) as caught:
                    sdk.chat.completions.create(
                        model="m1", messages=hi(), extra_headers=idempotent("bad-1")
                    )
                assert caught.value.response.headers["x-govledger-cost-usd"] == "0"
    settled = of_type(gateway, ev.RequestSettled)
    assert [(e.status, e.reason) for e in settled] == [
        ("upstream_error", "upstream answered 400")
    ] * 2
