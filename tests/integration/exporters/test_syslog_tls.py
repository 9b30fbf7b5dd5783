"""Syslog over TLS to a real rsyslogd (gtls driver), verifying its certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from govledger.exporters.siem_sinks import Line, SyslogSink, open_sink
from tests.conftest import free_port


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govledger test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


@pytest.fixture
def rsyslog_tls(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """rsyslogd with a TLS (gtls) TCP input, writing what it gets to a file."""
    binary = shutil.which("rsyslogd")
    drivers = list(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"))
    if binary is None or not drivers:
        pytest.skip(
            "rsyslogd or its TLS driver is absent (Debian packages rsyslog, rsyslog-gnutls)"
        )
    ca, cert, key = make_certificates(tmp_path)
    port, out = free_port(), tmp_path / "received.log"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{tmp_path}" DefaultNetstreamDriver="gtls" '
        f'DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}" '
        f'DefaultNetstreamDriverKeyFile="{key}")\n'
        'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" '
        'StreamDriver.AuthMode="anon")\n'
        f'input(type="imtcp" port="{port}" address="127.0.0.1")\n'
        'template(name="raw" type="string" string="%app-name% %structured-data% %msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="raw")\n'
    )
    process = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port, out, ca
    process.terminate()
    process.wait(timeout=10)


def test_rsyslog_receives_messages_over_tls_from_a_sink_that_verifies_it(
    rsyslog_tls: tuple[int, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, out, ca = rsyslog_tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the sink trusts the system's CAs: ours here
    lines: list[Line] = [("stream-t:1", '{"n":1}'), ("stream-t:2", '{"n":2}')]
    sink = open_sink(f"syslog+tls://127.0.0.1:{port}")
    assert isinstance(sink, SyslogSink)
    sink.send(lines)
    sink.close()
    deadline = time.monotonic() + 15
    got: list[str] = []
    while time.monotonic() < deadline and len(got) < 2:
        got = out.read_text().splitlines() if out.exists() else []
        time.sleep(0.1)
    assert sorted(line.replace("\ufeff", "") for line in got) == [
        'govledger [govledger@32473 id="stream-t:1"] {"n":1}',
        'govledger [govledger@32473 id="stream-t:2"] {"n":2}',
    ]


def test_a_sink_refuses_a_syslog_server_whose_certificate_it_cannot_verify(
    rsyslog_tls: tuple[int, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, out, _ca = rsyslog_tls
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    sink = open_sink(f"syslog+tls://127.0.0.1:{port}")
    with pytest.raises(Exception, match="(?i)certificate|verify|ssl"):
        sink.send([("stream-t:3", "{}")])
    sink.close()
    assert not out.exists() or "stream-t:3" not in out.read_text()
