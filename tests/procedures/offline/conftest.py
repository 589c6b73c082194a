"""Offline payment fixtures: merchants (with webhooks), residents who reserve coins, codes signed offline."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chain.contracts.authorization import Authorization, random_nonce
from chain.contracts.reserve import sign_receive_authorization
from protocol.offline import OfflinePayment, sign_offline_payment
from tests.procedures.merchants.conftest import Merchant, onboard, receiver  # noqa: F401 - fixtures


@pytest.fixture
def settings(settings):
    """Short webhook timings (the refused merchant is told by webhook)."""
    settings.webhook_retry_schedule = [0.3, 0.6]
    settings.webhook_retry_horizon = 60.0
    settings.webhook_poll_interval = 0.05
    settings.webhook_timeout = 2.0
    return settings


def reserve_json(runtime: Any, account: Any, amount: int, **kw: Any) -> dict[str, Any]:
    """The resident's signed ``ReceiveWithAuthorization`` of ``amount`` to the reserve, as the API takes it."""
    nonce = kw.pop("nonce", random_nonce())
    valid_before = kw.pop("valid_before", int(time.time()) + 600)
    signature = sign_receive_authorization(account, runtime.coin.domain(), runtime.reserve.address, amount,
                                           valid_after=0, valid_before=valid_before, nonce=nonce)
    auth = Authorization(from_=account.address, to=runtime.reserve.address, value=amount, valid_after=0,
                         valid_before=valid_before, nonce=nonce, v=signature[64], r=signature[:32],
                         s=signature[32:64])
    return {"authorization": auth.to_json()}


def offline_code(runtime: Any, account: Any, merchant: Merchant, amount: int, **kw: Any) -> OfflinePayment:
    """An offline payment the resident signs with no network (valid an hour unless told)."""
    return sign_offline_payment(account.key, chain_id=runtime.manifest.chain_id, reserve=runtime.reserve.address,
                                merchant=merchant.wallet, amount=amount,
                                valid_before=kw.get("valid_before", int(time.time()) + 3600))
