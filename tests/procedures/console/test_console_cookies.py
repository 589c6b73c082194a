"""The console's session cookie behind a TLS-terminating proxy: ``Secure`` from a trusted proxy's
``X-Forwarded-Proto``, never from anyone else's, and always in production."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from procedures.app import create_app
from procedures.console import sessions
from procedures.console.pages import LOGIN_CSRF_COOKIE

PROXY = ("10.1.2.3", 40000)
STRANGER = ("198.51.100.9", 40000)


def _login(settings, runtime, staff, peer, headers=None) -> str:
    """The Set-Cookie header of the session cookie after a console login from ``peer``."""
    username, password = staff("cookie-clerk")
    with TestClient(create_app(settings, runtime=runtime, workers=False), base_url="http://city.example",
                    client=peer) as client:
        form = client.get("/console/login", headers=headers)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        client.cookies.clear()  # a Secure cookie would not travel over http://: send it as the browser behind TLS does
        response = client.post("/console/login", follow_redirects=False,
                               headers={**(headers or {}), "Cookie": f"{LOGIN_CSRF_COOKIE}={csrf}"},
                               data={"username": username, "password": password, "csrf_token": csrf})
    assert response.status_code == 303, response.text
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{sessions.COOKIE}=")]
    return cookie


def _secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_a_trusted_proxy_s_https_makes_the_cookie_secure(settings, runtime, staff):
    trusting = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    cookie = _login(trusting, runtime, staff, PROXY, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"})
    assert _secure(cookie)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(settings, runtime, staff):
    trusting = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    cookie = _login(trusting, runtime, staff, STRANGER, {"X-Forwarded-Proto": "https"})
    assert not _secure(cookie)  # plain HTTP in development, whatever the peer claims


def test_production_always_sets_secure_even_over_plain_http(settings, runtime, staff):
    production = settings.model_copy(update={"environment": "production"})  # no proxy, no forwarded header
    assert _secure(_login(production, runtime, staff, STRANGER))
