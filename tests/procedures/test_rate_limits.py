"""Login and challenge endpoints are rate limited per client: the call past the limit within a minute
gets 429 with ``Retry-After`` and the one error shape (the console's login page answers in HTML)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from procedures.console.pages import LOGIN_CSRF_COOKIE
from tests.procedures.fuzz_hooks import shape_problem


def _wallet_token_body() -> dict[str, Any]:
    """A well-formed wallet login that fails its signature check (it still counts against the limit)."""
    return {"wallet": Account.create().address, "nonce": "0x" + os.urandom(32).hex(),
            "deadline": int(time.time()) + 300, "signature": "0x" + "11" * 65}


#: endpoint → (calls allowed per minute, a JSON body for one call)
JSON_ENDPOINTS: dict[str, tuple[int, Callable[[], dict[str, Any]]]] = {
    "/v1/auth/staff/token": (20, lambda: {"username": "nobody", "password": "not the password"}),
    "/v1/auth/wallet/challenge": (60, lambda: {"wallet": Account.create().address}),
    "/v1/auth/wallet/token": (60, _wallet_token_body),
    "/v1/identity/challenge": (60, lambda: {"wallet": Account.create().address, "purpose": "link"}),
}


def _assert_limited(response: Any) -> None:
    assert response.status_code == 429, response.text
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 61


@pytest.mark.parametrize("path", list(JSON_ENDPOINTS))
def test_the_call_past_the_limit_gets_429_with_retry_after(client: TestClient, path: str) -> None:
    per_minute, body = JSON_ENDPOINTS[path]
    statuses = [client.post(path, json=body()).status_code for _ in range(per_minute)]
    assert 429 not in statuses, statuses
    refused = client.post(path, json=body())
    _assert_limited(refused)
    assert shape_problem(refused.status_code, refused.content) is None, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"


def test_limits_are_per_endpoint(client: TestClient) -> None:
    """Using up the wallet challenges does not lock the staff login (or the other way round)."""
    per_minute, body = JSON_ENDPOINTS["/v1/auth/wallet/challenge"]
    for _ in range(per_minute + 1):
        last = client.post("/v1/auth/wallet/challenge", json=body())
    _assert_limited(last)
    staff = client.post("/v1/auth/staff/token", json={"username": "nobody", "password": "not the password"})
    assert staff.status_code == 401, staff.text
    identity = client.post("/v1/identity/challenge", json={"wallet": Account.create().address, "purpose": "link"})
    assert identity.status_code == 200, identity.text


def test_console_login_past_the_limit_gets_429_with_retry_after(client: TestClient) -> None:
    client.get("/console/login")
    token = client.cookies.get(LOGIN_CSRF_COOKIE)
    assert token
    form = {"username": "nobody", "password": "not the password", "csrf_token": token}
    statuses = [client.post("/console/login", data=form, follow_redirects=False).status_code for _ in range(20)]
    assert statuses == [401] * 20
    refused = client.post("/console/login", data=form, follow_redirects=False)
    _assert_limited(refused)
    assert refused.headers["content-type"].startswith("text/html")
    assert "429" in refused.text
