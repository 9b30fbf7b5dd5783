"""Poison input on every surface: numbers past their ceilings, fields of the wrong kind and
unsafe model names answer 400 in the surface's shape naming the JSON path; an unexpected
error answers 500 in that shape and releases the reservation at once; a client gone
mid-body is one debug line; and afterwards nothing is held, another key of the team is
admitted, and the views and the metrics consumer drain, on both stores."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson
import pytest

from govledger.ledger import events as ev
from govledger.proxy.flow import request_flow as exchange
from govledger.proxy.surfaces import gemini
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    KEY,
    OTHER_KEY,
    caught_up_views,
    flush_ledger,
    hi,
    nothing_held,
    of_type,
    raw_request,
    settled_for,
    virtual_key,
    wait_until,
)
from tests.e2e.vendor_support import priced_config, vendor
from tests.loops import collect_earlier_garbage

Factory = Callable[..., RunningGateway]
CHAT = "/v1/chat/completions"
MESSAGES = "/anthropic/v1/messages"
GENERATE = "/genai/v1beta/models/m1:generateContent"
HUGE = 2**63
LONG = "q" * 4096
USER = [{"role": "user", "content": "hi"}]
PARTS = [{"role": "user", "parts": [{"text": "hi"}]}]


def team_config() -> dict[str, Any]:
    """Two keys of one team with a strict budget, on providers of every type."""
    keys = [
        virtual_key(name, value, providers=("openai", "anthropic", "gemini"), team_id="t1")
        for name, value in (("k1", KEY), ("k2", OTHER_KEY))
    ]
    providers = [vendor(kind, kind) for kind in ("openai", "anthropic", "gemini")]
    config = priced_config(keys, providers)
    config["customers"] = [{"id": "c1", "name": "C1"}]
    config["teams"] = [
        {
            "id": "t1",
            "name": "T1",
            "customer_id": "c1",
            "budgets": [{"max_limit": "0.05", "reset_duration": "1d"}],
        }
    ]
    return config


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "openai/m1", "messages": USER, "max_tokens": 5, **fields}


def message(**fields: Any) -> dict[str, Any]:
    return {"model": "m1", "messages": USER, "max_tokens": 5, **fields}


def contents(**fields: Any) -> dict[str, Any]:
    return {"contents": PARTS, **fields}


# (path, body, code, JSON path named)
POISON: list[tuple[str, dict[str, Any], str, str]] = [
    (CHAT, chat(max_tokens=HUGE), "invalid_max_tokens", "max_tokens"),
    (
        CHAT,
        chat(max_completion_tokens=HUGE * 4),
        "invalid_max_completion_tokens",
        "max_completion_tokens",
    ),
    (CHAT, chat(n=HUGE), "invalid_n", "n"),
    (CHAT, chat(n=0), "invalid_n", "n"),
    (CHAT, chat(stream="yes"), "invalid_stream", "stream"),
    (CHAT, chat(stream_options="yes"), "invalid_stream_options", "stream_options"),
    (CHAT, chat(messages=[None]), "invalid_messages", "messages[0]"),
    (
        CHAT,
        chat(messages=[{"role": "user", "content": 7}]),
        "invalid_messages",
        "messages[0].content",
    ),
    (CHAT, chat(tools=[None]), "invalid_tools", "tools[0]"),
    (CHAT, chat(tool_choice=7), "invalid_tool_choice", "tool_choice"),
    (CHAT, chat(model="../../x"), "invalid_model", "model"),
    (CHAT, chat(model="gemini?fakeParam=1"), "invalid_model", "model"),
    (CHAT, chat(model=LONG), "invalid_model", "model"),
    (
        "/v1/responses",
        {"model": "m1", "input": "hi", "max_output_tokens": HUGE},
        "invalid_max_output_tokens",
        "max_output_tokens",
    ),
    ("/v1/responses", {"model": "m1", "input": [None]}, "invalid_input", "input[0]"),
    ("/v1/embeddings", {"model": "m1", "input": [None]}, "invalid_input", "input[0]"),
    (MESSAGES, message(max_tokens=HUGE), "invalid_max_tokens", "max_tokens"),
    (MESSAGES, message(tool_choice="auto"), "invalid_tool_choice", "tool_choice"),
    (MESSAGES, message(tool_choice={"name": "x"}), "invalid_tool_choice", "tool_choice.type"),
    (MESSAGES, message(metadata="x"), "invalid_metadata", "metadata"),
    (MESSAGES, message(thinking=True), "invalid_thinking", "thinking"),
    (MESSAGES, message(stop_sequences="END"), "invalid_stop_sequences", "stop_sequences"),
    (MESSAGES, message(messages=[None]), "invalid_messages", "messages[0]"),
    (
        MESSAGES,
        message(messages=[{"role": "user", "content": [7]}]),
        "invalid_messages",
        "messages[0].content[0]",
    ),
    (MESSAGES, message(tools=[None]), "invalid_tools", "tools[0]"),
    (MESSAGES, message(system=7), "invalid_system", "system"),
    (MESSAGES, message(stream="yes"), "invalid_stream", "stream"),
    (MESSAGES, message(model=LONG), "invalid_model", "model"),
    (MESSAGES, message(model="../admin"), "invalid_model", "model"),
    (GENERATE, contents(contents=[None]), "invalid_contents", "contents[0]"),
    (
        GENERATE,
        contents(contents=[{"role": "user", "parts": "hi"}]),
        "invalid_contents",
        "contents[0].parts",
    ),
    (
        GENERATE,
        contents(systemInstruction="be brief"),
        "invalid_systemInstruction",
        "systemInstruction",
    ),
    (
        GENERATE,
        contents(systemInstruction={"parts": "x"}),
        "invalid_systemInstruction",
        "systemInstruction.parts",
    ),
    (
        GENERATE,
        contents(generationConfig={"maxOutputTokens": HUGE}),
        "invalid_generationConfig",
        "generationConfig.maxOutputTokens",
    ),
    (
        GENERATE,
        contents(generationConfig={"candidateCount": HUGE}),
        "invalid_generationConfig",
        "generationConfig.candidateCount",
    ),
    (GENERATE, contents(tools=[None]), "invalid_tools", "tools[0]"),
    ("/genai/v1beta/models/..%2F..%2Fx:generateContent", contents(), "invalid_model", "model"),
    ("/genai/v1beta/models/..%2Fadmin:generateContent", contents(), "invalid_model", "model"),
    ("/genai/v1beta/models/m1%3FfakeParam=1:generateContent", contents(), "invalid_model", "model"),
    ("/genai/v1beta/models/openai%2Fm1%2Fx:generateContent", contents(), "invalid_model", "model"),
]


def headers_for(path: str, key: str = KEY) -> dict[str, str]:
    """The surface's own auth header."""
    if path.startswith("/anthropic"):
        return {"x-api-key": key, "content-type": "application/json"}
    if path.startswith("/genai"):
        return {"x-goog-api-key": key, "content-type": "application/json"}
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


