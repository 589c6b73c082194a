"""Helpers for the operator-page tests: a logged-in console over HTTP, the admin API over HTTP, and
arranging a merchant with a payout waiting for the bank (all against the live server)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.procedures.conftest import wait_until

BANK_FORM = {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary", "account_number": "1234567",
             "holder_name_kana": "カ）ヤマナカシッキ", "bank_name_kana": "ホッコク", "branch_name_kana": "ダイショウジ"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (the relayer works in the background)."""
    return wait_until(predicate, timeout, what=what)


class Console:
    """A staff member's browser session over plain HTTP: cookies, and the session's CSRF token."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        login = self.http.get("/console/login")
        token = _CSRF.search(login.text)
        assert token, login.text
        done = self.http.post("/console/login", data={"username": username, "password": password,
                                                       "csrf_token": token.group(1)})
        assert done.status_code == 303, done.text
        self.csrf = _CSRF.search(self.http.get("/console/").text).group(1)  # type: ignore[union-attr]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        return self.http.post(path, data=form)

    def close(self) -> None:
        self.http.close()


def error_message(page: httpx.Response) -> str:
    """The text of the error page's message (the page must be the HTML error page)."""
    found = re.search(r'id="error-message">([^<]*)<', page.text)
    assert found, page.text[:2000]
    return html.unescape(found.group(1))


class AdminApi:
    """The admin REST API as an operator token sees it."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        token = self.http.post("/v1/auth/staff/token", json={"username": username, "password": password})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None) -> httpx.Response:
        return self.http.post(path, headers=self.headers, json=json)

    def merchant(self, merchant_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/admin/merchants/{merchant_id}").json())

    def close(self) -> None:
        self.http.close()


def onboard(api: AdminApi, name: str = "山中漆器店") -> dict[str, Any]:
    """A merchant onboarded through the API, once its registry entry is confirmed."""
    response = api.post("/v1/admin/merchants", json={"business_name": name, "bank_account": BANK_FORM})
    assert response.status_code == 201, response.text
    body = dict(response.json())
    wait_for(lambda: api.merchant(body["id"])["status"] == "active", "the merchant's registration")
    return body


def _earn(api: AdminApi, key: dict[str, str], arrange: Any, runtime: Any, amount: int) -> None:
    """A resident pays the merchant ``amount`` through a payment request (merchants cannot be minted to)."""
    from eth_account import Account

    from chain.contracts.authorization import random_nonce
    from tests.procedures.conftest import auth_json, wallet_login

    resident = Account.create()
    arrange.attest(resident.address)
    arrange.mint(resident.address, amount)
    headers = wallet_login(api.http, resident)
    request = api.http.post("/v1/payment_requests", headers=key, json={"amount": amount, "description": "加賀棒茶"})
    assert request.status_code == 201, request.text
    request_id = request.json()["id"]
    pay_to = api.http.get(f"/v1/pay/requests/{request_id}", headers=headers).json()["pay_to"]
    auth = runtime.coin.sign_authorization(resident, pay_to, amount, nonce=random_nonce(),
                                           valid_before=int(time.time()) + 600)
    paid = api.http.post(f"/v1/pay/requests/{request_id}", headers=headers, json={"authorization": auth_json(auth)})
    assert paid.status_code == 202, paid.text
    wait_for(lambda: api.http.get(f"/v1/payment_requests/{request_id}", headers=key).json()["status"] == "paid",
             "the payment")


def redeemed_payout(api: AdminApi, arrange: Any, runtime: Any, amount: int = 10_000) -> tuple[dict[str, Any], str]:
    """A merchant paid by a resident that asked for a payout, once the payout is redeemed (burned on chain)."""
    from chain.contracts.registry import Kind

    merchant = onboard(api)
    key = {"Authorization": f"Bearer {merchant['api_key']['secret']}"}
    _earn(api, key, arrange, runtime, amount)
    settlement = runtime.keys.settlement.address
    wait_for(lambda: runtime.registry.status(settlement).kind is Kind.CITY, "the settlement account")
    payout = api.http.post("/v1/payouts", headers=key, json={"amount": amount})
    assert payout.status_code == 202, payout.text
    payout_id = payout.json()["id"]
    wait_for(lambda: api.http.get(f"/v1/payouts/{payout_id}", headers=key).json()["status"] == "redeemed",
             "the payout's burn")
    return merchant, payout_id
