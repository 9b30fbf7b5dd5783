"""/api/governance/guardrails: a policy added through the API takes effect on the next
request, Developers cannot write one, bad patterns are refused by path, and the decisions
reach /metrics and the audit trail without the matched value."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from govledger.ledger import events as ev
from tests.conftest import RunningGateway
from tests.e2e.management.support import Api, audit_rows, poll
from tests.e2e.management.test_access import token_for
from tests.e2e.openai_support import events_after, flush_ledger, mark

SECRET_WORD = "pineapple-7731"
POLICY: dict[str, Any] = {
    "id": "api-deny",
    "attach": ["virtual_key:k-guarded"],
    "scope": "input",
    "checks": [{"type": "deny.keywords", "keywords": [SECRET_WORD], "action": "block"}],
}


def guarded_client(api: Api, gateway: RunningGateway) -> openai.OpenAI:
    created = api.post(
        "/api/governance/virtual-keys",
        {"id": "k-guarded", "name": "guarded", "provider_configs": [{"provider": "mock"}]},
    )
    assert created.status == 201, created.text
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=created.json["value"], max_retries=0)


def ask(sdk: openai.OpenAI, text: str) -> str:
    reply = sdk.chat.completions.create(model="m1", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def test_a_policy_added_through_the_api_applies_to_the_next_request(
    api: Api, gateway: RunningGateway
) -> None:
    sdk = guarded_client(api, gateway)
    assert ask(sdk, f"echo: {SECRET_WORD}") == SECRET_WORD

    created = api.post("/api/governance/guardrails", POLICY)
    assert created.status == 201, created.text
    assert created.json["version"] == 1 and created.json["checks"][0]["action"] == "block"

    position = mark(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sdk, f"echo: {SECRET_WORD}")
    assert caught.value.code == "guardrail_blocked"
    assert "api-deny" in caught.value.message and SECRET_WORD not in caught.value.message

    relaxed = {**POLICY, "checks": [{**POLICY["checks"][0], "action": "flag"}]}
    assert api.put("/api/governance/guardrails/api-deny", relaxed).status == 200
    assert ask(sdk, f"echo: {SECRET_WORD}") == SECRET_WORD
    flush_ledger(gateway)
    actions = [e.action for e in events_after(gateway, position, ev.GuardrailTriggered)]
    assert actions == ["block", "flag"]

    assert api.delete("/api/governance/guardrails/api-deny").status == 204
    assert api.get("/api/governance/guardrails/api-deny").status == 404
    position = mark(gateway)
    assert ask(sdk, f"echo: {SECRET_WORD}") == SECRET_WORD
    flush_ledger(gateway)
    assert events_after(gateway, position, ev.GuardrailTriggered) == []

    rows = poll(
        lambda: audit_rows(api, "resource_type=guardrail&resource_id=api-deny"),
        lambda found: len(found) == 3,
    )
    assert sorted(r["action"] for r in rows) == [
        "guardrail.created",
        "guardrail.deleted",
        "guardrail.updated",
    ]
    metrics = poll(
        lambda: gateway_metrics(gateway),
        lambda text: 'govledger_guardrail_decisions_total{action="flag"' in text,
    )
    assert 'policy="api-deny"' in metrics and SECRET_WORD not in metrics


def gateway_metrics(gateway: RunningGateway) -> str:
    import urllib.request

    with urllib.request.urlopen(gateway.url + "/metrics", timeout=10) as response:  # noqa: S310
        return str(response.read().decode())


def test_a_developer_cannot_create_a_guardrail_and_an_admin_can(api: Api) -> None:
    developer = api.as_(token_for(api, "guard-dev", "Developer"))
    denied = developer.post("/api/governance/guardrails", {**POLICY, "id": "dev-try"})
    assert denied.status == 403 and denied.error["permission"] == "guardrails:create"
    assert developer.get("/api/governance/guardrails").status == 403
    assert api.get("/api/governance/guardrails/dev-try").status == 404


@pytest.mark.parametrize(
    ("check", "path", "words"),
    [
        ({"type": "deny.regex", "patterns": ["ok", r"(a)\1"]}, "checks[0].patterns", "RE2"),
        ({"type": "deny.regex", "patterns": []}, "checks[0]", "needs patterns"),
        ({"type": "size.max_prompt", "max_bytes": 10, "action": "redact"}, "checks[0]", "cannot"),
        ({"type": "pii.nothing"}, "checks[0].type", "pii.card"),
    ],
)
def test_a_bad_check_is_refused_naming_its_path(
    api: Api, check: dict[str, Any], path: str, words: str
) -> None:
    answer = api.post("/api/governance/guardrails", {"id": "bad", "checks": [check]})
    assert answer.status == 422, answer.text
    assert path in answer.text and words in answer.text
