"""`govledger login`: the loopback browser flow against the provider, then CLI calls as the user."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import RunningGateway
from tests.e2e.identity.conftest import SECRET_VARIABLE
from tests.e2e.identity.idp import IdentityProvider


def test_login_keeps_a_token_the_next_commands_use(
    gateway: RunningGateway, idp: IdentityProvider, tmp_path: Path
) -> None:
    sub = f"cli-{uuid.uuid4().hex[:6]}"
    idp.set_user(sub, {"email": f"{sub}@example.com", "groups": ["gl-devs"]})
    kept = tmp_path / "token.json"
    env = {
        **os.environ,
        "GOVLEDGER_TOKEN_FILE": str(kept),
        "GOVLEDGER_URL": gateway.url,
        "GOVLEDGER_TOKEN": "",
    }
    command = [sys.executable, "-m", "govledger", "login", "--no-browser"]
    command += ["--client-secret-env", SECRET_VARIABLE]
    with subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as cli:
        assert cli.stderr is not None
        line = cli.stderr.readline()
        assert line.startswith("Open this address to sign in: "), line
        address = line.split(": ", 1)[1].strip()
        query = {k: v[0] for k, v in parse_qs(urlsplit(address).query).items()}
        assert query["redirect_uri"].startswith("http://127.0.0.1:")
        back = idp.authorize(query["redirect_uri"], query, sub)
        assert httpx.get(back, timeout=30).status_code == 200  # the browser lands on the CLI
        out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert f"signed in as user:{sub} (Developer)" in out
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    listed = subprocess.run(
        [sys.executable, "-m", "govledger", "teams", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "platform" in listed.stdout
    gone = subprocess.run(
        [sys.executable, "-m", "govledger", "logout"], env=env, capture_output=True, text=True
    )
    assert gone.returncode == 0 and not kept.exists()
