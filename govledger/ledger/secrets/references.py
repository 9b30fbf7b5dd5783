"""Secret references as written in config (pure): `env.`, `file.`, `vault.`, `aws-sm.`,
`gcp-sm.` and `azure-kv.`, each with an optional `?ttl=<duration>` (and `version=` where the
manager has versions). Anything else is a literal."""

from __future__ import annotations

import re
from dataclasses import dataclass

from govledger.ledger.periods import parse_duration

MANAGERS = ("env", "file", "vault", "aws-sm", "gcp-sm", "azure-kv")
EXTRAS = {"vault": "vault", "aws-sm": "aws", "gcp-sm": "gcp", "azure-kv": "azure"}

_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAULT = re.compile(r"(?P<mount>[A-Za-z0-9_.-]+)/(?P<path>[A-Za-z0-9_.\-/]+)#(?P<field>[^#/?]+)")
_AWS = re.compile(r"(?P<name>[A-Za-z0-9/_+=.@:-]+?)(?:#(?P<field>[^#?]+))?")
_GCP = re.compile(
    r"projects/(?P<project>[a-z0-9-]+)/secrets/(?P<secret>[A-Za-z0-9_-]+)"
    r"(?:/versions/(?P<version>latest|[0-9]+))?"
)
_AZURE = re.compile(
    r"(?P<vault>[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9])/(?P<secret>[A-Za-z0-9-]{1,127})"
    r"(?:/(?P<version>[0-9a-fA-F]{32}))?"
)


class ReferenceError(ValueError):
    """A string that names a secret manager but is not a valid reference to it."""


@dataclass(frozen=True)
class Reference:
    """Where a secret lives; `text` is what is stored, shown and exported."""

    text: str
    manager: str  # env | file | vault | aws-sm | gcp-sm | azure-kv
    name: str  # variable, path, KV path, secret id or name
    scope: str = ""  # vault mount, gcp project, azure vault name
    field: str = ""  # vault field, or a JSON field of an AWS secret string
    version: str = ""  # pinned version ('' = the current one)
    ttl_s: float | None = None  # refresh interval; None: the process default

    def __str__(self) -> str:
        return self.text


def manager_of(text: str) -> str | None:
    """The manager a string names by its prefix (`vault.`…), or None for a literal."""
    for manager in MANAGERS:
        if text.startswith(manager + ".") and len(text) > len(manager) + 1:
            return manager
    return None


def is_reference(text: str) -> bool:
    """True if the string is written as a reference (valid or not)."""
    return manager_of(text) is not None


def _options(text: str, body: str, allowed: set[str]) -> tuple[str, dict[str, str]]:
    if "?" not in body:
        return body, {}
    body, _, query = body.partition("?")
    options: dict[str, str] = {}
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if not sep or not value:
            raise ReferenceError(f"{text!r}: option {pair!r} is not name=value")
        if key not in allowed:
            names = ", ".join(sorted(allowed))
            raise ReferenceError(f"{text!r}: unknown option {key!r} (allowed: {names})")
        options[key] = value
    return body, options


def _ttl(text: str, options: dict[str, str]) -> float | None:
    if "ttl" not in options:
        return None
    try:
        return parse_duration(options["ttl"]).approx_seconds
    except ValueError:
        raise ReferenceError(
            f"{text!r}: ttl {options['ttl']!r} is not a duration like 30s, 5m, 1h"
        ) from None


def parse_reference(text: str) -> Reference | None:
    """The reference a string denotes, None for a literal; ReferenceError if malformed."""
    manager = manager_of(text)
    if manager is None:
        return None
    body = text[len(manager) + 1 :]
    if manager == "file":
        body, options = _options(text, body, {"ttl"})
        if not body.startswith("/"):
            raise ReferenceError(
                f"{text!r}: a file reference needs an absolute path (file./run/secrets/key)"
            )
        return Reference(text, manager, body, ttl_s=_ttl(text, options))
    if manager == "vault":
        body, options = _options(text, body, {"ttl", "version"})
        match = _VAULT.fullmatch(body)
        if match is None:
            raise ReferenceError(f"{text!r}: expected vault.<mount>/<path>#<field>[?version=<n>]")
        version = options.get("version", "")
        if version and not version.isdigit():
            raise ReferenceError(f"{text!r}: version {version!r} is not a number")
        return Reference(
            text,
            manager,
            match["path"].strip("/"),
            match["mount"],
            match["field"],
            version,
            _ttl(text, options),
        )
    if manager == "aws-sm":
        body, options = _options(text, body, {"ttl", "version"})
        match = _AWS.fullmatch(body)
        if match is None:
            raise ReferenceError(f"{text!r}: expected aws-sm.<name-or-arn>[#<json field>]")
        return Reference(
            text,
            manager,
            match["name"],
            field=match["field"] or "",
            version=options.get("version", ""),
            ttl_s=_ttl(text, options),
        )
    if manager == "gcp-sm":
        body, options = _options(text, body, {"ttl"})
        match = _GCP.fullmatch(body)
        if match is None:
            raise ReferenceError(
                f"{text!r}: expected gcp-sm.projects/<project>/secrets/<secret>[/versions/<n>]"
            )
        return Reference(
            text,
            manager,
            match["secret"],
            match["project"],
            version=match["version"] or "",
            ttl_s=_ttl(text, options),
        )
    if manager == "azure-kv":
        body, options = _options(text, body, {"ttl"})
        match = _AZURE.fullmatch(body)
        if match is None:
            raise ReferenceError(
                f"{text!r}: expected azure-kv.<vault-name>/<secret>[/<32-hex version>]"
            )
        return Reference(
            text,
            manager,
            match["secret"],
            match["vault"],
            version=match["version"] or "",
            ttl_s=_ttl(text, options),
        )
    body, options = _options(text, body, {"ttl"})
    if _ENV.fullmatch(body) is None:
        raise ReferenceError(f"{text!r}: {body!r} is not an environment variable name")
    return Reference(text, manager, body, ttl_s=_ttl(text, options))
