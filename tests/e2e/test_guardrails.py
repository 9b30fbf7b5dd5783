"""Guardrails through the official SDKs on every surface, plain and streaming: an input
block is a 400 `guardrail_blocked`, an output block an error (or error event), redaction
masks before the client sees the text, a flag only records; every decision is an event
that never carries the matched value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from govledger.exporters.siem_export import replay
from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    KEY,
    client,
    events_after,
    flush_ledger,
    mark,
    module_gateway,
    virtual_key,
)
from tests.e2e.vendor_support import (
    ANTHROPIC_KEY,
    GEMINI_KEY,
    anthropic_client,
    gemini_client,
    priced_config,
    vendor,
)

CARD = "4111 1111 1111 1111"  # passes Luhn: blocked on input
EMAIL = "alice.doe@example.org"  # redacted on input
SSN = "123-45-6789"  # blocked on output
IBAN = "GB82 WEST 1234 5698 7654 32"  # redacted on output
CROSS_KEY = "sk-bf-e2e-guard-cross-0001"  # Anthropic and Gemini surfaces, OpenAI upstream
SECRETS = (CARD, EMAIL, SSN, IBAN, "GB82WEST")
GUARDRAILS = [
    {
        "id": "input-guard",
        "attach": ["*"],
        "scope": "input",
        "checks": [
            {"type": "pii.card", "action": "block"},
            {"type": "pii.email", "action": "redact"},
            {"type": "deny.keywords", "keywords": ["flamingo"], "action": "flag"},
        ],
    },
    {
        "id": "output-guard",
        "attach": ["*"],
        "scope": "output",
        "stream_window": 64,
        "checks": [
            {"type": "pii.ssn", "action": "block"},
            {"type": "pii.iban", "action": "redact"},
        ],
    },
]
SURFACES = [
    ("openai_chat", False),
    ("openai_chat", True),
    ("openai_responses", False),
    ("openai_responses", True),
    ("anthropic_messages", False),
    ("anthropic_messages", True),
    ("gemini", False),
    ("gemini", True),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    keys = [
        virtual_key("k-openai", KEY, providers=("openai",)),
        virtual_key("k-anthropic", ANTHROPIC_KEY, providers=("anthropic",)),
        virtual_key("k-gemini", GEMINI_KEY, providers=("gemini",)),
        virtual_key("k-cross", CROSS_KEY, providers=("openai",)),
    ]
    providers = [vendor(kind, kind) for kind in ("openai", "anthropic", "gemini")]
    config = priced_config(keys, providers, guardrails=GUARDRAILS)
    with module_gateway(tmp_path_factory, config) as running:
        yield running


def ask(gateway: RunningGateway, surface: str, stream: bool, text: str) -> str:
    """The answer's text through the surface's SDK (raises the SDK's error)."""
    prompt = f"echo: {text}"
    if surface == "openai_chat":
        sdk = client(gateway)
        messages: Any = [{"role": "user", "content": prompt}]
        if not stream:
            return (
                sdk.chat.completions.create(model="m1", messages=messages)
                .choices[0]
                .message.content
                or ""
            )
        chunks = sdk.chat.completions.create(model="m1", messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    if surface == "openai_responses":
        sdk = client(gateway)
        if not stream:
            return sdk.responses.create(model="m1", input=prompt).output_text
        events = list(sdk.responses.create(model="m1", input=prompt, stream=True))
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        done = [e.text for e in events if e.type == "response.output_text.done"]
        completed = [e.response.output_text for e in events if e.type == "response.completed"]
        assert done == completed == [deltas]  # the repeated whole text is masked alike
        return deltas
    if surface == "anthropic_messages":
        claude = anthropic_client(gateway)
        said: list[anthropic.types.MessageParam] = [{"role": "user", "content": prompt}]
        if not stream:
            reply = claude.messages.create(model="m1", max_tokens=200, messages=said)
            return "".join(b.text for b in reply.content if b.type == "text")
        with claude.messages.stream(model="m1", max_tokens=200, messages=said) as said_back:
            return "".join(said_back.text_stream)
    sdk_g = gemini_client(gateway, "v1beta")
    if not stream:
        return sdk_g.models.generate_content(model="m1", contents=prompt).text or ""
    chunks_g = sdk_g.models.generate_content_stream(model="m1", contents=prompt)
    return "".join(c.text or "" for c in chunks_g)


ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)


def refusal_text(error: Exception) -> str:
    """The refusal's message and code as the SDK exposes them."""
    return str(error) + " " + str(getattr(error, "body", "")) + str(getattr(error, "details", ""))


def triggered(gateway: RunningGateway, position: int) -> list[ev.GuardrailTriggered]:
    flush_ledger(gateway)
    return events_after(gateway, position, ev.GuardrailTriggered)


def no_secret_in(gateway: RunningGateway, position: int) -> None:
    for _, event in gateway.runtime.store.iterate("usage", position):
        text = repr(event)
        assert not any(secret in text for secret in SECRETS), type(event).__name__


@pytest.mark.parametrize(("surface", "stream"), SURFACES)
def test_an_input_block_is_a_400_naming_policy_and_category(
    gateway: RunningGateway, surface: str, stream: bool
) -> None:
    position = mark(gateway)
    with pytest.raises(ERRORS) as caught:
        ask(gateway, surface, stream, f"my card is {CARD}")
    error = caught.value
    assert getattr(error, "status_code", getattr(error, "code", None)) == 400
    text = refusal_text(error)
    assert "input-guard" in text and "payment_card" in text and CARD not in text
    if surface == "gemini":
        assert isinstance(error, genai_errors.ClientError)
        [info] = error.details["error"]["details"]
        assert (error.status, info["reason"]) == ("INVALID_ARGUMENT", "guardrail_blocked")
    else:
        assert "guardrail_blocked" in text
    [decision] = triggered(gateway, position)
    assert (decision.policy, decision.check, decision.category, decision.action) == (
        "input-guard",
        "pii.card",
        "payment_card",
        "block",
    )
    assert (decision.direction, decision.end - decision.start) == ("input", len(CARD))
    [rejected] = events_after(gateway, position, ev.RequestRejected)
    assert rejected.code == "guardrail_blocked"
    assert events_after(gateway, position, ev.RequestAdmitted) == []  # nothing reserved
    no_secret_in(gateway, position)


@pytest.mark.parametrize(("surface", "stream"), SURFACES)
def test_input_redaction_masks_what_the_upstream_sees_and_flags_only_record(
    gateway: RunningGateway, surface: str, stream: bool
) -> None:
    position = mark(gateway)
    answer = ask(gateway, surface, stream, f"write to {EMAIL} about the flamingo")
    assert answer == f"write to {'*' * len(EMAIL)} about the flamingo"
    decisions = {(d.check, d.action) for d in triggered(gateway, position)}
    assert decisions == {("pii.email", "redact"), ("deny.keywords", "flag")}
    no_secret_in(gateway, position)


@pytest.mark.parametrize(("surface", "stream"), SURFACES)
def test_output_redaction_masks_before_the_client_sees_it(
    gateway: RunningGateway, surface: str, stream: bool
) -> None:
    position = mark(gateway)
    words = "one two three four five six seven eight nine ten eleven twelve"
    answer = ask(gateway, surface, stream, f"{words} pay {IBAN} thanks {words}")
    assert answer == f"{words} pay {'*' * len(IBAN)} thanks {words}"
    [decision] = triggered(gateway, position)
    assert (decision.check, decision.action, decision.direction) == ("pii.iban", "redact", "output")
    assert decision.streamed is stream
    [settled] = events_after(gateway, position, ev.RequestSettled)
    assert settled.status == "ok"
    no_secret_in(gateway, position)


@pytest.mark.parametrize(("surface", "stream"), SURFACES)
def test_an_output_block_ends_the_answer_and_charges_what_was_delivered(
    gateway: RunningGateway, surface: str, stream: bool
) -> None:
    position = mark(gateway)
    seen: list[str] = []
    with pytest.raises(ERRORS) as caught:
        seen.append(ask(gateway, surface, stream, f"the number is {SSN} ok"))
    text = refusal_text(caught.value)
    assert "output-guard" in text and "us_ssn" in text and SSN not in text
    [decision] = triggered(gateway, position)
    assert (decision.check, decision.action, decision.direction) == ("pii.ssn", "block", "output")
    [settled] = events_after(gateway, position, ev.RequestSettled)
    assert settled.status == "guardrail_blocked"
    assert settled.cost > 0  # the upstream's work (plain) or what was delivered (stream)
    if stream and surface.startswith("openai"):  # no usage read yet: what reached the client
        assert settled.tokens["output"] == 0  # the answer fits the window: none was sent
    no_secret_in(gateway, position)


def test_the_refusal_never_reaches_the_log(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"), pytest.raises(openai.BadRequestError):
        ask(gateway, "openai_chat", False, f"card {CARD}")
    # The gateway's own lines (the SDK client, in this process too, logs what it sends).
    ours = [r for r in caplog.records if r.name.startswith(("govledger", "uvicorn"))]
    assert not [r for r in ours if CARD in r.getMessage()]


def test_a_stream_blocked_midway_charges_exactly_what_reached_the_client(
    gateway: RunningGateway,
) -> None:
    position = mark(gateway)
    words = " ".join(f"word{i}" for i in range(60))
    received: list[str] = []
    messages: Any = [{"role": "user", "content": f"echo: {words} then {SSN} and more"}]
    with pytest.raises(openai.APIError):
        for chunk in client(gateway).chat.completions.create(
            model="m1", messages=messages, stream=True
        ):
            received.extend(c.delta.content or "" for c in chunk.choices)
    sent = "".join(received)
    assert sent and words.startswith(sent) and len(words) - len(sent) <= 64 + 8
    [settled] = events_after(gateway, position, ev.RequestSettled)
    assert settled.status == "guardrail_blocked"
    assert settled.tokens["output"] == len(sent.encode())


class Collected:
    """A SIEM sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def send(self, lines: Any) -> None:
        self.lines.extend(repr(line) for line in lines)

    def close(self) -> None:
        return None


@pytest.mark.parametrize("fmt", ["ecs", "ocsf", "cef"])
def test_no_siem_export_carries_a_matched_value(gateway: RunningGateway, fmt: str) -> None:
    with pytest.raises(ERRORS):
        ask(gateway, "openai_chat", True, f"number {SSN} and card {CARD}")
    ask(gateway, "openai_chat", False, f"mail {EMAIL} pay {IBAN}")
    flush_ledger(gateway)
    sink = Collected()

    replay(gateway.runtime.store, None, None, fmt, sink)

    decisions = [line for line in sink.lines if "guardrail" in line and "triggered" in line]
    assert len(decisions) >= 3
    assert not [line for line in sink.lines if any(secret in line for secret in SECRETS)]


@pytest.mark.parametrize("surface", ["anthropic_messages", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
def test_translated_answers_are_screened_in_the_surfaces_format(
    gateway: RunningGateway, surface: str, stream: bool
) -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    prompt = f"echo: {words} pay {IBAN} thanks {words}"
    if surface == "anthropic_messages":
        sdk = anthropic_client(gateway, api_key=CROSS_KEY)
        messages: Any = [{"role": "user", "content": prompt}]
        if stream:
            with sdk.messages.stream(model="m1", max_tokens=200, messages=messages) as events:
                answer = "".join(events.text_stream)
        else:
            reply = sdk.messages.create(model="m1", max_tokens=200, messages=messages)
            answer = "".join(b.text for b in reply.content if b.type == "text")
    else:
        sdk_g = gemini_client(gateway, "v1beta", key=CROSS_KEY)
        if stream:
            chunks = sdk_g.models.generate_content_stream(model="m1", contents=prompt)
            answer = "".join(c.text or "" for c in chunks)
        else:
            answer = sdk_g.models.generate_content(model="m1", contents=prompt).text or ""
    assert answer == f"{words} pay {'*' * len(IBAN)} thanks {words}"
