"""The gateway's use cases over stand-in ports: a pinned clock, a seeded RNG, a recording
writer (the real writer is exercised end to end; here only what the gateway decides)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from govledger.ledger import events as ev
from govledger.ledger.charges import charges_of
from govledger.ledger.credentials import hash_secret
from govledger.projections.policy import KeyPolicy, ProviderKey, Route
from govledger.projections.usage_state import UsageState
from govledger.proxy.enforcement.cost import PriceBook, PriceOverride, TokenUsage
from govledger.proxy.enforcement.settlement import Origin, Outcome
from govledger.proxy.flow.gateway import Call, Gateway, Limits
from govledger.proxy.surfaces.errors import GatewayError
from tests.clocks import PinnedClock
from tests.unit.proxy.test_settlement import budget

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
VALUE = "sk-bf-unit-test-key"


class State:
    """The part of the governance state the gateway reads: one key, no settings."""

    key_by_hash = {hash_secret(VALUE): "k"}

    def accepts(self, key_id: str, digest: str, now: datetime) -> bool:
        return self.key_by_hash.get(digest) == key_id

    def version(self, kind: str, entity_id: str) -> int:
        return 1

    def settings(self) -> dict[str, Any]:
        return {}


@dataclass
class Governance:
    """Stand-in governance port: the state above, one key's policy, override prices."""

    policy_of: KeyPolicy
    state: Any = field(default_factory=State)
    prices: PriceBook = field(
        default_factory=lambda: PriceBook(
            [PriceOverride("*", "m", Decimal("2"), Decimal("8"))], False
        )
    )

    def policy(self, key_id: str) -> KeyPolicy | None:
        return self.policy_of if key_id == self.policy_of.key_id else None


@dataclass
class Writer:
    """Records what the gateway queues and appends; always accepting."""

    queued: list[ev.LedgerEvent] = field(default_factory=list)
    appended: list[ev.LedgerEvent] = field(default_factory=list)

    def accepting(self) -> bool:
        return True

    def submit(
        self, app: str, events: Sequence[ev.LedgerEvent], done: Any, linger: bool = False
    ) -> None:
        self.queued += events

    async def append(self, app: str, events: Sequence[ev.LedgerEvent]) -> Sequence[int]:
        self.appended += events
        return [len(self.appended)]


@dataclass
class Usage:
    """Stand-in usage port."""

    usage: UsageState = field(default_factory=UsageState)
    writer: Writer = field(default_factory=Writer)


def key(expires_at: datetime | None = None) -> KeyPolicy:
    """Key `k` with one route and a daily key budget."""
    route = Route(
        "p", "openai", "https://upstream.example/v1", 1.0, ("*",),
        (ProviderKey("p-key", 1.0, ("*",), "secret"),), (), (),
    )  # fmt: skip
    return KeyPolicy(
        "k", "k", True, expires_at.timestamp() if expires_at else None, None, None,
        (route,), (budget("virtual_key:k#1d", "virtual_key"),), (), (),
    )  # fmt: skip


def gateway(policy: KeyPolicy, clock: PinnedClock) -> tuple[Gateway, Usage]:
    """A gateway over stand-in ports."""
    usage = Usage()
    limits = Limits(max_body_bytes=1024, settle_timeout_s=1.0)
    made = Gateway(Governance(policy), usage, clock, random.Random(1), Origin("gw", "i1"), limits)
    return made, usage


def call() -> Call:
    """A chat call with the key."""
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    headers = {"authorization": f"Bearer {VALUE}"}
    return Call("openai_chat", "m", body, False, headers, request_id="0" * 31 + "1")


def test_a_key_is_refused_from_the_instant_the_injected_clock_passes_its_expiry() -> None:
    expiry = NOW + timedelta(hours=1)
    clock = PinnedClock(expiry - timedelta(microseconds=1))
    made, _ = gateway(key(expires_at=expiry), clock)

    assert made.authorize(call()).key_id == "k"
    clock.at = expiry
    with pytest.raises(GatewayError) as refused:
        made.authorize(call())

    assert (refused.value.status, refused.value.code) == (403, "virtual_key_blocked")
    assert expiry.isoformat() in refused.value.message


async def test_admit_then_settle_reserves_then_charges_at_the_clock_s_times() -> None:
    clock = PinnedClock(NOW)
    made, usage = gateway(key(), clock)
    ticket = made.admit(call(), made.authorize(call()))
    [admitted] = usage.writer.queued
    assert isinstance(admitted, ev.RequestAdmitted) and admitted.timestamp == NOW
    assert usage.usage.budgets["virtual_key:k#1d"].reserved == ticket.admission.bound_cost > 0

    clock.at = NOW + timedelta(seconds=3)
    served = ticket.admission.chain[0]
    outcome = Outcome("ok", "", served, "p-key", "m", TokenUsage(10, 5), [])
    cost = await made.settle(ticket, outcome)

    [settled] = usage.writer.appended
    assert isinstance(settled, ev.RequestSettled) and settled.timestamp == clock.at
    assert cost == settled.cost == Decimal("0.00006")  # 10 x 2 + 5 x 8 per million
    assert [c.amount for c in charges_of(settled.charges)] == [cost]
    held = usage.usage.budgets["virtual_key:k#1d"]
    assert (held.settled, held.reserved) == (cost, Decimal(0))
    assert await made.settle(ticket, outcome) == 0 and len(usage.writer.appended) == 1
