"""The client's address behind a reverse proxy, believed only from the proxies configured.

The peer's address feeds the sign-in throttle (``api/throttle.py``) and the audit trail's
``source``. ``X-Forwarded-For`` is written by whoever sends the request, so believing it from
anyone but a known proxy lets a client pick its own address: dodge the throttle with a new
address per guess, and write any address into the audit trail. uvicorn's own handling trusts
loopback by default, so ``sightline serve`` turns it off and the app applies this middleware
with ``SIGHTLINE_SERVER__TRUSTED_PROXIES`` (none by default: the header is then ignored).

Behind trusted proxies, each one appends the address it saw to ``X-Forwarded-For``; the client
is the rightmost entry that is not itself a trusted proxy. Entries further left were written
by the client and prove nothing. The rule does not depend on the server's version.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """ASGI middleware: take the client's address from ``X-Forwarded-For`` of trusted peers."""

    def __init__(self, app: ASGIApp, proxies: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in proxies
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite ``client`` (and ``scheme``) of a request that came through a trusted proxy."""
        client = scope.get("client")
        if scope["type"] in {"http", "websocket"} and client and self.trusted(client[0]):
            headers = scope["headers"]
            forwarded = _joined(value for name, value in headers if name == b"x-forwarded-for")
            address = self.client_address(forwarded)
            if address is not None:
                scope["client"] = (address, 0)
            proto = [value for name, value in headers if name == b"x-forwarded-proto"]
            if scope["type"] == "http" and proto and proto[-1].strip() in {b"http", b"https"}:
                scope["scheme"] = proto[-1].strip().decode("ascii")
        await self.app(scope, receive, send)

    def trusted(self, host: str) -> bool:
        """Whether ``host`` is one of the configured proxies."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, forwarded: list[str]) -> str | None:
        """The rightmost entry that is not a trusted proxy, if it is an IP address."""
        for entry in reversed(forwarded):
            if not self.trusted(entry):
                try:
                    return str(ipaddress.ip_address(entry))
                except ValueError:
                    return None  # a proxy writes addresses: this is not one of ours
        return None


def _joined(values: Iterable[bytes]) -> list[str]:
    entries = (part.strip() for value in values for part in value.decode("latin-1").split(","))
    return [entry for entry in entries if entry]
