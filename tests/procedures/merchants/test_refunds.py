"""Refunds: partial and full, never more than paid (also under concurrency), merchant boundaries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from eth_account import Account

from chain.contracts.base import Call, send_call
from chain.node import rpc_call
from chain.outbox import TxIntent
from procedures.merchants.models import Refund
from procedures.transfers.models import Transfer
from tests.procedures.conftest import wait_until
from tests.procedures.merchants.conftest import create_request, key_with, pay, wait_request


def _paid_request(client, merchant, resident, coin, amount=1_000):
    pr = create_request(client, merchant, amount)
    assert pay(client, coin, resident, pr).status_code == 202
    return wait_request(client, merchant, pr["id"], "paid")


def _refund(client, merchant, pr_id, amount=None, headers=None, **extra):
    body = {"payment_request": pr_id, **({"amount": amount} if amount is not None else {})}
    return client.post("/v1/refunds", headers={**(headers or merchant.headers), **extra}, json=body)


def _wait_refund(client, merchant, refund_id):
    return wait_until(lambda: (lambda r: r if r["status"] != "pending" else None)(
        client.get(f"/v1/refunds/{refund_id}", headers=merchant.headers).json()), what="refund")


def test_partial_then_full_refund_and_over_refund(client, onboard, make_resident, coin, arrange, receiver):
    merchant = onboard()
    client.post("/v1/webhook_endpoints", headers=merchant.headers,
                json={"url": receiver.url, "enabled_events": ["refund.succeeded"]})
    resident = make_resident(coins=5_000)
    pr = _paid_request(client, merchant, resident, coin)

    over = _refund(client, merchant, pr["id"], 1_001)
    assert over.status_code == 409 and over.json()["error"]["code"] == "refund_exceeds_payment"
    first = _refund(client, merchant, pr["id"], 300, **{"Idempotency-Key": "r1"})
    assert first.status_code == 202, first.text
    replay = _refund(client, merchant, pr["id"], 300, **{"Idempotency-Key": "r1"})
    assert replay.content == first.content  # a retried refund is not paid twice
    assert _wait_refund(client, merchant, first.json()["id"])["status"] == "succeeded"
    partial = wait_request(client, merchant, pr["id"], "partially_refunded")
    assert partial["amount_refunded"] == 300
    too_much = _refund(client, merchant, pr["id"], 701)
    assert too_much.status_code == 409 and "700" in too_much.json()["error"]["message"]

    rest = _refund(client, merchant, pr["id"])  # no amount: everything left
    assert rest.json()["amount"] == 700
    _wait_refund(client, merchant, rest.json()["id"])
    done = wait_request(client, merchant, pr["id"], "refunded")
    assert done["amount_refunded"] == 1_000
    assert _refund(client, merchant, pr["id"], 1).status_code == 409
    assert arrange.balance(resident.address) == 5_000 and arrange.balance(merchant.wallet) == 0
    events = wait_until(lambda: len(receiver.events("refund.succeeded")) == 2 and receiver.events(), what="webhooks")
    assert sorted(e["data"]["object"]["amount"] for e in events) == [300, 700]
    listed = client.get(f"/v1/refunds?payment_request={pr['id']}", headers=merchant.headers).json()["data"]
    assert [r["amount"] for r in listed] == [700, 300]
    # newest first, one page at a time: the cursor of the first page leads to the second
    page = client.get("/v1/refunds", params={"limit": 1}, headers=merchant.headers).json()
    assert page["has_more"] and page["next_cursor"] == page["data"][0]["id"] == listed[0]["id"]
    rest_page = client.get("/v1/refunds", params={"limit": 1, "starting_after": page["next_cursor"]},
                           headers=merchant.headers).json()
    assert [r["id"] for r in rest_page["data"]] == [listed[1]["id"]] and not rest_page["has_more"]
    other = onboard("九谷焼工房")  # another merchant's refund is no cursor here
    foreign = client.get("/v1/refunds", params={"starting_after": listed[0]["id"]}, headers=other.headers)
    assert foreign.status_code == 422 and foreign.json()["error"]["param"] == "starting_after"


def test_concurrent_refunds_never_exceed_the_payment(client, onboard, make_resident, coin, arrange):
    merchant = onboard()
    resident = make_resident(coins=5_000)
    pr = _paid_request(client, merchant, resident, coin, 1_000)
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda _: _refund(client, merchant, pr["id"], 400), range(5)))
    assert sorted(r.status_code for r in responses) == [202, 202, 409, 409, 409], [r.json() for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"refund_exceeds_payment"}
    for response in responses:
        if response.status_code == 202:
            _wait_refund(client, merchant, response.json()["id"])
    assert wait_request(client, merchant, pr["id"], "partially_refunded")["amount_refunded"] == 800
    assert arrange.balance(resident.address) == 4_800


def test_a_refund_already_in_a_block_the_relayer_has_not_seen_leaves_room_for_the_next(
    client, runtime, onboard, make_resident, coin, w3, anvil, arrange
):
    """The first refund's transaction is mined, its receipt not yet seen: the chain balance has paid it
    and the service still counts it in progress. The second refund fits and is accepted (it was refused
    insufficient_balance, a spurious 409, when two refunds came close together)."""
    merchant = onboard()
    resident = make_resident(coins=5_000)
    pr = _paid_request(client, merchant, resident, coin, 1_000)
    runtime.stop_workers()
    first = _refund(client, merchant, pr["id"], 400)
    assert first.status_code == 202, first.text
    with runtime.sessions() as session:
        transfer = session.get(Transfer, session.get(Refund, first.json()["id"]).transfer_id)
        intent = session.get(TxIntent, transfer.intent_id)
        call = Call(to=intent.to_address, data=intent.data)
    relayer = Account.create()  # sends it as the relayer would, before the relayer sees the receipt
    rpc_call(anvil.url, "anvil_setBalance", [relayer.address, hex(10**18)])
    send_call(w3, relayer, call)
    assert coin.balance_of(merchant.wallet) == 600
    second = _refund(client, merchant, pr["id"], 400)
    assert second.status_code == 202, second.text
    over = _refund(client, merchant, pr["id"], 400)
    assert over.status_code == 409 and over.json()["error"]["code"] == "refund_exceeds_payment"
    runtime.start_workers()
    for refund in (first, second):
        assert _wait_refund(client, merchant, refund.json()["id"])["status"] == "succeeded"
    assert wait_request(client, merchant, pr["id"], "partially_refunded")["amount_refunded"] == 800
    assert arrange.balance(resident.address) == 4_800 and arrange.balance(merchant.wallet) == 200


def test_refund_boundaries(client, onboard, make_resident, coin):
    a, b = onboard("A"), onboard("B")
    resident = make_resident(coins=5_000)
    pr = _paid_request(client, a, resident, coin, 500)
    assert _refund(client, b, pr["id"], 100).status_code == 404  # B cannot refund A's payment
    read_only = key_with(client, a, "payments:read", "payments:write")
    assert _refund(client, a, pr["id"], 100, headers=read_only).status_code == 403
    assert client.post("/v1/refunds", headers=resident.headers, json={"payment_request": pr["id"]}).status_code == 403
    open_request = create_request(client, a, 100)
    unpaid = _refund(client, a, open_request["id"], 50)
    assert unpaid.status_code == 409 and unpaid.json()["error"]["code"] == "request_not_paid"
    refund = _refund(client, a, pr["id"], 100).json()
    assert client.get(f"/v1/refunds/{refund['id']}", headers=b.headers).status_code == 404
    assert _refund(client, a, pr["id"], 0).status_code == 422
