"""Gasless transfers over HTTP: validation, batching, double spend, history (real chain + DB)."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from tests.chain.contracts.helpers import sign_key_zero
from tests.procedures.conftest import auth_json, sign


def _send(client, resident, auth, memo=None):
    return client.post("/v1/transfers", json={"authorization": auth_json(auth), "memo": memo},
                       headers=resident.headers)


def _wait(client, resident, transfer_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/transfers/{transfer_id}", headers=resident.headers).json()
        if body["status"] in ("confirmed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"transfer {transfer_id} not final: {body}")


def test_person_to_person_transfer_is_relayed_and_confirmed(client, coin, make_resident, arrange):
    alice, bob = make_resident(coins=5_000), make_resident()
    response = _send(client, alice, sign(coin, alice.account, bob.address, 1_200), memo="lunch")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("accepted", "submitted") and accepted["amount"] == 1_200
    final = _wait(client, alice, accepted["id"])
    assert final["status"] == "confirmed" and final["tx_hash"]
    assert arrange.balance(alice.address) == 3_800 and arrange.balance(bob.address) == 1_200
    # Bob sees it too; a stranger does not.
    assert client.get(f"/v1/transfers/{accepted['id']}", headers=bob.headers).json()["memo"] == "lunch"
    stranger = make_resident()
    assert client.get(f"/v1/transfers/{accepted['id']}", headers=stranger.headers).status_code == 404
    balance = client.get("/v1/wallet/balance", headers=alice.headers).json()
    assert balance["balance"] == 3_800 and balance["available"] == 3_800 and balance["verified"] is True


def test_double_spend_one_confirms_one_is_refused(client, coin, make_resident, arrange):
    alice, bob, carol = make_resident(coins=1_000), make_resident(), make_resident()
    first = _send(client, alice, sign(coin, alice.account, bob.address, 700))
    second = _send(client, alice, sign(coin, alice.account, carol.address, 700))
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "insufficient_balance"
    assert _wait(client, alice, first.json()["id"])["status"] == "confirmed"
    assert arrange.balance(alice.address) == 300 and arrange.balance(carol.address) == 0


def test_balance_spent_elsewhere_fails_in_the_batch_with_the_reason(
    client, coin, make_resident, arrange, anvil, w3
):
    """Accepted, then the payer's coins leave by another path before the relay: the batch skips it."""
    from chain.node import rpc_call

    alice, bob = make_resident(coins=1_000), make_resident()
    rpc_call(anvil.url, "anvil_setBalance", [alice.address, hex(10**18)])
    rpc_call(anvil.url, "evm_setAutomine", [False])  # hold blocks so both race into one block
    try:
        accepted = _send(client, alice, sign(coin, alice.account, bob.address, 900))
        assert accepted.status_code == 202
        # Alice pays 500 on chain directly (plain ERC-20 transfer), mined before the relay's batch.
        direct = coin.transfer_call(bob.address, 500)
        tx = direct.as_transaction(alice.address)
        tx.update({"nonce": w3.eth.get_transaction_count(alice.address), "gas": 200_000,
                   "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 5 * 10**10, "chainId": w3.eth.chain_id})
        w3.eth.send_raw_transaction(alice.account.sign_transaction(tx).raw_transaction)
        time.sleep(0.6)  # the relayer sends its batch (lower tip) into the same pool
    finally:
        rpc_call(anvil.url, "evm_setAutomine", [True])
        rpc_call(anvil.url, "evm_mine")
    final = _wait(client, alice, accepted.json()["id"])
    assert final["status"] == "failed"
    assert final["failure_code"] == "insufficient_balance"
    assert "balance" in final["failure_message"]
    assert arrange.balance(alice.address) == 500 and arrange.balance(bob.address) == 500


@pytest.mark.parametrize("case,code,status", [
    ("wrong_signer", "invalid_signature", 422),
    ("expired", "authorization_expired", 422),
    ("too_long", "validity_too_long", 422),
    ("not_yet_valid", "authorization_not_yet_valid", 422),
    ("unverified_recipient", "recipient_not_verified", 409),
    ("over_balance", "insufficient_balance", 409),
    ("nonce_key_zero", "nonce_key_zero", 422),  # the permit's nonce key: a permit and a payment must not collide
])
def test_bad_authorizations_are_refused_before_queueing(client, coin, make_resident, case, code, status):
    alice, bob = make_resident(coins=100), make_resident()
    now = int(time.time())
    if case == "wrong_signer":
        forged = sign(coin, Account.create(), bob.address, 10)
        auth = forged.__class__(**{**forged.__dict__, "from_": alice.address})
    elif case == "expired":
        auth = sign(coin, alice.account, bob.address, 10, valid_before=now + 5)
    elif case == "too_long":
        auth = sign(coin, alice.account, bob.address, 10, valid_before=now + 3 * 86400)
    elif case == "not_yet_valid":
        auth = sign(coin, alice.account, bob.address, 10, valid_after=now + 120, valid_before=now + 600)
    elif case == "nonce_key_zero":
        auth = sign_key_zero(coin, alice.account, bob.address, 10, now + 600)
    elif case == "unverified_recipient":
        auth = sign(coin, alice.account, Account.create().address, 10)
    else:
        auth = sign(coin, alice.account, bob.address, 101)
    response = _send(client, alice, auth)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert client.get("/v1/wallet/history", headers=alice.headers).json()["data"] == []


def test_a_resent_authorization_gets_the_first_transfer_and_a_reused_nonce_is_refused(
        client, coin, make_resident, arrange):
    """A wallet that lost the answer sends the same signed authorization again: same transfer, paid once."""
    alice, bob = make_resident(coins=100), make_resident()
    auth = sign(coin, alice.account, bob.address, 10)
    first = _send(client, alice, auth)
    assert first.status_code == 202
    resent = _send(client, alice, auth)
    assert resent.status_code == 202 and resent.json()["id"] == first.json()["id"]
    other = sign(coin, alice.account, bob.address, 11, nonce=auth.nonce)  # another payment under the same nonce
    refused = _send(client, alice, other)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "nonce_used"
    _wait(client, alice, first.json()["id"])
    again = _send(client, alice, auth)  # after confirmation too: the first transfer, now confirmed
    assert again.status_code == 202 and (again.json()["id"], again.json()["status"]) == (first.json()["id"],
                                                                                         "confirmed")
    assert len(client.get("/v1/wallet/history", headers=alice.headers).json()["data"]) == 1
    assert arrange.balance(bob.address) == 10 and arrange.balance(alice.address) == 90


def test_cannot_send_from_someone_elses_wallet(client, coin, make_resident):
    alice, bob = make_resident(coins=100), make_resident()
    response = _send(client, bob, sign(coin, alice.account, bob.address, 10))
    assert response.status_code == 403


def test_requests_without_a_token_are_refused(client):
    assert client.get("/v1/wallet/balance").status_code == 401
    assert client.get("/v1/coin").status_code == 401


def test_history_is_paginated(client, coin, make_resident):
    alice, bob = make_resident(coins=100), make_resident()
    ids = [_send(client, alice, sign(coin, alice.account, bob.address, 1)).json()["id"] for _ in range(5)]
    first = client.get("/v1/wallet/history?limit=2", headers=alice.headers).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    second = client.get(f"/v1/wallet/history?limit=2&starting_after={first['next_cursor']}",
                        headers=alice.headers).json()
    third = client.get(f"/v1/wallet/history?limit=2&starting_after={second['next_cursor']}",
                       headers=alice.headers).json()
    seen = [t["id"] for page in (first, second, third) for t in page["data"]]
    assert sorted(seen) == sorted(ids) and third["has_more"] is False
    bad = client.get("/v1/wallet/history?limit=500", headers=alice.headers)
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "limit"


def test_treasury_is_bootstrapped_as_a_city_account(client, runtime):
    from chain.contracts.registry import Kind
    from procedures.transfers.custodial import treasury_address

    with runtime.sessions() as session:
        treasury = treasury_address(session)
    assert treasury is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not runtime.registry.is_verified(treasury):
        time.sleep(0.05)
    assert runtime.registry.status(treasury).kind is Kind.CITY
