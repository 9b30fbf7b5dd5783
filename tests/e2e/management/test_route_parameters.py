"""Adaptive routing's parameters over the management API: shown, set file-wide (validated,
in the problem shape, nothing half-applied), taken by the health fold, and a key's own."""

from __future__ import annotations

from govledger.ledger.route_params import DEFAULT_HEALTH, DEFAULT_WEIGHTS
from tests.conftest import RunningGateway
from tests.e2e.management.support import Api, eventually

PARAMETERS = "/api/routes/parameters"
KEYS = "/api/governance/virtual-keys"


def test_parameters_are_shown_set_and_taken_by_the_fold(api: Api, gateway: RunningGateway) -> None:
    shown = api.get(PARAMETERS)
    assert shown.status == 200, shown.text
    assert shown.json["health"]["decay_s"] == DEFAULT_HEALTH.decay_s
    assert shown.json["weights"]["probe_floor"] == DEFAULT_WEIGHTS.probe_floor

    changed = api.put(PARAMETERS, {"decay_s": 20, "cooldown_s": 4, "probe_floor": 0.2})
    assert changed.status == 200, changed.text
    assert changed.json["set"] == {"decay_s": 20, "cooldown_s": 4, "probe_floor": 0.2}
    assert changed.json["health"]["cooldown_s"] == 4
    assert api.get(PARAMETERS).json["weights"]["probe_floor"] == 0.2
    eventually(lambda: gateway.runtime.usage.routes.params.decay_s == 20)

    bad = api.put(PARAMETERS, {"recover_at": 0.5, "degrade_at": 0.2, "fail_at": 0.6})
    assert bad.status == 422, bad.text
    assert "recover_at" in bad.error["message"]
    assert api.put(PARAMETERS, {"probe_floor": 0}).status == 422
    assert api.put(PARAMETERS, {"buckets": 1}).status == 422
    assert api.get(PARAMETERS).json["set"]["decay_s"] == 20  # nothing half-applied

    assert api.put(PARAMETERS, {}).json["health"] == {
        k: getattr(DEFAULT_HEALTH, k) for k in api.get(PARAMETERS).json["health"]
    }  # back to the defaults
    assert api.as_(None).get(PARAMETERS).status == 401


def test_a_key_sets_its_own_weight_parameters(api: Api) -> None:
    body = {
        "id": "tuned",
        "name": "tuned",
        "routing": "adaptive",
        "adaptive": {"max_boost": 2, "error_penalty": 5},
        "provider_configs": [{"provider": "mock"}],
    }
    created = api.post(KEYS, body)
    assert created.status == 201, created.text
    assert created.json["adaptive"] == {"max_boost": 2, "error_penalty": 5}
    shares = api.get("/api/routes?virtual_key=tuned&model=m1")
    assert shares.status == 200, shares.text
    weights = shares.json["virtual_key"]["weights"]
    assert (weights["max_boost"], weights["error_penalty"]) == (2, 5)
    assert weights["probe_floor"] == DEFAULT_WEIGHTS.probe_floor

    wrong = api.post(KEYS, {**body, "id": "tuned2", "adaptive": {"decay_s": 3}})
    assert wrong.status == 422, wrong.text  # the fold's parameters are the gateway's alone
    assert api.get(f"{KEYS}/tuned2").status == 404
