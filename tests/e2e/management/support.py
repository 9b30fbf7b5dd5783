"""Helpers of the management-plane tests: a small HTTP client that keeps every answer, a
gateway with a known Admin token, and a poll for the views (kept by another process)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
ADMIN = "gl-admin-e2e-bootstrap-0123456789"
UPSTREAM_SECRET = "sk-upstream-literal-never-shown-42"
CONFIG: dict[str, Any] = {
    "providers": [
        {
            "name": "mock",
            "type": "openai",
            "base_url": "{MOCK}/v1",
            "keys": [{"id": "mock-key", "value": UPSTREAM_SECRET}],
        }
    ],
    "pricing_overrides": [
        {"provider": "openai", "model": "m1", "input_per_mtok": "1", "output_per_mtok": "2"}
    ],
}


@dataclass
class Answer:
    """One HTTP answer: status, headers and body (JSON decoded when it is JSON)."""

    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.text)

    @property
    def error(self) -> dict[str, Any]:
        """The `error` object of a refusal."""
        return self.json["error"]  # type: ignore[no-any-return]


@dataclass
class Api:
    """Calls the gateway with a bearer token; every answer is kept in `seen`."""

    url: str
    token: str | None = ADMIN
    seen: list[Answer] = field(default_factory=list)

    def as_(self, token: str | None) -> Api:
        """The same client with another credential (sharing `seen`)."""
        return Api(self.url, token, self.seen)

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """One call; never raises for an HTTP status."""
        sent = {"content-type": "application/json", **(headers or {})}
        if self.token is not None:
            sent.setdefault("authorization", f"Bearer {self.token}")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                answer = Answer(response.status, _lower(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, _lower(error.headers), error.read().decode())
        self.seen.append(answer)
        return answer

    def get(self, path: str, **kw: Any) -> Answer:
        """GET."""
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        """POST."""
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Answer:
        """PUT."""
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        """DELETE."""
        return self.call("DELETE", path, **kw)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def eventually(probe: Callable[[], T | None], seconds: float = 10.0) -> T:
    """Poll until `probe` returns something other than None (the views lag the ledger)."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("the views did not show it in time")
        time.sleep(0.05)


def poll(fetch: Callable[[], T], ready: Callable[[T], bool], seconds: float = 10.0) -> T:
    """Fetch until `ready` says the answer is complete (the views lag the ledger)."""
    return eventually(lambda: found if ready(found := fetch()) else None, seconds)


def audit_rows(api: Api, query: str) -> list[dict[str, Any]]:
    """Audit rows matching a query string."""
    answer = api.get(f"/api/audit/events?{query}")
    assert answer.status == 200, answer.text
    return answer.json["data"]  # type: ignore[no-any-return]
