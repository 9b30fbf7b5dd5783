"""The secret cache: the pure decision after each fetch (rotation, outage, restoration,
backoff up to the TTL), and the cache's refresh driven by an injected clock and fetch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from govledger.exporters.alert_rules import secret_manager
from govledger.ledger import events as ev
from govledger.ledger.secrets.cache import Change, Held, SecretCache, after_fetch, fingerprint
from govledger.ledger.secrets.local import FileResolver
from govledger.ledger.secrets.references import Reference, parse_reference
from govledger.ledger.secrets.resolver import SecretUnavailableError
from govledger.proxy.server.runtime import secret_event

REF = Reference("vault.secret/a#k", "vault", "a", "secret", "k")
DOWN = SecretUnavailableError("Vault unreachable: connection refused")


def test_a_first_value_is_resolved_not_rotated() -> None:
    held, news = after_fetch(Held(REF), "sk-1", 100.0, 60.0)
    assert (held.value, held.fingerprint, held.due_at) == ("sk-1", fingerprint("sk-1"), 160.0)
    assert [c.kind for c in news] == ["resolved"]


def test_a_new_value_is_a_rotation_naming_both_fingerprints() -> None:
    held, _ = after_fetch(Held(REF), "sk-1", 0.0, 60.0)
    held, news = after_fetch(held, "sk-2", 60.0, 60.0)
    assert news == [Change("rotated", REF.text, fingerprint("sk-2"), fingerprint("sk-1"))]
    _, same = after_fetch(held, "sk-2", 120.0, 60.0)
    assert same == []


def test_an_outage_keeps_the_value_reports_once_and_backs_off() -> None:
    held, _ = after_fetch(Held(REF), "sk-1", 0.0, 60.0)
    held, news = after_fetch(held, DOWN, 60.0, 60.0)
    assert held.value == "sk-1" and held.error == str(DOWN)
    assert news == [
        Change("unavailable", REF.text, fingerprint("sk-1"), reason=str(DOWN), kept=True)
    ]
    delays = []
    for step in range(8):
        now = 100.0 + step
        held, news = after_fetch(held, DOWN, now, 60.0)
        assert news == []  # the same failure again is no news
        delays.append(held.due_at - now)
    assert delays == sorted(delays) and delays[-1] == 60.0  # doubling, capped at the TTL
    held, news = after_fetch(held, "sk-1", 200.0, 60.0)
    assert [c.kind for c in news] == ["restored"] and held.error == "" and held.failures == 0


def test_an_outage_before_any_value_keeps_nothing() -> None:
    _, news = after_fetch(Held(REF), DOWN, 0.0, 60.0)
    assert news == [Change("unavailable", REF.text, "", reason=str(DOWN), kept=False)]


@given(st.lists(st.one_of(st.sampled_from(["a", "b"]), st.just(DOWN)), max_size=30))
def test_the_value_held_is_always_the_last_good_one(outcomes: list[str | Exception]) -> None:
    held, last = Held(REF), None
    for step, outcome in enumerate(outcomes):
        held, news = after_fetch(held, outcome, float(step), 10.0)  # type: ignore[arg-type]
        if isinstance(outcome, str):
            rotated = last is not None and outcome != last
            assert ("rotated" in [c.kind for c in news]) == rotated
            last = outcome
        assert held.value == last
        assert held.due_at > step


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_fetches_what_is_due_and_reports_changes() -> None:
    values = {"vault.secret/a#k": "sk-1", "env.B?ttl=10s": "b-1"}
    fetched: list[str] = []

    def fetch(ref: Reference) -> str:
        fetched.append(ref.text)
        value = values[ref.text]
        if value == "down":
            raise DOWN
        return value

    clock = Clock()
    seen: list[Any] = []
    cache = SecretCache(fetch, default_ttl_s=60.0, clock=clock, on_change=seen.extend)
    assert cache.track(["vault.secret/a#k", "env.B?ttl=10s", "literal", "vault.bad"]) == [
        ("vault.bad", "'vault.bad': expected vault.<mount>/<path>#<field>[?version=<n>]")
    ]
    cache.refresh()
    assert cache.value("vault.secret/a#k") == "sk-1" and cache.value("literal") is None
    clock.now, values["env.B?ttl=10s"], values["vault.secret/a#k"] = 10.0, "b-2", "down"
    fetched.clear()
    changes = cache.refresh()
    assert fetched == ["env.B?ttl=10s"]  # only the one whose TTL passed
    assert [(c.kind, c.reference) for c in changes] == [("rotated", "env.B?ttl=10s")]
    clock.now = 60.0
    cache.refresh()
    assert cache.value("vault.secret/a#k") == "sk-1"
    assert cache.degraded() == [
        {"reference": "vault.secret/a#k", "reason": str(DOWN), "kept": True}
    ]
    assert [c.kind for c in seen] == ["resolved", "resolved", "rotated", "unavailable"]
    cache.track(["env.B?ttl=10s"])  # no longer referenced: forgotten
    assert cache.value("vault.secret/a#k") is None and cache.degraded() == []


def test_a_file_reference_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("sk-file-1\n")
    ref = parse_reference(f"file.{path}")
    assert ref is not None
    resolver = FileResolver()
    assert resolver.fetch(ref) == "sk-file-1"
    path.write_text("sk-file-two\n")
    assert resolver.fetch(ref) == "sk-file-two"
    path.unlink()
    try:
        resolver.fetch(ref)
    except SecretUnavailableError as error:
        assert str(error) == f"cannot read {path}: No such file or directory"
    else:
        raise AssertionError("a missing file must be unavailable")


def test_secret_events_and_alerts_carry_fingerprints_never_values() -> None:
    down = Change("unavailable", REF.text, fingerprint("sk-1"), reason="refused", kept=True)
    event = secret_event(down, "gw/1")
    assert isinstance(event, ev.SecretFetchFailed)
    assert (event.reference, event.cause, event.kept) == (REF.text, "refused", True)
    [alert] = secret_manager(event)
    assert alert.action == "trigger" and alert.key == f"secret:{REF.text}"
    assert alert.detail["data"]["reference"] == REF.text
    restored = secret_event(Change("restored", REF.text, fingerprint("sk-1")), "gw/1")
    assert restored is not None
    [resolve] = secret_manager(restored)
    assert resolve.action == "resolve" and resolve.key == alert.key
    assert secret_event(Change("resolved", REF.text, "x"), "gw/1") is None
    assert "sk-1" not in repr(event) + repr(alert) + repr(resolve)


def test_the_background_thread_refreshes_when_the_ttl_passes() -> None:
    import threading

    values = {"env.A?ttl=1s": "one"}
    rotated = threading.Event()
    seen: list[Change] = []

    def on_change(changes: list[Change]) -> None:
        seen.extend(changes)
        if any(c.kind == "rotated" for c in changes):
            rotated.set()

    clock = Clock()
    cache = SecretCache(lambda ref: values[ref.text], clock=clock, on_change=on_change)
    cache.track(values)
    cache.refresh()
    cache.start()
    try:
        values["env.A?ttl=1s"], values["env.B?ttl=1s"] = "two", "b"
        clock.now = 1.0  # A is due now: the thread's next pass fetches it
        cache.track(["env.A?ttl=1s", "env.B?ttl=1s"])  # a new reference wakes it at once
        assert rotated.wait(timeout=10)
    finally:
        cache.stop()
    assert cache.value("env.A?ttl=1s") == "two" and cache.value("env.B?ttl=1s") == "b"
