"""``sightline serve`` off loopback: HTTPS with the configured certificate, never plain HTTP."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.test_cli import sightline


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sightline.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_off_loopback_speaks_only_https(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env |= {
        "SIGHTLINE_DATA_DIR": str(var),
        "SIGHTLINE_SERVER__TLS_CERTFILE": str(cert),
        "SIGHTLINE_SERVER__TLS_KEYFILE": str(key),
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "sightline", "serve", "--host", "0.0.0.0", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False  # the certificate names sightline.test, not 127.0.0.1
        with httpx.Client(verify=context, timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    response = client.get(f"https://127.0.0.1:{port}/health/live")
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
            assert response.json() == {"status": "ok"}
            unauthenticated = client.get(f"https://127.0.0.1:{port}/api/v1/session")
            assert unauthenticated.status_code == 401
        with httpx.Client(timeout=5) as plain, _raises_transport_error():
            plain.get(f"http://127.0.0.1:{port}/health/live")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_needs_both_tls_files(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    env_cert = {"SIGHTLINE_SERVER__TLS_CERTFILE": str(tmp_path / "cert.pem")}
    result = subprocess.run(
        [sys.executable, "-m", "sightline", "serve"],
        env={**os.environ, "SIGHTLINE_DATA_DIR": str(var), **env_cert},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3
    assert "TLS_KEYFILE" in result.stderr


class _raises_transport_error:  # noqa: N801 - reads as a context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        assert exc_type is not None and issubclass(exc_type, httpx.TransportError | ssl.SSLError)
        return True
