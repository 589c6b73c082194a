"""Card payment fixtures: the service trusting the session's TEST CA, residents who linked a TEST card, the
city counter that opts them in (the card signs, the card wallet is attested on chain and funded), and a
merchant's reader that has a card sign a payment statement."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from procedures.identity.testca import TestCard
from tests.procedures.conftest import wait_until
from tests.procedures.identity.conftest import (  # noqa: F401 - fixtures
    KAGA_RESIDENTS,
    Api,
    api,
    contracts,
    id_ca,
    id_keys,
    issue,
    trusting,
)
from tests.procedures.merchants.conftest import Merchant, create_request, onboard, receiver  # noqa: F401


@pytest.fixture
def settings(settings, id_ca):  # noqa: F811 - the imported fixture
    """The merchants' test timings, the TEST CA trusted like J-LIS."""
    settings.webhook_poll_interval = 0.05
    settings.payment_expiry_interval = 0.1
    return trusting(settings, id_ca)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Holder:
    """A resident: their TEST card, their own (phone) wallet, and the card wallet once opted in."""

    card: TestCard
    account: LocalAccount
    card_wallet: str = ""


@dataclass
class Counter:
    """The city counter and the merchants' readers, through the HTTP API."""

    client: Any
    operator: dict[str, str]
    api: Api
    arrange: Any
    runtime: Any
    issue: Any

    def linked(self, resident: int = 0, **card: Any) -> Holder:
        """A resident who linked a fresh TEST card to a new wallet (confirmed on chain)."""
        holder = Holder(self.issue(KAGA_RESIDENTS[resident], **card), Account.create())
        response = self.api.link(holder.card, holder.account)
        assert response.status_code == 200, response.text
        return holder

    def opt_in(self, holder: Holder, coins: int = 0) -> dict[str, Any]:
        """At the city counter: the card signs the opt-in; the card wallet is attested (and funded)."""
        response = self.opt_in_response(holder.card)
        assert response.status_code == 201, response.text
        body = response.json()
        holder.card_wallet = body["wallet"]
        wait_until(lambda: self.runtime.registry.is_verified(body["wallet"]), 30, what="the card wallet on chain")
        if coins:
            self.arrange.mint(body["wallet"], coins)
        return body

    def opt_in_response(self, card: TestCard, *, sign: TestCard | None = None) -> Any:
        challenge = self.client.post("/v1/admin/card_wallets/challenge", headers=self.operator)
        assert challenge.status_code == 200, challenge.text
        body = challenge.json()
        return self.client.post("/v1/admin/card_wallets", headers=self.operator, json={
            "statement": body["statement"], "auth_certificate": b64(card.auth_cert_der),
            "auth_signature": b64((sign or card).sign_auth(body["canonical"].encode()))})

    def statement(self, merchant: Merchant, request_id: str) -> dict[str, Any]:
        response = self.client.post("/v1/card_payments/challenge", headers=merchant.headers,
                                    json={"payment_request": request_id})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def body(self, card: TestCard, merchant: Merchant, request_id: str, **changes: Any) -> dict[str, Any]:
        """What the merchant's reader posts: the card's signature over a fresh statement (``changes`` are
        made to the statement after the card signed it)."""
        challenge = self.statement(merchant, request_id)
        signature = card.sign_auth(challenge["canonical"].encode())
        return {"payment_request": request_id, "statement": {**challenge["statement"], **changes},
                "auth_certificate": b64(card.auth_cert_der), "auth_signature": b64(signature)}

    def pay(self, card: TestCard, merchant: Merchant, amount: int,
            changes: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
        """A new request of ``amount`` paid with ``card``: (the request, the response)."""
        request = create_request(self.client, merchant, amount)
        response = self.client.post("/v1/card_payments", headers=merchant.headers,
                                    json=self.body(card, merchant, request["id"], **(changes or {})))
        return request, response


@pytest.fixture
def city_counter(client, operator, api, arrange, runtime, issue) -> Counter:  # noqa: F811 - imported fixtures
    return Counter(client, operator, api, arrange, runtime, issue)
