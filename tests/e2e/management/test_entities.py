"""The /api/governance entities over HTTP: create, list, show, replace, delete, and refusals."""

from __future__ import annotations

from tests.e2e.management.support import Api

CUSTOMERS = "/api/governance/customers"
TEAMS = "/api/governance/teams"
KEYS = "/api/governance/virtual-keys"
PROVIDERS = "/api/governance/providers"


def test_a_created_customer_is_returned_with_its_id_and_version(api: Api) -> None:
    created = api.post(CUSTOMERS, {"id": "c-create", "name": "Create Co"})

    assert created.status == 201
    assert created.json == {
        "id": "c-create",
        "name": "Create Co",
        "budgets": [],
        "version": 1,
        "managed_by": "api",
    }
    assert created.headers["etag"] == '"1"'
    assert api.get(f"{CUSTOMERS}/c-create").json == created.json


def test_a_create_without_an_id_gets_a_generated_one(api: Api) -> None:
    created = api.post(TEAMS, {"name": "Anonymous"})

    assert created.status == 201
    assert created.json["id"].startswith("team-")
    assert api.get(f"{TEAMS}/{created.json['id']}").status == 200


def test_unknown_fields_and_bad_values_are_refused_naming_the_field(api: Api) -> None:
    unknown = api.post(CUSTOMERS, {"id": "c-bad", "name": "X", "colour": "red"})
    bad = api.post(CUSTOMERS, {"id": "c-bad", "name": "X", "budgets": [{"max_limit": "-1"}]})

    assert unknown.status == 422
    assert unknown.error["problems"] == [
        {"field": "colour", "message": "Extra inputs are not permitted"}
    ]
    assert bad.status == 422
    fields = {p["field"] for p in bad.error["problems"]}
    assert fields == {"budgets[0].max_limit", "budgets[0].reset_duration"}
    assert api.get(f"{CUSTOMERS}/c-bad").status == 404


def test_a_key_with_both_a_team_and_a_customer_is_refused(api: Api) -> None:
    api.post(CUSTOMERS, {"id": "c-both", "name": "Both"})
    api.post(TEAMS, {"id": "t-both", "name": "Both"})

    answer = api.post(
        KEYS, {"id": "k-both", "name": "K", "team_id": "t-both", "customer_id": "c-both"}
    )

    assert answer.status == 422
    assert answer.error["problems"][0]["field"] == "customer_id"


def test_references_to_missing_entities_are_refused_naming_the_field(api: Api) -> None:
    team = api.post(TEAMS, {"id": "t-orphan", "name": "T", "customer_id": "ghost"})
    key = api.post(KEYS, {"name": "K", "provider_configs": [{"provider": "ghost"}]})

    assert team.status == 422 and team.error["problems"][0]["field"] == "customer_id"
    assert key.status == 422 and key.error["problems"][0]["field"] == "provider_configs[0].provider"


def test_a_duplicate_id_is_a_conflict(api: Api) -> None:
    assert api.post(CUSTOMERS, {"id": "c-dup", "name": "One"}).status == 201

    again = api.post(CUSTOMERS, {"id": "c-dup", "name": "Two"})

    assert again.status == 409 and again.error["code"] == "already_exists"


def test_lists_page_with_a_cursor_and_filter_by_owner_and_search(api: Api) -> None:
    api.post(CUSTOMERS, {"id": "c-page", "name": "Pager"})
    for n in range(3):
        api.post(TEAMS, {"id": f"t-page-{n}", "name": f"Paged {n}", "customer_id": "c-page"})
    api.post(TEAMS, {"id": "t-page-other", "name": "Paged elsewhere"})

    first = api.get(f"{TEAMS}?customer_id=c-page&limit=2").json
    second = api.get(f"{TEAMS}?customer_id=c-page&limit=2&cursor={first['next_cursor']}").json
    searched = api.get(f"{TEAMS}?search=ELSEWHERE").json

    assert [t["id"] for t in first["data"]] == ["t-page-0", "t-page-1"]
    assert [t["id"] for t in second["data"]] == ["t-page-2"] and second["next_cursor"] is None
    assert [t["id"] for t in searched["data"]] == ["t-page-other"]


def test_a_put_with_the_current_version_replaces_and_a_stale_one_is_refused(api: Api) -> None:
    api.post(CUSTOMERS, {"id": "c-put", "name": "Before"})

    fresh = api.put(f"{CUSTOMERS}/c-put", {"name": "After"}, headers={"if-match": '"1"'})
    stale = api.put(f"{CUSTOMERS}/c-put", {"name": "Lost"}, headers={"if-match": '"1"'})

    assert fresh.status == 200 and fresh.json["name"] == "After" and fresh.json["version"] == 2
    assert stale.status == 412 and stale.error["code"] == "version_mismatch"
    assert api.get(f"{CUSTOMERS}/c-put").json["name"] == "After"


def test_a_put_on_a_missing_entity_or_with_another_id_is_refused(api: Api) -> None:
    api.post(CUSTOMERS, {"id": "c-put-id", "name": "X"})

    assert api.put(f"{CUSTOMERS}/c-nobody", {"name": "X"}).status == 404
    other = api.put(f"{CUSTOMERS}/c-put-id", {"id": "c-else", "name": "X"})
    assert other.status == 422 and other.error["problems"][0]["field"] == "id"


