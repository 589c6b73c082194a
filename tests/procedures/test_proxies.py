"""Forwarded headers count only from a trusted proxy; the client is the right-most untrusted hop.

The middleware runs on its own event loop in a worker thread: the session's sync Playwright (the console
and story tests) keeps a loop running in the main thread, where no second loop may run."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from starlette.types import Scope

from procedures.api.proxies import TrustedProxies
from procedures.config import Settings


def _seen(trusted: list[str], peer: str, headers: dict[str, str]) -> Scope:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _through(trusted, peer, headers)).result()


async def _through(trusted: list[str], peer: str, headers: dict[str, str]) -> Scope:
    seen: dict[str, Scope] = {}

    async def app(scope, receive, send):
        seen["scope"] = scope

    scope = {"type": "http", "scheme": "http", "client": (peer, 1234),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    await TrustedProxies(app, trusted=trusted)(scope, None, None)  # type: ignore[arg-type]
    return seen["scope"]


@pytest.mark.parametrize(("peer", "forwarded", "client", "scheme"), [
    ("10.0.0.2", "203.0.113.5", "203.0.113.5", "https"),  # from the proxy: believed
    ("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.9", "203.0.113.5", "https"),  # left of the first untrusted: ignored
    ("198.51.100.1", "203.0.113.5", "198.51.100.1", "http"),  # from anyone else: ignored
])
def test_the_client_and_scheme_behind_a_trusted_proxy(peer, forwarded, client, scheme):
    scope = _seen(["10.0.0.0/8"], peer, {"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https"})
    assert scope["client"][0] == client and scope["scheme"] == scheme


def test_no_trusted_proxies_means_no_forwarded_headers():
    scope = _seen([], "127.0.0.1", {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"})
    assert scope["client"][0] == "127.0.0.1" and scope["scheme"] == "http"


def test_a_trusted_proxy_entry_must_be_an_address_or_network():
    with pytest.raises(ValueError, match="MACHI_TRUSTED_PROXIES"):
        Settings(environment="test", trusted_proxies=["proxy.example"])
