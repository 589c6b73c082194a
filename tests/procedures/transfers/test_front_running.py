"""Front-running: someone submits the relayed authorization to the coin before the relayer does.
The batch skips it as NonceUsed, yet the merchant was paid — the payment request must end paid
(settled from the chain's AuthorizationUsed/Transfer logs), with its webhook exactly once."""

from __future__ import annotations

from eth_account import Account
from sqlalchemy import select

from chain.contracts.base import send_call
from chain.index_store import index_cursor
from chain.node import rpc_call
from chain.outbox import IntentStatus, TxIntent
from procedures.transfers.models import Transfer
from tests.procedures.conftest import auth_json, sign, wait_until
from tests.procedures.merchants.conftest import create_request, request_wallet, wait_request


def _front_runner(anvil):
    account = Account.create()
    rpc_call(anvil.url, "anvil_setBalance", [account.address, hex(10**18)])
    return account


def test_an_authorization_submitted_first_by_someone_else_still_pays_the_request_once(
    client, runtime, onboard, make_resident, coin, receiver, w3, anvil
):
    merchant = onboard()
    client.post("/v1/webhook_endpoints", headers=merchant.headers,
                json={"url": receiver.url, "enabled_events": ["payment_request.paid"]})
    resident = make_resident(coins=1_000)
    pr = create_request(client, merchant, 300)
    auth = sign(coin, resident.account, request_wallet(client, resident, pr["id"]), 300)

    runtime.stop_workers()  # the relayer is slow today: the authorization waits in the outbox
    accepted = client.post(f"/v1/pay/requests/{pr['id']}", headers=resident.headers,
                           json={"authorization": auth_json(auth)})
    assert accepted.status_code == 202, accepted.text
    transfer_id = accepted.json()["transfer"]["id"]
    before = coin.balance_of(merchant.wallet)
    send_call(w3, _front_runner(anvil), coin.transfer_with_authorization_call(auth))  # seen, and sent first
    assert coin.balance_of(merchant.wallet) == before + 300  # the merchant is paid already
    runtime.start_workers()

    def skipped() -> bool:
        with runtime.sessions() as session:
            transfer = session.get(Transfer, transfer_id)
            intent = session.get(TxIntent, transfer.intent_id) if transfer is not None else None
            return intent is not None and intent.status == IntentStatus.FAILED

    wait_until(skipped, what="the batch skipping the used authorization")
    paid = wait_request(client, merchant, pr["id"], "paid")
    with runtime.sessions() as session:
        transfer = session.get(Transfer, transfer_id)
        intent_error = session.scalar(select(TxIntent.error_code).where(TxIntent.id == transfer.intent_id))
    assert intent_error == "NonceUsed"  # the relayer's own report said "skipped" …
    assert transfer.status == "confirmed"  # … the chain's logs say paid
    assert paid["tx_hash"] == transfer.tx_hash and paid["last_payment_error"] is None
    assert client.get(f"/v1/transfers/{transfer_id}", headers=resident.headers).json()["status"] == "confirmed"
    events = wait_until(lambda: receiver.events("payment_request.paid"), what="the webhook")
    # more blocks, more indexer passes (each one settling what awaits the chain): still paid once
    with runtime.sessions() as session:
        indexed = index_cursor(session).head
    for _ in range(3):
        rpc_call(anvil.url, "evm_mine")

    def indexed_past() -> bool:
        with runtime.sessions() as session:
            return index_cursor(session).head >= indexed + 3

    wait_until(indexed_past, what="the indexer passing three more blocks")
    emitted = client.get("/v1/events", headers=merchant.headers, params={"type": "payment_request.paid"}).json()
    assert [e["data"]["object"]["id"] for e in emitted["data"]] == [pr["id"]]  # one event: the hook ran once
    assert [e["data"]["object"]["id"] for e in events] == [pr["id"]]
    assert len(receiver.events("payment_request.paid")) == 1


def test_a_nonce_the_payer_used_for_another_transfer_fails_the_payment(
    client, runtime, onboard, make_resident, coin, w3, anvil, arrange
):
    merchant = onboard()
    resident = make_resident(coins=1_000)
    pr = create_request(client, merchant, 300)
    auth = sign(coin, resident.account, request_wallet(client, resident, pr["id"]), 300)
    runtime.stop_workers()
    accepted = client.post(f"/v1/pay/requests/{pr['id']}", headers=resident.headers,
                           json={"authorization": auth_json(auth)})
    assert accepted.status_code == 202, accepted.text
    friend = Account.create()
    arrange.attest(friend.address)
    other = sign(coin, resident.account, friend.address, 50, nonce=auth.nonce)  # the same nonce
    send_call(w3, _front_runner(anvil), coin.transfer_with_authorization_call(other))
    runtime.start_workers()
    transfer_id = accepted.json()["transfer"]["id"]
    wait_until(lambda: client.get(f"/v1/transfers/{transfer_id}", headers=resident.headers).json()["status"]
               == "failed", what="the payment failing")
    request = client.get(f"/v1/payment_requests/{pr['id']}", headers=merchant.headers).json()
    assert request["status"] == "open" and request["last_payment_error"] == "nonce_used"