def test_deleting_a_team_that_owns_keys_needs_cascade(api: Api) -> None:
    api.post(TEAMS, {"id": "t-del", "name": "Doomed"})
    api.post(KEYS, {"id": "k-del", "name": "K", "team_id": "t-del"})

    refused = api.delete(f"{TEAMS}/t-del")
    cascaded = api.delete(f"{TEAMS}/t-del?cascade=true")

    assert refused.status == 409 and "k-del" in refused.error["message"]
    assert cascaded.status == 204
    assert api.get(f"{TEAMS}/t-del").status == 404
    assert api.get(f"{KEYS}/k-del").status == 404


def test_deleting_a_customer_that_owns_keys_through_a_team_needs_cascade(api: Api) -> None:
    api.post(CUSTOMERS, {"id": "c-del", "name": "Doomed"})
    api.post(TEAMS, {"id": "t-of-c-del", "name": "T", "customer_id": "c-del"})
    api.post(KEYS, {"id": "k-of-c-del", "name": "K", "team_id": "t-of-c-del"})

    assert api.delete(f"{CUSTOMERS}/c-del").status == 409
    assert api.delete(f"{CUSTOMERS}/c-del?cascade=true").status == 204
    assert api.get(f"{TEAMS}/t-of-c-del").status == 404


def test_a_deleted_entity_can_be_created_again(api: Api) -> None:
    api.post(CUSTOMERS, {"id": "c-again", "name": "One"})
    api.delete(f"{CUSTOMERS}/c-again")

    again = api.post(CUSTOMERS, {"id": "c-again", "name": "Two"})

    assert again.status == 201 and again.json["version"] == 3


def test_provider_key_values_are_write_only(api: Api) -> None:
    literal = "sk-upstream-write-only-123456"
    body = {
        "name": "p-write-only",
        "type": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "keys": [{"id": "lit", "value": literal}, {"id": "ref", "value": "env.HOME"}],
    }

    created = api.post(PROVIDERS, body)
    kept = api.put(f"{PROVIDERS}/p-write-only", {**body, "keys": [{"id": "lit"}, {"id": "ref"}]})
    shown = api.get(f"{PROVIDERS}/p-write-only")

    assert created.status == 201 and kept.status == 200
    assert [k["stored_as"] for k in shown.json["keys"]] == ["encrypted", "reference"]
    assert [k.get("reference") for k in shown.json["keys"]] == [None, "env.HOME"]
    assert all(literal not in a.text for a in (created, kept, shown))
    assert all("value" not in k for k in shown.json["keys"])


def test_a_new_provider_key_without_a_value_is_refused(api: Api) -> None:
    body = {"name": "p-no-value", "type": "openai", "base_url": "http://x", "keys": [{"id": "a"}]}

    answer = api.post(PROVIDERS, body)

    assert answer.status == 422 and answer.error["problems"][0]["field"] == "keys[0].value"


def test_a_provider_routed_by_a_key_cannot_be_deleted(api: Api) -> None:
    api.post(KEYS, {"id": "k-routes-mock", "name": "K", "provider_configs": [{"provider": "mock"}]})

    answer = api.delete(f"{PROVIDERS}/mock")

    assert answer.status == 409 and "k-routes-mock" in answer.error["message"]


def test_a_virtual_key_value_is_shown_once_and_only_its_prefix_after(api: Api) -> None:
    created = api.post(KEYS, {"id": "k-once", "name": "Once"})
    value = created.json["value"]

    assert created.status == 201 and value.startswith("sk-bf-")
    assert created.json["value_prefix"] == value[:10] + "…"
    assert value not in api.get(f"{KEYS}/k-once").text
    assert value not in api.get(f"{KEYS}?search=k-once").text
    assert "value_hash" not in api.get(f"{KEYS}/k-once").json


def test_a_key_value_changes_only_by_rotation(api: Api) -> None:
    api.post(KEYS, {"id": "k-no-put-value", "name": "K"})

    answer = api.put(f"{KEYS}/k-no-put-value", {"name": "K", "value": "sk-bf-chosen-0123456789"})

    assert answer.status == 422 and answer.error["problems"][0]["field"] == "value"


def test_a_get_body_minus_read_only_fields_is_a_valid_put_body(api: Api) -> None:
    created = api.post(
        KEYS,
        {
            "id": "k-round-trip",
            "name": "K",
            "budgets": [{"max_limit": "2.5", "reset_duration": "1d"}],
            "provider_configs": [
                {"provider": "mock", "budgets": [{"max_limit": "1", "reset_duration": "1h"}]}
            ],
            "rate_limit": {"request_max_limit": 5, "request_reset_duration": "1m"},
        },
    ).json
    body = {
        k: v
        for k, v in created.items()
        if k not in ("id", "version", "managed_by", "value_prefix", "retired", "value")
    }

    answer = api.put(f"{KEYS}/k-round-trip", body, headers={"if-match": '"1"'})

    assert answer.status == 200, answer.text
    assert answer.json["budgets"] == created["budgets"]


def test_the_id_quota_is_reserved_for_the_self_service_endpoint(api: Api) -> None:
    answer = api.post(KEYS, {"id": "quota", "name": "Q"})

    assert answer.status == 422 and answer.error["problems"][0]["field"] == "id"
