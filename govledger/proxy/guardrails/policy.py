"""Guardrail policies compiled from their entity data, and the pure decision over findings.

Which policies apply to a request: every enabled policy attached to `*`, the key, its team,
its customer or the request's user (inheritance: all of them run). A policy is sampled per
request and direction with the injected RNG; its built-in checks run against an injected
clock, and a policy whose checks overrun its timeout fails open or closed as configured.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from govledger.proxy.guardrails.catalogue import Detector, detector
from govledger.proxy.guardrails.findings import Finding

Clock = Callable[[], float]  # seconds, monotonic
MASK = "*"
UNAVAILABLE = "check_unavailable"


@dataclass(frozen=True)
class Check:
    """One compiled check: its type, action and detector (None: an external check)."""

    type: str
    action: str
    detect: Detector | None
    spec: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """A compiled guardrail policy."""

    id: str
    attach: frozenset[str]
    scope: str
    checks: tuple[Check, ...]
    sampling_rate: float
    timeout_s: float
    fail_closed: bool
    stream_window: int

    def covers(self, direction: str) -> bool:
        """True if the policy checks this direction (input or output)."""
        return self.scope in ("both", direction)


@dataclass(frozen=True)
class Triggered:
    """A decision about one finding (or one check that could not run)."""

    policy: str
    check: str
    category: str
    action: str  # block | redact | flag | none
    start: int
    end: int
    detail: str = ""


@dataclass
class Verdict:
    """What the policies decided about one text: findings, the text after redaction."""

    text: str
    triggered: list[Triggered] = field(default_factory=list)

    @property
    def blocked(self) -> Triggered | None:
        """The first blocking decision, if any."""
        return next((t for t in self.triggered if t.action == "block"), None)


def compile_policy(entity_id: str, data: dict[str, Any]) -> Policy:
    """A policy from its stored data (validated when it was written)."""
    checks = tuple(
        Check(c["type"], c.get("action", "block"), detector(c), c) for c in data["checks"]
    )
    return Policy(
        entity_id,
        frozenset(data.get("attach") or ()),
        data.get("scope", "both"),
        checks,
        float(data.get("sampling_rate", 1.0)),
        int(data.get("timeout_ms", 1000)) / 1000,
        data.get("on_error") == "fail_closed",
        int(data.get("stream_window", 256)),
    )


def applicable(
    policies: Iterable[Policy],
    key_id: str,
    team_id: str | None,
    customer_id: str | None,
    user: str | None,
) -> list[Policy]:
    """The policies attached to the request's key, team, customer, user, or to every one."""
    owners = {"*", f"virtual_key:{key_id}"}
    if team_id:
        owners.add(f"team:{team_id}")
    if customer_id:
        owners.add(f"customer:{customer_id}")
    if user:
        owners.add(f"user:{user}")
    return [p for p in policies if p.attach & owners]


def sampled(policies: Sequence[Policy], direction: str, rng: random.Random) -> list[Policy]:
    """The policies that run on this direction of this request (sampling by the RNG)."""
    return [
        p
        for p in policies
        if p.covers(direction) and (p.sampling_rate >= 1 or rng.random() < p.sampling_rate)
    ]


def scan(policy: Policy, text: str, clock: Clock) -> tuple[list[Triggered], str | None]:
    """The built-in checks' findings, and the check that overran the timeout (if one did)."""
    deadline = clock() + policy.timeout_s
    found: list[Triggered] = []
    for check in policy.checks:
        if check.detect is None:
            continue
        if clock() > deadline:
            return found, check.type
        found.extend(_decided(policy, check, check.detect(text)))
    return found, None


def _decided(policy: Policy, check: Check, findings: Iterable[Finding]) -> list[Triggered]:
    return [
        Triggered(policy.id, f.check, f.category, check.action, f.start, f.end) for f in findings
    ]


def unavailable(policy: Policy, check: str, detail: str, length: int) -> Triggered:
    """A check that could not run: blocks if the policy fails closed, else only recorded."""
    action = "block" if policy.fail_closed else "none"
    return Triggered(policy.id, check, UNAVAILABLE, action, 0, length, detail)


def evaluate(policies: Sequence[Policy], text: str, clock: Clock) -> Verdict:
    """Run every policy's built-in checks on a text; redactions applied to `text`."""
    verdict = Verdict(text)
    for policy in policies:
        found, overran = scan(policy, text, clock)
        verdict.triggered.extend(found)
        if overran is not None:
            detail = f"built-in checks overran {policy.timeout_s:g} s"
            verdict.triggered.append(unavailable(policy, overran, detail, len(text)))
    return redacted(verdict)


def redacted(verdict: Verdict) -> Verdict:
    """The verdict with every `redact` span masked character for character (same length)."""
    spans = [(t.start, t.end) for t in verdict.triggered if t.action == "redact"]
    verdict.text = mask(verdict.text, spans)
    return verdict


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with each span replaced by as many mask characters (offsets stay valid)."""
    merged: list[list[int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return text
    pieces, last = [], 0
    for start, end in merged:
        pieces += [text[last:start], MASK * (end - start)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
