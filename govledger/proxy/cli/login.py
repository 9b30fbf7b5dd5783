"""`govledger login` / `logout`: sign in at the identity provider by a loopback browser flow
(authorization code + PKCE to http://127.0.0.1:<port>/callback) and keep the ID token for the
CLI's calls (file mode 0600; `GOVLEDGER_TOKEN` or `--token` still win)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import secrets
import sys
import threading
import webbrowser
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import typer

from govledger.proxy.cli.client import Client, CliError
from govledger.proxy.cli.exits import fail
from govledger.proxy.cli.token_store import keep, token_file

TIMEOUT_S = 300.0


def _callback_server(port: int) -> tuple[http.server.HTTPServer, dict[str, str]]:
    """A one-shot server on 127.0.0.1 that keeps the callback's query."""
    got: dict[str, str] = {}

    class Callback(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            query = parse_qs(urlsplit(self.path).query)
            got.update({k: v[0] for k, v in query.items()})
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Signed in to govledger: you may close this window.\n")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return http.server.HTTPServer(("127.0.0.1", port), Callback), got


def login(
    url: Annotated[str | None, typer.Option(help="the gateway (or GOVLEDGER_URL)")] = None,
    provider: Annotated[str | None, typer.Option(help="the provider's name")] = None,
    port: Annotated[int, typer.Option(help="the loopback port (0: any free one)")] = 0,
    browser: Annotated[bool, typer.Option(help="open the browser")] = True,
    client_secret_env: Annotated[
        str | None, typer.Option(help="a variable holding the client secret, if it needs one")
    ] = None,
) -> None:
    """Sign in at the identity provider and keep the token for the CLI."""
    client = Client.from_env(url)
    try:
        known = client.call("GET", "/auth/providers").body["data"]
    except CliError as error:
        fail(str(error))
    chosen = [p for p in known if provider in (None, p["name"])]
    if len(chosen) != 1:
        fail(f"name a provider with --provider: one of {', '.join(p['name'] for p in known)}")
    spec = chosen[0]
    try:
        found = httpx.get(spec["issuer"].rstrip("/") + "/.well-known/openid-configuration")
        metadata = found.json()
    except (httpx.HTTPError, ValueError) as error:
        fail(f"cannot discover {spec['issuer']}: {error}")
    server, got = _callback_server(port)
    redirect = f"http://127.0.0.1:{server.server_address[1]}/callback"
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": spec["client_id"],
        "redirect_uri": redirect,
        "scope": " ".join(spec["scopes"]),
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    target = f"{metadata['authorization_endpoint']}?{urlencode(query)}"
    print(f"Open this address to sign in: {target}", file=sys.stderr, flush=True)
    if browser:
        webbrowser.open(target)
    waiter = threading.Thread(target=server.handle_request, daemon=True)
    waiter.start()
    waiter.join(TIMEOUT_S)
    server.server_close()
    if got.get("state") != state or "code" not in got:
        fail(f"sign-in refused or abandoned: {got.get('error', 'no code for this state')}")
    form = {
        "grant_type": "authorization_code",
        "code": got["code"],
        "redirect_uri": redirect,
        "client_id": spec["client_id"],
        "code_verifier": verifier,
    }
    if client_secret_env:
        form["client_secret"] = os.environ.get(client_secret_env, "")
    answer = httpx.post(metadata["token_endpoint"], data=form, timeout=30)
    body = (
        answer.json()
        if answer.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if answer.status_code != 200 or "id_token" not in body:
        fail(f"the provider refused the code: {body.get('error', answer.status_code)}")
    path = keep(client.url, spec["name"], str(body["id_token"]))
    try:
        me = Client(client.url, str(body["id_token"])).call("GET", "/auth/me").body
    except CliError as error:
        fail(str(error))
    typer.echo(f"signed in as {me['actor']} ({me['role']}); token kept in {path}")


def logout() -> None:
    """Forget the kept token."""
    token_file().unlink(missing_ok=True)
    typer.echo("signed out")


def register(app: typer.Typer) -> None:
    """Add `login` and `logout`."""
    app.command()(login)
    app.command()(logout)
