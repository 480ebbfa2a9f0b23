"""``sightline serve`` ignores ``X-Forwarded-For`` unless the sender is a configured proxy.

The attack (defect 7): uvicorn believes forwarded headers from loopback by default, so a
process on the server's host named any source address per request: a fresh address for every
password guess dodged the sign-in throttle, and the audit trail recorded whatever it wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

from sightline.api.throttle import MAX_FAILURES_PER_ADDRESS
from sightline.config import Settings
from sightline.services.access import audit
from sightline.services.context import open_context
from tests.cli.test_cli import sightline
from tests.cli.test_serve_tls import _free_port

GUESS = {"username": "nobody", "password": "not the password", "totp_code": "000000"}


@contextmanager
def _serving(var: Path, log: Path, **settings: str) -> Iterator[str]:
    """Run ``sightline serve`` on loopback with extra settings; yields its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env |= {"SIGHTLINE_DATA_DIR": str(var), **settings}
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "sightline", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health/live", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _login_sources(var: Path) -> list[str]:
    ctx = open_context(Settings(data_dir=var))
    try:
        return [e.source for e in audit.show(ctx, action="login.failed", limit=1000)]
    finally:
        ctx.close()


def test_a_local_client_cannot_pick_its_address(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    with _serving(var, tmp_path / "serve.log") as base, httpx.Client(timeout=10) as client:
        codes = [
            client.post(
                f"{base}/api/v1/session", json=GUESS, headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(MAX_FAILURES_PER_ADDRESS + 1)
        ]
    assert codes == [401] * MAX_FAILURES_PER_ADDRESS + [429]
    assert set(_login_sources(var)) == {"127.0.0.1"}


def test_a_listed_proxy_is_believed(tmp_path: Path) -> None:
    var = tmp_path / "var"
    sightline(var, "init")
    proxies = {"SIGHTLINE_SERVER__TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"}
    with _serving(var, tmp_path / "serve.log", **proxies) as base:
        forwarded = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
        response = httpx.post(f"{base}/api/v1/session", json=GUESS, headers=forwarded, timeout=10)
    assert response.status_code == 401
    assert _login_sources(var) == ["198.51.100.7"]