def error_of(path: str, body: dict[str, Any]) -> tuple[str, str]:
    """(code, message) from the surface's error shape."""
    if path.startswith("/anthropic"):
        assert body["type"] == "error" and body["request_id"]
        return body["error"]["details"]["error_code"], body["error"]["message"]
    if path.startswith("/genai"):
        [info] = body["error"]["details"]
        return info["reason"], body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["code"], body["error"]["message"]


def post(gateway: RunningGateway, path: str, body: dict[str, Any], key: str = KEY) -> Any:
    """POST a body that may hold integers past 64 bits (written by the stdlib's json)."""
    import json

    return raw_request(gateway, path, json.dumps(body).encode(), headers_for(path, key))


def test_poison_bodies_answer_400_naming_the_path_and_hold_nothing(
    gateway_factory: Factory, store_url: str
) -> None:
    gateway = gateway_factory(team_config(), store_url)
    for path, body, code, where in POISON:
        response = post(gateway, path, body)
        assert response.status == 400, (path, body, response.body[:300])
        assert response.headers["content-type"] == "application/json"
        found, text = error_of(path, response.json())
        assert (found, path) == (code, path), text
        assert f"`{where}`" in text, text
        assert len(text) < 300  # a 4 KiB name or a 20-digit number is not echoed
        if path == CHAT or path.startswith("/v1/"):
            assert response.json()["error"]["param"] == where
        assert nothing_held(gateway), (path, body)
    flush_ledger(gateway)
    codes = [e.code for e in of_type(gateway, ev.RequestRejected)]
    assert sorted(codes) == sorted(code for _, _, code, _ in POISON)
    assert not of_type(gateway, ev.RequestAdmitted)
    assert all(len(e.model) <= 256 for e in of_type(gateway, ev.RequestRejected))
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=OTHER_KEY, max_retries=0) as sdk:
        reply = sdk.chat.completions.create(model="openai/m1", messages=hi(), max_tokens=5)
    assert reply.choices[0].message.content
    flush_ledger(gateway)
    last = gateway.runtime.store.max_position("usage")
    with caught_up_views(gateway) as db:
        wait_until(lambda: db.position("metrics", "usage") >= last, 15, "the metrics fold")


