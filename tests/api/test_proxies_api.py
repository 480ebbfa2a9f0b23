"""The client's address: ``X-Forwarded-For`` is believed only from a configured proxy (defect 7).

The address feeds the sign-in throttle and the audit trail's ``source``; a client that could
name its own address would dodge one and forge the other. ``tests/cli/test_serve_proxies.py``
checks the same through ``sightline serve`` and a real socket.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.api.throttle import MAX_FAILURES_PER_ADDRESS
from sightline.config import ServerSettings, Settings
from sightline.services.access import audit
from sightline.services.context import AppContext
from tests.support.api import BASE_URL

PROXY = "10.0.0.5"
CLIENT = "198.51.100.7"


def _guess(client: TestClient, forwarded: str | None) -> int:
    body = {"username": "nobody", "password": "not the password", "totp_code": "000000"}
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    return client.post("/api/v1/session", json=body, headers=headers).status_code


def _sources(ctx: AppContext) -> list[str]:
    return [event.source for event in audit.show(ctx, action="login.failed", limit=1000)]


@pytest.fixture
def behind_proxy(sqlite_ctx: AppContext) -> Settings:
    """Settings naming one reverse proxy (and a network of them)."""
    server = ServerSettings(trusted_proxies=[PROXY, "10.1.0.0/16"])
    return sqlite_ctx.settings.model_copy(update={"server": server})


def test_by_default_the_header_is_ignored_even_from_loopback(sqlite_ctx: AppContext) -> None:
    assert sqlite_ctx.settings.server.trusted_proxies == []
    app = create_app(sqlite_ctx.settings)
    with TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 40000)) as local:
        codes = [_guess(local, f"203.0.113.{i}") for i in range(MAX_FAILURES_PER_ADDRESS + 1)]
    assert codes == [401] * MAX_FAILURES_PER_ADDRESS + [429]  # one address, however named
    assert set(_sources(sqlite_ctx)) == {"127.0.0.1"}


def test_a_listed_proxy_is_believed_and_only_for_its_own_hop(
    sqlite_ctx: AppContext, behind_proxy: Settings
) -> None:
    app = create_app(behind_proxy)
    with TestClient(app, base_url=BASE_URL, client=(PROXY, 40000)) as proxy:
        assert _guess(proxy, CLIENT) == 401
        assert _guess(proxy, f"6.6.6.6, {CLIENT}") == 401  # the client wrote the left entry
        assert _guess(proxy, f"{CLIENT}, 10.1.2.3") == 401  # a second proxy of ours appended
        assert _guess(proxy, None) == 401  # no header: the proxy's own address
        assert _guess(proxy, "not-an-address") == 401
    with TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 40000)) as local:
        assert _guess(local, "203.0.113.9") == 401  # loopback is not a listed proxy
    assert _sources(sqlite_ctx) == [CLIENT, CLIENT, CLIENT, PROXY, PROXY, "127.0.0.1"]


def test_behind_a_proxy_the_throttle_counts_each_client(
    sqlite_ctx: AppContext, behind_proxy: Settings
) -> None:
    app = create_app(behind_proxy)
    with TestClient(app, base_url=BASE_URL, client=(PROXY, 40000)) as proxy:
        codes = [_guess(proxy, CLIENT) for _ in range(MAX_FAILURES_PER_ADDRESS + 1)]
        assert codes[-2:] == [401, 429]
        assert _guess(proxy, "198.51.100.8") == 401  # another office behind the same proxy


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert ServerSettings(trusted_proxies="10.0.0.5, 10.2.0.0/16").trusted_proxies == [  # type: ignore[arg-type]
        "10.0.0.5/32",
        "10.2.0.0/16",
    ]
    for bad in ("*", "proxy.example", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="trusted_proxies"):
            ServerSettings(trusted_proxies=[bad])
