"""Required-header rules: present, equal to an environment variable, or a full regex match."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.flow.required_headers import compile_rules, missing_headers

RULES = {"X-Tenant": "*", "x-stage": "env.STAGE", "x-team": "team-[a-z]+"}


def test_each_rule_kind_accepts_only_what_it_should() -> None:
    rules = compile_rules(RULES, {"STAGE": "prod"})
    good = {"x-tenant": "", "x-stage": "prod", "x-team": "team-a"}
    assert missing_headers(rules, good) == []
    assert missing_headers(rules, {**good, "x-stage": "prod2"}) == ["x-stage"]
    assert missing_headers(rules, {**good, "x-team": "team-a1"}) == ["x-team"]
    assert missing_headers(rules, {}) == ["x-stage", "x-team", "x-tenant"]


def test_an_unset_variable_or_a_broken_expression_fails_closed() -> None:
    rules = compile_rules({"x-stage": "env.NOT_SET", "x-bad": "(unclosed"}, {})
    assert missing_headers(rules, {"x-stage": "", "x-bad": "(unclosed"}) == ["x-bad", "x-stage"]


@given(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True))
def test_a_value_passes_an_expression_only_by_matching_it_whole(suffix: str) -> None:
    rules = compile_rules({"x-team": "team-[a-z]+"}, {})
    passes = not missing_headers(rules, {"x-team": f"team-{suffix}"})
    assert passes == suffix.isalpha()