UNEXPECTED = [
    (CHAT, chat()),
    (MESSAGES, message()),
    (GENERATE, contents(generationConfig={"maxOutputTokens": 5})),
]


@pytest.mark.parametrize(("path", "body"), UNEXPECTED, ids=["openai", "anthropic", "gemini"])
def test_an_unexpected_error_after_admission_releases_the_reservation_at_once(
    gateway_factory: Factory, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any]
) -> None:
    gateway = gateway_factory(team_config())

    def defect(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("a defect in building the upstream request")

    monkeypatch.setattr(exchange, "prepare", defect)
    response = post(gateway, path, body)
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    request_id = response.headers["x-govledger-request-id"]
    code, text = error_of(path, response.json())
    assert code == "internal_error" and request_id in text
    assert "Traceback" not in response.body.decode() and "RuntimeError" not in text
    assert nothing_held(gateway)
    flush_ledger(gateway)
    settled = settled_for(gateway, request_id)
    assert (settled.status, settled.cost, settled.charges) == ("failed", Decimal(0), [])
    assert settled.reason == "gateway error: RuntimeError"
    monkeypatch.undo()
    ok = post(gateway, CHAT, chat(), key=OTHER_KEY)
    assert ok.status == 200, ok.body


def test_an_unexpected_error_before_admission_answers_500_in_googles_shape(
    gateway_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_factory(team_config())

    def defect(*_args: Any, **_kw: Any) -> None:
        raise KeyError("a defect in the body check")

    monkeypatch.setattr(gemini, "shaped", defect)
    response = post(gateway, GENERATE, contents())
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == "INTERNAL" and error["details"][0]["reason"] == "internal_error"
    assert response.headers["x-govledger-request-id"] in error["message"]
    assert nothing_held(gateway)


def test_a_client_gone_mid_body_is_one_debug_line_and_holds_nothing(
    gateway_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = gateway_factory(team_config())
    parts = urlsplit(gateway.url)
    body = orjson.dumps(chat())
    collect_earlier_garbage(caplog)
    caplog.set_level(logging.DEBUG, logger="govledger")
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
        head = (
            f"POST {CHAT} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body) + 500}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
    wait_until(
        lambda: [r for r in caplog.records if "disconnected" in r.getMessage()],
        10,
        "the disconnect to be logged",
    )
    flush_ledger(gateway)
    [event] = [e for e in of_type(gateway, ev.RequestRejected) if e.code == "client_disconnected"]
    mine = [r for r in caplog.records if event.request_id in r.getMessage()]
    assert [r.levelno for r in mine] == [logging.DEBUG]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert nothing_held(gateway)
