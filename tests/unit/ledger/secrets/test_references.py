"""Reference strings: each manager's form parsed into its parts; malformed ones refused with
a reason; literals are not references; errors carry the config's JSON path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govledger.ledger.config import ConfigError, parse_config
from govledger.ledger.secrets.references import (
    Reference,
    ReferenceError,
    is_reference,
    parse_reference,
)

SEGMENT = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env.OPENAI_API_KEY", ("env", "OPENAI_API_KEY", "", "", "")),
        ("file./run/secrets/openai", ("file", "/run/secrets/openai", "", "", "")),
        ("vault.secret/llm/openai#api_key", ("vault", "llm/openai", "secret", "api_key", "")),
        ("vault.kv/team/a#k?version=3", ("vault", "team/a", "kv", "k", "3")),
        ("aws-sm.prod/openai", ("aws-sm", "prod/openai", "", "", "")),
        ("aws-sm.prod/openai#api_key", ("aws-sm", "prod/openai", "", "api_key", "")),
        (
            "aws-sm.arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-AbCdEf#key",
            (
                "aws-sm",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-AbCdEf",
                "",
                "key",
                "",
            ),
        ),
        ("gcp-sm.projects/acme/secrets/openai", ("gcp-sm", "openai", "acme", "", "")),
        ("gcp-sm.projects/acme/secrets/openai/versions/7", ("gcp-sm", "openai", "acme", "", "7")),
        ("azure-kv.acme-vault/openai-key", ("azure-kv", "openai-key", "acme-vault", "", "")),
        (
            "azure-kv.acme-vault/openai-key/0123456789abcdef0123456789abcdef",
            ("azure-kv", "openai-key", "acme-vault", "", "0123456789abcdef0123456789abcdef"),
        ),
    ],
)
def test_each_manager_form_is_parsed(text: str, expected: tuple[str, ...]) -> None:
    ref = parse_reference(text)
    assert ref is not None
    assert (ref.manager, ref.name, ref.scope, ref.field, ref.version) == expected
    assert ref.text == str(ref) == text and ref.ttl_s is None


def test_a_ttl_option_sets_the_refresh_interval() -> None:
    ref = parse_reference("vault.secret/a#k?ttl=30s&version=2")
    assert ref == Reference(
        "vault.secret/a#k?ttl=30s&version=2", "vault", "a", "secret", "k", "2", 30.0
    )
    assert parse_reference("env.X?ttl=5m") == Reference("env.X?ttl=5m", "env", "X", ttl_s=300.0)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("vault.secret/llm/openai", "expected vault.<mount>/<path>#<field>"),
        ("vault.secret#k", "expected vault.<mount>/<path>#<field>"),
        ("vault.secret/a#k?version=latest", "version 'latest' is not a number"),
        ("gcp-sm.acme/openai", "expected gcp-sm.projects/<project>/secrets/<secret>"),
        ("azure-kv.acme-vault", "expected azure-kv.<vault-name>/<secret>"),
        ("azure-kv.acme-vault/key/v1", "expected azure-kv.<vault-name>/<secret>"),
        ("file.relative/path", "absolute path"),
        ("env.1BAD", "is not an environment variable name"),
        ("aws-sm.a b", "expected aws-sm.<name-or-arn>"),
        ("env.X?ttl=soon", "ttl 'soon' is not a duration"),
        ("env.X?colour=red", "unknown option 'colour'"),
        ("env.X?ttl", "is not name=value"),
    ],
)
def test_a_malformed_reference_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ReferenceError, match=r".*") as caught:
        parse_reference(text)
    assert says in str(caught.value) and text in str(caught.value)


@given(st.text(max_size=40))
def test_a_string_without_a_manager_prefix_is_a_literal(text: str) -> None:
    if not is_reference(text):
        assert parse_reference(text) is None


@given(SEGMENT, st.lists(SEGMENT, min_size=1, max_size=4), SEGMENT, st.integers(1, 999))
def test_vault_references_round_trip(mount: str, path: list[str], field: str, version: int) -> None:
    text = f"vault.{mount}/{'/'.join(path)}#{field}?version={version}"
    ref = parse_reference(text)
    assert ref is not None
    assert (ref.scope, ref.name, ref.field, ref.version) == (
        mount,
        "/".join(path),
        field,
        str(version),
    )


def test_a_malformed_provider_key_reference_is_refused_at_its_json_path() -> None:
    raw = {
        "providers": [
            {
                "name": "p",
                "type": "openai",
                "base_url": "http://x/v1",
                "keys": [{"id": "k", "value": "vault.secret/no-field"}],
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    [(path, message)] = caught.value.problems
    assert path == "providers[0].keys[0].value"
    assert "expected vault.<mount>/<path>#<field>" in message
