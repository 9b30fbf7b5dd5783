"""Local stand-ins of Google Secret Manager's and Azure Key Vault's REST APIs (tests only).

Each serves the few documented calls the vendors' client libraries make to read a secret,
from an in-memory table, on 127.0.0.1: Google's `GET /v1/{name}:access` (REST transport)
and Key Vault's `GET /secrets/{name}[/{version}]` with its bearer challenge. They are
stand-ins, not the services: no IAM, no replication, no other calls.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import ssl
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class StandIn:
    """An HTTP server on a free port with a secret table; `stop` to shut it down."""

    scheme = "http"

    def __init__(self) -> None:
        self.secrets: dict[str, list[str]] = {}  # name -> versions, oldest first
        self.requests: list[tuple[str, dict[str, str]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                stand_in.requests.append((self.path, dict(self.headers)))
                status, headers, body = stand_in.answer(self.path, dict(self.headers))
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.wrap()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wrap(self) -> None:
        """Plain HTTP (TLS in a subclass)."""

    @property
    def url(self) -> str:
        """The stand-in's base URL."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def put(self, name: str, value: str) -> None:
        """Add a version (the new current one)."""
        self.secrets.setdefault(name, []).append(value)

    def stop(self) -> None:
        """Stop serving (the port refuses connections afterwards)."""
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Status, headers and JSON body for one GET."""
        raise NotImplementedError


class GoogleSecretManager(StandIn):
    """`GET /v1/projects/{p}/secrets/{s}/versions/{v}:access` -> `{name, payload: {data}}`;
    secrets are keyed `project/secret`."""

    PATH = re.compile(r"/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):access")

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        match = self.PATH.match(path.split("?")[0])
        if match is None:
            return (
                404,
                {},
                {"error": {"code": 404, "message": "no such call", "status": "NOT_FOUND"}},
            )
        project, secret, version = match.groups()
        versions = self.secrets.get(f"{project}/{secret}", [])
        index = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
        if not versions or not 1 <= index <= len(versions):
            message = f"Secret [projects/{project}/secrets/{secret}] not found or has no versions."
            return 404, {}, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}
        data = versions[index - 1].encode()
        return (
            200,
            {},
            {
                "name": f"projects/{project}/secrets/{secret}/versions/{index}",
                "payload": {"data": base64.b64encode(data).decode()},
            },
        )


class AzureKeyVault(StandIn):
    """One vault: `GET /secrets/{name}[/{version}]?api-version=…`: 401 with a bearer
    challenge without a token, else `{value, id, attributes}`."""

    PATH = re.compile(r"/secrets/([^/?]+)(?:/([^/?]*))?")
    TOKEN = "stand-in-token"
    scheme = "https"  # the Key Vault client sends a bearer token over TLS only

    def wrap(self) -> None:
        """Serve TLS with a self-signed certificate for 127.0.0.1 (`ca_bundle` trusts it)."""
        folder = Path(tempfile.mkdtemp(prefix="kv-standin-"))
        self.ca_bundle = str(folder / "cert.pem")
        key_file = str(folder / "key.pem")
        _self_signed(self.ca_bundle, key_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_bundle, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth != f"Bearer {self.TOKEN}":
            challenge = (
                'Bearer authorization="https://login.microsoftonline.com/tenant",'
                ' resource="https://vault.azure.net"'
            )
            body = {"error": {"code": "Unauthorized", "message": "no bearer token"}}
            return 401, {"WWW-Authenticate": challenge}, body
        match = self.PATH.match(path.split("?")[0])
        if match is None:
            return 404, {}, {"error": {"code": "NotFound", "message": "no such call"}}
        name, version = match.groups()
        versions = self.secrets.get(name, [])
        ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{i}").hex for i in range(len(versions))]
        if not versions or (version and version not in ids):
            message = f"A secret with (name/id) {name} was not found in this key vault."
            return 404, {}, {"error": {"code": "SecretNotFound", "message": message}}
        index = ids.index(version) if version else len(versions) - 1
        return (
            200,
            {},
            {
                "value": versions[index],
                "id": f"{self.url}/secrets/{name}/{ids[index]}",
                "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000},
            },
        )


class StaticToken:
    """A credential handing out the stand-in's bearer token (azure-core's protocol)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(AzureKeyVault.TOKEN, 2_000_000_000)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(AzureKeyVault.TOKEN, 2_000_000_000)


def _self_signed(cert_file: str, key_file: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    Path(cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_file).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
