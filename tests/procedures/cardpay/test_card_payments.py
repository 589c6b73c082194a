"""Paying a merchant's request with the My Number card, through the HTTP API, on a real chain and database:
the city counter opts a linked card holder in, the merchant's reader has the card sign the statement, the
card wallet pays as an ordinary relayed payment — and every refusal is one clear error with nothing written."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from sqlalchemy import func, select

from procedures.cardpay.models import CardPayment, CardWallet
from procedures.config import Settings
from procedures.merchants.models import PaymentRequest
from procedures.transfers.models import Transfer
from tests.procedures.conftest import wait_until
from tests.procedures.identity.test_failures import MY_NUMBER
from tests.procedures.merchants.conftest import create_request, wait_request


def _error(response) -> tuple[int, str]:
    body = response.json()
    assert set(body["error"]) == {"type", "code", "message", "param"}, body
    return response.status_code, body["error"]["code"]


def _nothing_written(runtime, request_id: str) -> None:
    """The request stays open with no payment, no transfer and no card payment for it."""
    with runtime.sessions() as session:
        pr = session.get(PaymentRequest, request_id)
        assert (pr.status, pr.payment_transfer_id, pr.payer_wallet) == ("open", None, None)
        assert session.scalar(select(func.count()).select_from(CardPayment)
                              .where(CardPayment.payment_request_id == request_id)) == 0
        assert session.scalar(select(func.count()).select_from(Transfer)
                              .where(Transfer.purpose == f"payment_request:{request_id}")) == 0


def test_the_default_limits_are_ten_and_thirty_thousand():
    fields = Settings.model_fields
    assert (fields["card_payment_limit"].default, fields["card_payment_daily_limit"].default) == (10_000, 30_000)


def test_a_card_payment_from_the_card_wallet(city_counter, onboard, client, runtime, receiver):
    holder = city_counter.linked(0)
    opted = city_counter.opt_in(holder, coins=20_000)
    assert opted["status"] == "active" and opted["wallet"] != holder.account.address
    merchant = onboard("加賀棒茶本舗")
    client.post("/v1/webhook_endpoints", headers=merchant.headers, json={"url": receiver.url})
    request, response = city_counter.pay(holder.card, merchant, 1_200)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["amount"] == 1_200 and body["payment_request"]["id"] == request["id"]
    paid = wait_request(client, merchant, request["id"], "paid")
    assert paid["payer"] == opted["wallet"]  # the card wallet paid, not the resident's own wallet
    assert runtime.coin.balance_of(merchant.wallet) == 1_200
    assert runtime.coin.balance_of(opted["wallet"]) == 20_000 - 1_200
    event = wait_until(lambda: receiver.events("payment_request.paid"), what="the webhook")[0]
    assert event["data"]["object"]["id"] == request["id"]

    twice = city_counter.client.post("/v1/admin/card_wallets/challenge", headers=city_counter.operator)
    assert twice.status_code == 200
    again = city_counter.opt_in_response(holder.card)
    assert _error(again) == (409, "card_wallet_exists")


def test_refusals_are_clear_and_write_nothing(city_counter, onboard, client, runtime, id_ca, settings):
    holder = city_counter.linked(1)
    city_counter.opt_in(holder, coins=50_000)
    merchant = onboard()

    request, response = city_counter.pay(holder.card, merchant, settings.card_payment_limit + 1)
    assert _error(response) == (409, "card_payment_limit_exceeded")
    _nothing_written(runtime, request["id"])

    request, response = city_counter.pay(holder.card, merchant, 700, {"amount": 70})  # the amount changed after signing
    assert _error(response) == (422, "card_statement_mismatch")
    _nothing_written(runtime, request["id"])

    request = create_request(client, merchant, 800)
    body = city_counter.body(holder.card, merchant, request["id"])
    body["auth_signature"] = city_counter.body(holder.card, merchant, create_request(client, merchant, 900)["id"])[
        "auth_signature"]  # the card's signature over another payment
    assert _error(client.post("/v1/card_payments", headers=merchant.headers, json=body)) == (
        401, "bad_card_signature")
    _nothing_written(runtime, request["id"])

    # the service's own ids are 24 random hex digits: one holding a valid My Number by chance is an id, not a
    # My Number (a few requests in a thousand were refused my_number_refused); the same digits as text are refused
    body = city_counter.body(holder.card, merchant, create_request(client, merchant, 400)["id"])
    ghost = client.post("/v1/card_payments", headers=merchant.headers,
                        json={**body, "payment_request": "pr_" + MY_NUMBER + "ab" * 6})
    assert _error(ghost)[0] == 404, ghost.text
    bare = client.post("/v1/card_payments", headers=merchant.headers, json={**body, "payment_request": MY_NUMBER})
    assert _error(bare) == (422, "my_number_refused")

    stranger = city_counter.issue()  # a valid card nobody linked
    request, response = city_counter.pay(stranger, merchant, 500)
    assert _error(response) == (403, "card_not_linked")
    _nothing_written(runtime, request["id"])

    not_in = city_counter.linked(2)
    request, response = city_counter.pay(not_in.card, merchant, 500)
    assert _error(response) == (403, "card_wallet_not_opted_in")
    _nothing_written(runtime, request["id"])

    other = onboard("片山津菓子店")
    request = create_request(client, merchant, 600)
    stolen = city_counter.body(holder.card, merchant, request["id"])
    assert _error(client.post("/v1/card_payments", headers=other.headers, json=stolen))[0] == 404  # not theirs
    accepted = client.post("/v1/card_payments", headers=merchant.headers, json=stolen)
    assert accepted.status_code == 202, accepted.text
    wait_request(client, merchant, request["id"], "paid")
    replay = client.post("/v1/card_payments", headers=merchant.headers, json=stolen)
    assert _error(replay) == (409, "nonce_reused")  # a card's signature pays once

    id_ca.revoke(holder.card, reason=x509.ReasonFlags.key_compromise)
    request, response = city_counter.pay(holder.card, merchant, 500)
    assert _error(response) == (403, "certificate_revoked")
    _nothing_written(runtime, request["id"])


def test_the_daily_limit_counts_the_city_day(city_counter, onboard, client, runtime, settings):
    settings.card_payment_limit, settings.card_payment_daily_limit = 1_000, 2_500
    holder = city_counter.linked(3)
    city_counter.opt_in(holder, coins=10_000)
    merchant = onboard()
    paid = []
    for _ in range(2):
        request, response = city_counter.pay(holder.card, merchant, 1_000)
        assert response.status_code == 202, response.text
        paid.append(request["id"])
    request, response = city_counter.pay(holder.card, merchant, 1_000)
    assert _error(response) == (409, "card_daily_limit_exceeded")
    assert "500 left today" in response.json()["error"]["message"]
    _nothing_written(runtime, request["id"])
    request, response = city_counter.pay(holder.card, merchant, 500)  # what is left still goes
    assert response.status_code == 202, response.text
    paid.append(request["id"])

    # the day is the city's (Japan time): the same payments made one second before the city's midnight
    # (15:00 UTC, the same UTC date as its first hours) belong to yesterday and leave today's limit whole
    clock = settings.clock
    midnight = clock.start_of_day(clock.today())
    with runtime.sessions() as session, session.begin():
        for payment in session.scalars(select(CardPayment).where(CardPayment.payment_request_id.in_(paid))):
            payment.created_at = midnight - timedelta(seconds=1)
    for _ in range(2):
        request, response = city_counter.pay(holder.card, merchant, 1_000)
        assert response.status_code == 202, response.text
    request, response = city_counter.pay(holder.card, merchant, 1_000)
    assert _error(response) == (409, "card_daily_limit_exceeded")
    assert "500 left today" in response.json()["error"]["message"]


def test_a_frozen_or_revoked_resident_cannot_pay_with_the_card(city_counter, onboard, client, runtime, operator):
    holder = city_counter.linked(0)
    opted = city_counter.opt_in(holder, coins=5_000)
    merchant = onboard()
    frozen = client.post(f"/v1/admin/wallets/{holder.account.address}/freeze", headers=operator,
                         json={"reason": "カード紛失の届出"})
    assert frozen.status_code in (200, 202), frozen.text
    wait_until(lambda: runtime.coin.is_frozen(holder.account.address), what="the freeze on chain")
    request, response = city_counter.pay(holder.card, merchant, 500)
    assert _error(response) == (403, "card_wallet_frozen")
    _nothing_written(runtime, request["id"])

    revoked = client.post("/v1/identity/admin/revoke", headers=operator,
                          json={"wallet": holder.account.address, "reason": "moved_out"})
    assert revoked.status_code in (200, 202), revoked.text
    request, response = city_counter.pay(holder.card, merchant, 500)
    assert _error(response) == (403, "identity_not_live")
    _nothing_written(runtime, request["id"])
    with runtime.sessions() as session:
        assert session.get(CardWallet, opted["id"]).status == "active"  # the coins stay; the city decides
