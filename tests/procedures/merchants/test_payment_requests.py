"""Payment requests: idempotency, listing, QR codes, paying, exactly-once, expiry, cancel, static codes."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from PIL import Image

from procedures.merchants.models import PaymentRequest, Refund
from procedures.transfers import service as transfers
from protocol.payment_uri import parse_uri
from tests.procedures.conftest import auth_json, sign, wait_until
from tests.procedures.merchants.conftest import create_request, pay, wait_request


def test_create_is_idempotent_replays_byte_for_byte_and_conflicts_on_other_parameters(client, onboard):
    merchant = onboard()
    headers = {**merchant.headers, "Idempotency-Key": "order-42"}
    body = {"amount": 1_500, "description": "九谷焼の湯呑み", "order_reference": "42", "metadata": {"till": "3"}}
    first = client.post("/v1/payment_requests", headers=headers, json=body)
    assert first.status_code == 201, first.text
    replay = client.post("/v1/payment_requests", headers=headers, json=dict(reversed(list(body.items()))))
    assert replay.status_code == 201 and replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    conflict = client.post("/v1/payment_requests", headers=headers, json={**body, "amount": 1_501})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert len(client.get("/v1/payment_requests", headers=merchant.headers).json()["data"]) == 1
    # Keys are per merchant: another merchant may use the same key for its own request.
    other = onboard("別の店")
    assert client.post("/v1/payment_requests", headers={**other.headers, "Idempotency-Key": "order-42"},
                       json=body).json()["id"] != first.json()["id"]
    # A refused request is not remembered: fixing it and retrying with the same key works.
    bad = client.post("/v1/payment_requests", headers={**headers, "Idempotency-Key": "k2"}, json={"amount": -1})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "amount"
    unknown = client.post("/v1/payment_requests", headers=merchant.headers, json={"amount": 5, "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "colour"


def test_request_object_uri_and_qr_codes(client, onboard, runtime):
    merchant = onboard()
    pr = create_request(client, merchant, 2_400, order_reference="A-1", expires_in=120)
    assert pr["object"] == "payment_request" and pr["status"] == "open" and pr["id"].startswith("pr_")
    uri = parse_uri(pr["uri"])
    domain = runtime.coin.domain()
    assert (uri.coin, uri.chain_id, uri.to, uri.amount, uri.request_id) == (
        domain.verifying_contract, domain.chain_id, merchant.wallet, 2_400, pr["id"])
    assert pr["uri"] == (f"ethereum:{domain.verifying_contract}@{domain.chain_id}/transfer?"
                         f"address={merchant.wallet}&uint256=2400&req={pr['id']}")
    expires = datetime.fromisoformat(pr["expires_at"])
    assert timedelta(seconds=110) < expires - datetime.now(UTC) <= timedelta(seconds=120)
    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    absolute = create_request(client, merchant, 10, expires_at=at)
    assert abs(datetime.fromisoformat(absolute["expires_at"]) - datetime.fromisoformat(at)) < timedelta(seconds=2)
    both = client.post("/v1/payment_requests", headers=merchant.headers,
                       json={"amount": 10, "expires_at": at, "expires_in": 600})
    assert both.status_code == 422 and both.json()["error"]["param"] == "expires_at"
    past = client.post("/v1/payment_requests", headers=merchant.headers,
                       json={"amount": 10, "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    png = client.get(f"/v1/payment_requests/{pr['id']}/qr.png", headers=merchant.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get(f"/v1/payment_requests/{pr['id']}/qr.svg", headers=merchant.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    static = client.get("/v1/merchant/qr.png", headers=merchant.headers)
    assert static.status_code == 200 and static.content.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png.content))
    assert image.size[0] == image.size[1] >= 200


def test_list_is_paginated_and_filtered(client, onboard, runtime):
    merchant = onboard()
    ids = [create_request(client, merchant, 100 + i, order_reference=f"o{i}")["id"] for i in range(5)]
    client.post(f"/v1/payment_requests/{ids[0]}/cancel", headers=merchant.headers)
    first = client.get("/v1/payment_requests?limit=2", headers=merchant.headers).json()
    assert first["object"] == "list" and first["has_more"] and [p["id"] for p in first["data"]] == ids[:-3:-1]
    second = client.get(f"/v1/payment_requests?limit=2&starting_after={first['next_cursor']}",
                        headers=merchant.headers).json()
    third = client.get(f"/v1/payment_requests?limit=2&starting_after={second['next_cursor']}",
                       headers=merchant.headers).json()
    assert [p["id"] for p in first["data"] + second["data"] + third["data"]] == ids[::-1]
    assert third["has_more"] is False and third["next_cursor"] is None
    canceled = client.get("/v1/payment_requests?status=canceled", headers=merchant.headers).json()["data"]
    assert [p["id"] for p in canceled] == [ids[0]]
    by_ref = client.get("/v1/payment_requests?order_reference=o3", headers=merchant.headers).json()["data"]
    assert [p["id"] for p in by_ref] == [ids[3]]
    with runtime.sessions() as session, session.begin():  # move one request back in time
        session.get(PaymentRequest, ids[1]).created_at = datetime.now(UTC) - timedelta(days=3)
    window = {"created[gte]": (datetime.now(UTC) - timedelta(days=4)).isoformat(),
              "created[lt]": (datetime.now(UTC) - timedelta(days=2)).isoformat()}
    assert [p["id"] for p in client.get("/v1/payment_requests", params=window,
                                        headers=merchant.headers).json()["data"]] == [ids[1]]
    assert client.get("/v1/payment_requests?status=weird", headers=merchant.headers).status_code == 422
    assert client.get("/v1/payment_requests?starting_after=pr_nope", headers=merchant.headers).status_code == 422


def test_resident_pays_a_request_once_and_the_merchant_is_notified(client, onboard, make_resident, coin, receiver,
                                                                    arrange):
    merchant = onboard()
    client.post("/v1/webhook_endpoints", headers=merchant.headers, json={"url": receiver.url})
    resident = make_resident(coins=10_000)
    pr = create_request(client, merchant, 1_200)
    checkout = client.get(f"/v1/pay/requests/{pr['id']}", headers=resident.headers).json()
    assert checkout["merchant"]["display_name"] == "山中漆器店" and checkout["amount"] == 1_200
    assert checkout["pay_to"] == merchant.wallet and checkout["status"] == "open"

    wrong_amount = pay(client, coin, resident, pr, amount=1_000)
    assert wrong_amount.status_code == 422 and wrong_amount.json()["error"]["code"] == "wrong_amount"
    accepted = pay(client, coin, resident, pr)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["transfer"]["status"] in ("accepted", "submitted")
    # The same signed payment sent again (a lost answer) is the same payment, not a refusal.
    resent = client.post(f"/v1/pay/requests/{pr['id']}", headers=resident.headers,
                         json=json.loads(accepted.request.content))
    assert resent.status_code == 202 and resent.json()["transfer"]["id"] == accepted.json()["transfer"]["id"]
    # While in flight, and once paid, a second payment is refused at acceptance.
    second = pay(client, coin, resident, pr)
    assert second.status_code == 409 and second.json()["error"]["code"] in ("payment_in_progress", "request_paid")
    paid = wait_request(client, merchant, pr["id"], "paid")
    assert paid["payer"] == resident.address and paid["tx_hash"] and paid["paid_at"]
    third = pay(client, coin, resident, pr)
    assert third.status_code == 409 and third.json()["error"]["code"] == "request_paid"
    assert arrange.balance(merchant.wallet) == 1_200 and arrange.balance(resident.address) == 8_800
    event = wait_until(lambda: receiver.events("payment_request.paid"), what="webhook")[0]
    assert event["data"]["object"]["id"] == pr["id"] and event["data"]["object"]["status"] == "paid"
    assert client.post(f"/v1/payment_requests/{pr['id']}/cancel", headers=merchant.headers).status_code == 409


def test_two_residents_racing_for_one_request_only_one_is_accepted(client, onboard, make_resident, coin, arrange):
    merchant = onboard()
    residents = [make_resident(coins=5_000) for _ in range(4)]
    pr = create_request(client, merchant, 700)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda r: pay(client, coin, r, pr), residents))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 409, 409, 409], [r.text for r in responses]
    wait_request(client, merchant, pr["id"], "paid")
    assert arrange.balance(merchant.wallet) == 700
    assert sorted(arrange.balance(r.address) for r in residents) == [4_300, 5_000, 5_000, 5_000]


def test_a_stray_second_payment_reaching_the_chain_is_returned(client, onboard, make_resident, coin, runtime,
                                                               arrange):
    """Defence in depth: even if a second transfer for a request got past acceptance, it is not kept."""
    merchant = onboard()
    alice, bob = make_resident(coins=2_000), make_resident(coins=2_000)
    pr = create_request(client, merchant, 500)
    assert pay(client, coin, alice, pr).status_code == 202
    with runtime.sessions() as session, session.begin():  # bypass the request lock, as a race would
        transfers.accept(session, runtime, sign(coin, bob.account, merchant.wallet, 500), kind="payment",
                         purpose=f"payment_request:{pr['id']}", expected_to=merchant.wallet, expected_amount=500)
    wait_request(client, merchant, pr["id"], "paid")

    def returned() -> Refund | None:
        with runtime.sessions() as session:
            refund = session.query(Refund).filter_by(payment_request_id=pr["id"], automatic=True).one_or_none()
            return refund if refund is not None and refund.status == "succeeded" else None

    wait_until(returned, what="automatic return")
    assert arrange.balance(merchant.wallet) == 500
    assert {arrange.balance(alice.address), arrange.balance(bob.address)} == {1_500, 2_000}
    final = client.get(f"/v1/payment_requests/{pr['id']}", headers=merchant.headers).json()
    assert final["status"] == "paid" and final["amount_refunded"] == 0


def test_requests_expire_and_cannot_be_paid_or_canceled_afterwards(client, onboard, make_resident, coin, runtime,
                                                                   receiver):
    merchant = onboard()
    client.post("/v1/webhook_endpoints", headers=merchant.headers,
                json={"url": receiver.url, "enabled_events": ["payment_request.expired"]})
    resident = make_resident(coins=1_000)
    pr = create_request(client, merchant, 300, expires_in=60)
    keep = create_request(client, merchant, 300, expires_in=3600)
    with runtime.sessions() as session, session.begin():  # the clock moves on
        session.get(PaymentRequest, pr["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = wait_request(client, merchant, pr["id"], "expired", timeout=10)
    assert expired["expired_at"]
    event = wait_until(lambda: receiver.events("payment_request.expired"), what="expired webhook")[0]
    assert event["data"]["object"]["id"] == pr["id"]
    refused = pay(client, coin, resident, pr)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "request_expired"
    assert client.post(f"/v1/payment_requests/{pr['id']}/cancel", headers=merchant.headers).status_code == 409
    time.sleep(0.3)
    assert client.get(f"/v1/payment_requests/{keep['id']}", headers=merchant.headers).json()["status"] == "open"
    assert len(receiver.events()) == 1  # only subscribed event types are delivered


def test_cancel_emits_an_event_and_blocks_payment(client, onboard, make_resident, coin):
    merchant = onboard()
    resident = make_resident(coins=1_000)
    pr = create_request(client, merchant, 300)
    canceled = client.post(f"/v1/payment_requests/{pr['id']}/cancel", headers=merchant.headers)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    refused = pay(client, coin, resident, pr)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "request_canceled"
    events = client.get(f"/v1/events?object={pr['id']}", headers=merchant.headers).json()["data"]
    assert [e["type"] for e in events] == ["payment_request.canceled"]


def test_static_code_payment_of_a_typed_amount(client, onboard, make_resident, coin, arrange):
    merchant = onboard()
    resident = make_resident(coins=3_000)
    static = parse_uri(client.get("/v1/merchant", headers=merchant.headers).json()["static_uri"])
    assert static.amount is None and static.merchant_id == merchant.id
    who = client.get(f"/v1/pay/merchants/{static.merchant_id}", headers=resident.headers).json()
    assert who["merchant"]["display_name"] == "山中漆器店" and who["pay_to"] == merchant.wallet
    wrong = client.post(f"/v1/pay/merchants/{merchant.id}", headers=resident.headers,
                        json={"authorization": auth_json(sign(coin, resident.account, resident.address, 10))})
    assert wrong.status_code == 422
    auth = sign(coin, resident.account, merchant.wallet, 880)
    response = client.post(f"/v1/pay/merchants/{merchant.id}", headers=resident.headers,
                           json={"authorization": auth_json(auth), "memo": "お茶"})
    assert response.status_code == 202, response.text
    request_id = response.json()["payment_request"]
    paid = wait_request(client, merchant, request_id, "paid")
    assert paid["source"] == "static" and paid["amount"] == 880 and paid["description"] == "お茶"
    assert arrange.balance(merchant.wallet) == 880
