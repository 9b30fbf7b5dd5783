"""Streams on the wire: the cost comment the SDK never sees, settlement committed before the
last event, and a client that hangs up mid-stream settled on what was delivered."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    HELLO,
    HELLO_WORDS,
    KEY,
    client,
    cost_of,
    hang_up_after_first_event,
    hi,
    make_config,
    mock_tokens,
    nothing_held,
    of_type,
    provider,
    raw_request,
    say,
    serve,
    settled_for,
    slow_stream_upstream,
    wait_until,
)

Factory = Callable[..., RunningGateway]
AUTH = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}


def sse_events(body: bytes) -> list[bytes]:
    """The blank-line separated events of an SSE body."""
    return [event for event in body.split(b"\n\n") if event]


def data_events(body: bytes) -> list[bytes]:
    """The `data:` payloads of an SSE body (comment-only events excluded)."""
    out = []
    for event in sse_events(body):
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                out.append(line[5:].strip())
    return out


def test_a_chat_stream_carries_its_cost_in_a_comment_the_sdk_never_sees(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(make_config())
    body = orjson.dumps({"model": "m1", "messages": hi(), "max_tokens": 10, "stream": True})
    raw = raw_request(gateway, "/v1/chat/completions", body, AUTH)
    assert raw.status == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = sse_events(raw.body)
    assert events[-1] == b"data: [DONE]"
    comment = events[-2]
    assert comment.startswith(b": govledger-cost-usd ")
    cost = Decimal(comment.split(b" ")[-1].decode())
    settled = settled_for(gateway, raw.headers["x-govledger-request-id"])
    assert cost == settled.cost == cost_of(1, HELLO_WORDS)
    assert sum(1 for e in events if e.startswith(b":")) == 1
    chunks = [orjson.loads(d) for d in data_events(raw.body) if d != b"[DONE]"]
    assert all(chunk["choices"] for chunk in chunks)  # the usage chunk was stripped

    with client(gateway) as sdk:
        parsed = list(
            sdk.chat.completions.create(model="m1", messages=hi(), max_tokens=10, stream=True)
        )
    assert len(parsed) == len(chunks)
    assert "".join(c.choices[0].delta.content or "" for c in parsed) == HELLO


def test_a_responses_stream_carries_its_cost_before_the_completed_event(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(make_config())
    body = orjson.dumps({"model": "m1", "input": "echo: four words right here", "stream": True})
    raw = raw_request(gateway, "/v1/responses", body, AUTH)
    assert raw.status == 200
    events = sse_events(raw.body)
    assert events[-2].startswith(b": govledger-cost-usd ")
    assert events[-1].startswith(b"event: response.completed\n")
    cost = Decimal(events[-2].split(b" ")[-1].decode())
    expected = cost_of(mock_tokens("echo: four words right here"), 4)
    assert cost == settled_for(gateway, raw.headers["x-govledger-request-id"]).cost == expected
    with client(gateway) as sdk:
        stream = sdk.responses.create(model="m1", input="echo: four words right here", stream=True)
        kinds = [e.type for e in stream]
    assert kinds[-1] == "response.completed"
    assert len(kinds) == len([e for e in events if not e.startswith(b":")])


async def test_the_last_event_of_a_stream_arrives_only_after_its_settlement_is_committed(
    gateway_factory: Factory,
) -> None:
    with serve(slow_stream_upstream(latency_ms=500)) as upstream:
        gateway = gateway_factory(make_config(providers=[provider("mock", upstream + "/v1")]))
        body = {"model": "m1", "messages": say("one two three four"), "stream": True}
        seen_before_done: list[int] = []
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                gateway.url + "/v1/chat/completions", json=body, headers=AUTH
            )
            request_id = response.headers["x-govledger-request-id"]
            async for line in response.content:
                if line.startswith(b"data: [DONE]"):
                    break
                if line.startswith(b"data:"):
                    settled = [
                        e for e in of_type(gateway, ev.RequestSettled) if e.request_id == request_id
                    ]
                    seen_before_done.append(len(settled))
            done_seen = settled_for(gateway, request_id)  # committed when [DONE] arrives
            rest = await response.read()
    assert seen_before_done and seen_before_done[0] == 0  # not settled at the first chunk
    assert done_seen.status == "ok"
    assert rest.strip() == b""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"model": "m1", "messages": say(" ".join(["w"] * 40)), "max_tokens": 50},
        ),
        ("/v1/responses", {"model": "m1", "input": "echo: " + " ".join(["w"] * 40)}),
    ],
    ids=["chat", "responses"],
)
async def test_a_client_that_hangs_up_mid_stream_is_settled_as_client_disconnected(
    gateway_factory: Factory, path: str, body: dict[str, Any]
) -> None:
    with serve(slow_stream_upstream()) as upstream:
        gateway = gateway_factory(make_config(providers=[provider("mock", upstream + "/v1")]))
        first = await hang_up_after_first_event(gateway, path, {**body, "stream": True}, AUTH)
        assert first.startswith((b"data: ", b"event: "))
        settled = wait_until(
            lambda: of_type(gateway, ev.RequestSettled), what="the disconnected stream to settle"
        )[0]
    [admitted] = of_type(gateway, ev.RequestAdmitted)
    assert settled.request_id == admitted.request_id
    assert (settled.status, settled.reason) == (
        "client_disconnected",
        "client disconnected mid-stream",
    )
    # Charged on what was delivered, never over what was reserved.
    assert 0 < settled.cost <= admitted.estimate["cost"]
    assert settled.tokens["output"] < 40
    wait_until(lambda: nothing_held(gateway), what="the reservation to be released")


def breaking_upstream() -> web.Application:
    """An upstream whose stream breaks after one chunk (the connection is cut)."""

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        delta = {"index": 0, "delta": {"content": "partial"}, "finish_reason": None}
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m1"}
        await response.write(b"data: " + orjson.dumps({**chunk, "choices": [delta]}) + b"\n\n")
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def test_a_stream_the_upstream_breaks_ends_with_an_error_event_and_is_settled(
    gateway_factory: Factory,
) -> None:
    with serve(breaking_upstream()) as upstream:
        gateway = gateway_factory(make_config(providers=[provider("mock", upstream + "/v1")]))
        pieces: list[str] = []
        with client(gateway) as sdk, pytest.raises(openai.APIError) as caught:
            stream = sdk.chat.completions.create(model="m1", messages=hi(), stream=True)
            pieces.extend(c.choices[0].delta.content or "" for c in stream)
    assert pieces == ["partial"]
    assert "upstream stream broke" in caught.value.message
    [settled] = of_type(gateway, ev.RequestSettled)
    assert settled.status == "upstream_error"
    assert settled.reason.startswith("upstream stream broke")
    # What was delivered is charged, bounded as for a client that hangs up: the prompt at its
    # bound and at most one token per delivered byte of text ("partial").
    [admitted] = of_type(gateway, ev.RequestAdmitted)
    assert settled.tokens["input"] == admitted.estimate["input"]
    assert settled.tokens["output"] == len("partial")
    assert settled.cost == cost_of(settled.tokens["input"], len("partial")) > 0
    assert nothing_held(gateway)
