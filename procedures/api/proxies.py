"""Forwarded headers, honoured only from the proxies the city trusts (``MACHI_TRUSTED_PROXIES``).

Behind a TLS-terminating proxy the service sees plain HTTP from the proxy's address: the console's
``Secure`` cookie flag and the per-address login throttle need the client's scheme and address,
which the proxy sends as ``X-Forwarded-Proto`` and ``X-Forwarded-For``. Anyone can send those
headers, so they count only when the connection comes from a trusted proxy; the client address is
then the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries further
left were written by the client and prove nothing). From any other peer the headers are ignored.
(``machi serve`` turns uvicorn's own forwarded-header handling off: this is the one place.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "192.0.2.7"]`` as networks (a bare address is a /32 or /128).

    Raises:
        ValueError: an entry is neither an address nor a network.
    """
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """ASGI middleware: take the client's address and scheme from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[str]) -> None:
        self.app = app
        self.trusted = parse_networks(trusted)

    def is_trusted(self, host: str) -> bool:
        """Whether ``host`` (the peer of a connection, or a hop in ``X-Forwarded-For``) is a trusted proxy."""
        address = _address(host)
        return address is not None and any(address in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            client = scope.get("client")
            if client is not None and self.is_trusted(client[0]):
                scope = dict(scope)
                headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", ())}
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
                hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
                for hop in reversed(hops):
                    if not self.is_trusted(hop):
                        address = _address(hop)
                        if address is not None:
                            scope["client"] = (str(address), 0)
                        break
        await self.app(scope, receive, send)
