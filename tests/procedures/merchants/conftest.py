"""Merchant fixtures: fast webhook and expiry workers, onboarded merchants, payment requests paid
by residents, a webhook receiver. The other money rooms (transfers, settlement) use them too."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.procedures.conftest import auth_json, sign, wait_until


@pytest.fixture
def settings(settings):
    """The service settings with the webhook and expiry workers' timings shortened for tests."""
    settings.webhook_retry_schedule = [0.3, 0.6]
    settings.webhook_retry_horizon = 60.0
    settings.webhook_poll_interval = 0.05
    settings.webhook_timeout = 2.0
    settings.payment_expiry_interval = 0.1
    return settings


BANK = {"bank_code": "0146", "branch_code": "101", "account_type": "ordinary", "account_number": "1234567",
        "holder_name_kana": "カ）ヤマナカシッキ", "bank_name_kana": "ホッコク", "branch_name_kana": "ダイショウジ"}


@dataclass
class Merchant:
    """An onboarded, active merchant and its first (all-scopes) API key."""

    id: str
    wallet: str
    key: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def onboard(client, operator) -> Callable[..., Merchant]:
    """Factory: onboard a merchant through the operator API and wait until its registry entry is confirmed."""

    def make(name: str = "山中漆器店", bank: dict[str, str] | None = None) -> Merchant:
        response = client.post("/v1/admin/merchants", headers=operator,
                               json={"business_name": name, "bank_account": bank or BANK})
        assert response.status_code == 201, response.text
        body = response.json()
        wait_until(lambda: client.get(f"/v1/admin/merchants/{body['id']}", headers=operator).json()["status"]
                   == "active", what="merchant registration")
        return Merchant(body["id"], body["wallet"], body["api_key"]["secret"], body)

    return make


def key_with(client, merchant: Merchant, *scopes: str) -> dict[str, str]:
    """Headers of a new key of ``merchant`` with only ``scopes``."""
    response = client.post("/v1/api_keys", headers=merchant.headers, json={"name": "limited", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['secret']}"}


def create_request(client, merchant: Merchant, amount: int = 1_200, **extra) -> dict[str, Any]:
    response = client.post("/v1/payment_requests", headers=merchant.headers,
                           json={"amount": amount, "description": "加賀棒茶 2本", **extra})
    assert response.status_code == 201, response.text
    return response.json()


def pay(client, coin, resident, request: dict[str, Any], amount: int | None = None):
    auth = sign(coin, resident.account, request_wallet(client, resident, request["id"]), amount or request["amount"])
    return client.post(f"/v1/pay/requests/{request['id']}", headers=resident.headers,
                       json={"authorization": auth_json(auth)})


def request_wallet(client, resident, request_id: str) -> str:
    return client.get(f"/v1/pay/requests/{request_id}", headers=resident.headers).json()["pay_to"]


def wait_request(client, merchant: Merchant, request_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
    return wait_until(lambda: (lambda b: b if b["status"] == status else None)(
        client.get(f"/v1/payment_requests/{request_id}", headers=merchant.headers).json()),
        timeout, what=f"request {request_id} {status}")


@dataclass
class Receiver:
    """A local webhook receiver: answers ``fail_first`` requests with 500, then 200; keeps every request."""

    url: str
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            bodies = [json.loads(r["body"]) for r in self.requests if r["status"] == 200]
        return [b for b in bodies if type_ is None or b["type"] == type_]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 in a thread."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                code = 500 if len(state.requests) < state.fail_first else 200
                state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "status": code, "at": time.monotonic()})
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"boom")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
