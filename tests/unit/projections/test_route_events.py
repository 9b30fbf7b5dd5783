"""Route state changes as events: the same id on every instance, recent changes once."""

from __future__ import annotations

from govledger.exporters.siem_formats import ecs, fact
from govledger.projections.route_events import RouteStateRecorder, change_event, change_id
from govledger.projections.route_health import RouteHealthFold, Transition

T0 = 1_780_000_000.0
OK = {"provider": "p", "key_id": "k", "model": "m", "status": 200, "error": "", "ms": 5.0}
ERROR = {**OK, "status": 503, "error": "retryable status"}


def test_a_change_has_one_id_whoever_computes_it() -> None:
    change = Transition(("p", "k", "m"), T0 + 1.5, "healthy", "failed", "error rate 0.60 >= 0.5")
    again = Transition(("p", "k", "m"), T0 + 1.5, "healthy", "failed", "another wording")

    assert change_id(change) == change_id(again)
    assert change_id(change) != change_id(
        Transition(("p", "k", "m"), T0 + 2, "healthy", "failed", "")
    )
    event = change_event(change, "gw-1")
    assert (event.route_provider, event.state, event.timestamp.timestamp()) == (
        "p",
        "failed",
        T0 + 1.5,
    )
    assert '"action":"route.state_changed"' in ecs(fact("usage", 7, event))  # exported as usage


def test_the_recorder_records_recent_changes_once_and_none_from_before_it_started() -> None:
    fold = RouteHealthFold()
    for second in range(10):  # failing before the process started
        for i in range(4):
            fold.observe(ERROR, T0 + second + i / 5)
    recorder = RouteStateRecorder(fold, "gw-1", started=T0 + 5)
    assert recorder.due(T0 + 5) == []  # its Failed change happened before the start
    cooled = recorder.due(T0 + 14)  # Failed at about T0 + 1.5, cooled down 10 s later
    assert [(e.previous, e.state) for e in cooled] == [("failed", "recovering")]
    for second in range(25, 30):  # probes succeed
        for i in range(4):
            fold.observe(OK, T0 + second + i / 5)

    found = recorder.due(T0 + 31)
    assert [(e.previous, e.state) for e in found] == [("recovering", "healthy")]
    assert recorder.due(T0 + 31.5) == []  # once
