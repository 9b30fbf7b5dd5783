"""Policy evaluation: actions, attachment, sampling, timeout, fail-open/closed, the window."""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from govledger.proxy.guardrails.policy import (
    applicable,
    compile_policy,
    evaluate,
    sampled,
)
from govledger.proxy.guardrails.stream_window import WindowScan

EMAIL = "bob@example.com"


def policy(checks: list[dict[str, Any]], **fields: Any) -> Any:
    return compile_policy(fields.pop("id", "p"), {"checks": checks, **fields})


def fixed_clock() -> float:
    return 0.0


def test_block_redact_and_flag() -> None:
    p = policy(
        [
            {"type": "pii.email", "action": "redact"},
            {"type": "deny.keywords", "keywords": ["zebra"], "action": "flag"},
            {"type": "pii.ssn", "action": "block"},
        ]
    )
    verdict = evaluate([p], f"mail {EMAIL} zebra", fixed_clock)
    assert verdict.text == "mail *************** zebra"
    assert [(t.check, t.action, t.start, t.end) for t in verdict.triggered] == [
        ("pii.email", "redact", 5, 20),
        ("deny.keywords", "flag", 21, 26),
    ]
    assert verdict.blocked is None
    blocked = evaluate([p], "ssn 123-45-6789", fixed_clock).blocked
    assert blocked is not None and (blocked.category, blocked.policy) == ("us_ssn", "p")


def test_all_attached_policies_apply() -> None:
    every = [
        policy([{"type": "pii.email"}], id=name, attach=[owner])
        for name, owner in [
            ("all", "*"),
            ("key", "virtual_key:k1"),
            ("team", "team:t1"),
            ("customer", "customer:c1"),
            ("user", "user:u1"),
            ("other", "team:t2"),
        ]
    ]
    ids = [p.id for p in applicable(every, "k1", "t1", "c1", "u1")]
    assert ids == ["all", "key", "team", "customer", "user"]
    assert [p.id for p in applicable(every, "k2", None, None, None)] == ["all"]


def test_scope_and_seeded_sampling() -> None:
    half = policy([{"type": "pii.email"}], scope="input", sampling_rate=0.5)
    assert sampled([half], "output", random.Random(1)) == []
    rng = random.Random(42)
    runs = sum(bool(sampled([half], "input", rng)) for _ in range(1000))
    assert 450 < runs < 550
    again = random.Random(42)
    assert runs == sum(bool(sampled([half], "input", again)) for _ in range(1000))


def test_timeout_fails_open_or_closed() -> None:
    checks = [{"type": "pii.email"}, {"type": "pii.card"}]
    ticks = itertools.count(0, 0.6)  # every reading of the clock is 0.6 s later

    def slow_clock() -> float:
        return float(next(ticks))

    open_ = evaluate([policy(checks, timeout_ms=1000)], EMAIL, slow_clock)
    assert [(t.category, t.action) for t in open_.triggered] == [
        ("email", "block"),
        ("check_unavailable", "none"),
    ]
    closed = evaluate([policy(checks, timeout_ms=1000, on_error="fail_closed")], "x", slow_clock)
    assert closed.blocked is not None and closed.blocked.category == "check_unavailable"


def _stream(pieces: list[str], window: int, action: str) -> tuple[str, list[Any], Any]:
    p = policy([{"type": "pii.email", "action": action}])
    scan = WindowScan(lambda text: evaluate([p], text, fixed_clock), window)
    out: list[str] = []
    decisions: list[Any] = []
    for piece in pieces:
        decisions += scan.push(piece)
        out += scan.release(final=False)
        held = sum(len(h) for h in scan.held)
        longest = max(len(p) for p in pieces)
        assert scan.blocked is not None or held < window + longest  # at most the window held
    decisions += scan.finish()
    out += scan.release(final=True)
    return "".join(out), decisions, scan.blocked


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=60))
@settings(max_examples=100, deadline=None)
def test_window_redacts_across_any_split(size: int, padding: int) -> None:
    text = "x " * padding + f"write {EMAIL} please " + "y " * 30
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    delivered, decisions, _ = _stream(pieces, 64, "redact")
    assert EMAIL not in delivered
    assert delivered == text.replace(EMAIL, "*" * len(EMAIL))
    start = text.index(EMAIL)
    assert [(d.start, d.end) for d in decisions] == [(start, start + len(EMAIL))]


def test_window_block_stops_before_the_finding_is_sent() -> None:
    text = "hello there " * 10 + EMAIL + " and more " * 10
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    p = policy([{"type": "pii.email", "action": "block"}])
    scan = WindowScan(lambda t: evaluate([p], t, fixed_clock), 32)
    sent = ""
    for piece in pieces:
        scan.push(piece)
        sent += "".join(scan.release(final=False))
        if scan.blocked:
            break
    assert scan.blocked is not None
    assert "bob@" not in sent and sent == text[: len(sent)]


def test_lone_surrogates_and_nul_characters_are_checked_without_error() -> None:
    p = policy([{"type": "pii.email", "action": "redact"}, {"type": "pii.card", "action": "flag"}])
    text = f"x \ud800 {EMAIL} \udfff 4111 1111 1111 1111 \x00 end"
    verdict = evaluate([p], text, fixed_clock)
    assert verdict.text == text.replace(EMAIL, "*" * len(EMAIL))
    assert [text[t.start : t.end] for t in verdict.triggered] == [EMAIL, "4111 1111 1111 1111"]
