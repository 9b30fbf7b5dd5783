"""External checks against local stand-ins of their documented APIs (not the vendors'
services): each client reads the answers, Bedrock's SigV4 is accepted by botocore's own
verifier, and through the gateway an external block, a fail-open and a fail-closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import openai
import pytest

from govledger.ledger import events as ev
from govledger.proxy.guardrails import external
from tests.conftest import RunningGateway
from tests.e2e.openai_support import (
    KEY,
    client,
    events_after,
    flush_ledger,
    make_config,
    mark,
    serve,
)
from tests.integration.guardrails.standins import (
    AWS_ACCESS,
    AWS_SECRET,
    AZURE_KEY,
    MODERATION_KEY,
    SLOW,
    TRIGGER,
    standin_app,
)


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    with serve(standin_app()) as url:
        yield url


async def test_openai_moderation_reads_flagged_categories(standin: str) -> None:
    async with aiohttp.ClientSession() as session:
        hit = await external.openai_moderation(
            session, f"{standin}/v1", MODERATION_KEY, TRIGGER, None
        )
        miss = await external.openai_moderation(
            session, f"{standin}/v1", MODERATION_KEY, "hi", None
        )
        scored = await external.openai_moderation(
            session, f"{standin}/v1", MODERATION_KEY, "hi", 0.02
        )
        with pytest.raises(external.ExternalCheckError, match="401"):
            await external.openai_moderation(session, f"{standin}/v1", "wrong", "hi", None)
    assert (hit, miss, scored) == (["violence"], [], ["hate"])


async def test_azure_content_safety_reads_severities(standin: str) -> None:
    async with aiohttp.ClientSession() as session:
        hit = await external.azure_content_safety(session, standin, AZURE_KEY, TRIGGER, None)
        miss = await external.azure_content_safety(session, standin, AZURE_KEY, "hello", None)
        long = await external.azure_content_safety(
            session, standin, AZURE_KEY, "x" * 25_000 + TRIGGER, 4
        )
        with pytest.raises(external.ExternalCheckError):
            await external.azure_content_safety(session, standin, "wrong", "hello", None)
    assert (hit, miss, long) == (["violence"], [], ["violence"])


async def test_bedrock_apply_guardrail_is_signed_as_aws_verifies_it(standin: str) -> None:
    url = external.bedrock_url("eu-west-1", "gr-123", "1", standin)
    async with aiohttp.ClientSession() as session:
        hit = await external.bedrock_guardrail(
            session, url, "eu-west-1", AWS_ACCESS, AWS_SECRET, TRIGGER, "input"
        )
        miss = await external.bedrock_guardrail(
            session, url, "eu-west-1", AWS_ACCESS, AWS_SECRET, "hello", "output"
        )
        with pytest.raises(external.ExternalCheckError, match="403"):
            await external.bedrock_guardrail(
                session, url, "eu-west-1", AWS_ACCESS, "not-the-secret", "hello", "input"
            )
    assert (hit, miss) == (["content.violence"], [])
    assert external.bedrock_url("us-east-1", "g", "2", None) == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/guardrail/g/version/2/apply"
    )


def gateway_with(
    factory: Callable[..., RunningGateway],
    standin: str,
    checks: list[dict[str, Any]],
    **policy: Any,
) -> RunningGateway:
    moderation = {
        "name": "moderation",
        "type": "openai",
        "base_url": f"{standin}/v1",
        "keys": [{"id": "mod", "value": MODERATION_KEY}],
    }
    config = make_config()
    config["providers"].append(moderation)
    config["guardrails"] = [{"id": "external", "attach": ["*"], "checks": checks, **policy}]
    return factory(config)


def ask(gateway: RunningGateway, text: str) -> str:
    reply = client(gateway, KEY).chat.completions.create(
        model="m1", messages=[{"role": "user", "content": f"echo: {text}"}]
    )
    return reply.choices[0].message.content or ""


@pytest.mark.parametrize(
    "check",
    [
        {"type": "external.openai_moderation", "provider": "moderation"},
        {
            "type": "external.azure_content_safety",
            "endpoint": "{STANDIN}",
            "api_key": "env.GL_TEST_AZURE_KEY",
        },
        {
            "type": "external.bedrock_guardrail",
            "endpoint": "{STANDIN}",
            "region": "eu-west-1",
            "guardrail_id": "gr-1",
            "guardrail_version": "1",
            "access_key_id": "env.GL_TEST_AWS_ACCESS",
            "secret_access_key": "env.GL_TEST_AWS_SECRET",
        },
    ],
    ids=["openai-moderation", "azure-content-safety", "bedrock"],
)
def test_an_external_check_blocks_through_the_gateway(
    gateway_factory: Callable[..., RunningGateway],
    standin: str,
    check: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GL_TEST_AZURE_KEY", AZURE_KEY)
    monkeypatch.setenv("GL_TEST_AWS_ACCESS", AWS_ACCESS)
    monkeypatch.setenv("GL_TEST_AWS_SECRET", AWS_SECRET)
    spec = {k: (standin if v == "{STANDIN}" else v) for k, v in check.items()}
    gateway = gateway_with(gateway_factory, standin, [spec])
    assert ask(gateway, "a kind word") == "a kind word"
    position = mark(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(gateway, f"please {TRIGGER}")
    assert caught.value.code == "guardrail_blocked" and TRIGGER not in caught.value.message
    flush_ledger(gateway)
    [decision] = events_after(gateway, position, ev.GuardrailTriggered)
    assert (decision.check, decision.action) == (check["type"], "block")
    assert "violence" in decision.category


@pytest.mark.parametrize("on_error", ["fail_open", "fail_closed"])
def test_a_check_that_times_out_fails_open_or_closed(
    gateway_factory: Callable[..., RunningGateway], standin: str, on_error: str
) -> None:
    check = {"type": "external.openai_moderation", "provider": "moderation"}
    gateway = gateway_with(
        gateway_factory, standin, [check], scope="input", timeout_ms=200, on_error=on_error
    )
    position = mark(gateway)
    if on_error == "fail_open":
        assert ask(gateway, SLOW) == SLOW
    else:
        with pytest.raises(openai.BadRequestError) as caught:
            ask(gateway, SLOW)
        assert "check_unavailable" in caught.value.message
    flush_ledger(gateway)
    [decision] = events_after(gateway, position, ev.GuardrailTriggered)
    assert decision.category == "check_unavailable" and "0.2 s" in decision.detail
    assert decision.action == ("none" if on_error == "fail_open" else "block")


def test_an_external_check_screens_a_plain_answer(
    gateway_factory: Callable[..., RunningGateway], standin: str
) -> None:
    check = {"type": "external.openai_moderation", "provider": "moderation", "action": "block"}
    gateway = gateway_with(gateway_factory, standin, [check], scope="output")
    position = mark(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(gateway, f"we {TRIGGER}")  # passes the input, the echoed answer is flagged
    assert "in the output" in caught.value.message
    flush_ledger(gateway)
    [decision] = events_after(gateway, position, ev.GuardrailTriggered)
    assert (decision.direction, decision.category) == ("output", "violence")
    [settled] = events_after(gateway, position, ev.RequestSettled)
    assert settled.status == "guardrail_blocked"
