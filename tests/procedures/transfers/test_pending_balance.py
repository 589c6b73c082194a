"""What counts as "in progress" against a balance: only what the chain balance does not reflect yet.

With a deep confirmation depth, a batch can be in a block (so already out of the payer's chain
balance) for a while before its transfers are confirmed. Counting it again would refuse an exactly
funded payer until the depth is reached.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from chain.node import rpc_call
from chain.outbox import ChainTx, TxIntent, TxStatus
from tests.procedures.conftest import sign
from tests.procedures.transfers.test_transfers import _send

CONFIRMATIONS = 40


@pytest.fixture
def settings(settings):
    # deep enough that the service's own transactions (anchors, registrations) in the background cannot
    # confirm a batch while the test looks at it in a block (at 3 they sometimes did: the mint was final
    # before the test saw it "in a block")
    settings.confirmations = CONFIRMATIONS
    settings.topup_bonus_bps = 0  # exact amounts
    return settings


def _in_a_block(runtime, reference: str) -> bool:
    """The relayer has seen the outbox intent ``reference``'s transaction in a block (not yet deep enough)."""
    with runtime.sessions() as session:
        return session.scalar(
            select(ChainTx.id)
            .join(TxIntent, (ChainTx.sender == TxIntent.sender) & (ChainTx.nonce == TxIntent.nonce))
            .where(TxIntent.reference == reference, ChainTx.status == TxStatus.MINED)
        ) is not None


def _until(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def _deepen(rpc_url: str) -> None:
    """Mine the blocks that make what is in a block now final (nothing else makes that many here)."""
    rpc_call(rpc_url, "anvil_mine", [hex(CONFIRMATIONS)])


def _mine_until_final(client, resident, transfer_id: str, rpc_url: str) -> dict:
    deadline = time.monotonic() + 30
    while (body := client.get(f"/v1/transfers/{transfer_id}", headers=resident.headers).json())["status"] not in (
            "confirmed", "failed"):
        assert time.monotonic() < deadline, f"transfer {transfer_id} not final: {body}"
        _deepen(rpc_url)
        time.sleep(0.1)
    return body


def test_a_payment_already_in_a_block_is_not_counted_twice(client, coin, make_resident, arrange, runtime, anvil):
    alice, bob, carol, dave = make_resident(coins=1_000), make_resident(), make_resident(), make_resident()
    first = _send(client, alice, sign(coin, alice.account, bob.address, 600))
    assert first.status_code == 202, first.text

    _until(lambda: _in_a_block(runtime, first.json()["id"]), "the first batch to be in a block")
    assert arrange.balance(alice.address) == 400  # out of the chain balance ...
    status = client.get(f"/v1/transfers/{first.json()['id']}", headers=alice.headers).json()["status"]
    assert status == "submitted"  # ... but not yet three blocks deep
    balance = client.get("/v1/wallet/balance", headers=alice.headers).json()
    assert (balance["balance"], balance["pending_out"], balance["available"]) == (400, 0, 400)

    second = _send(client, alice, sign(coin, alice.account, carol.address, 400))
    assert second.status_code == 202, second.text  # the remaining 400 may be spent
    third = _send(client, alice, sign(coin, alice.account, dave.address, 1))
    assert third.status_code == 409 and third.json()["error"]["code"] == "insufficient_balance"

    for transfer in (first, second):
        assert _mine_until_final(client, alice, transfer.json()["id"], anvil.url)["status"] == "confirmed"
    assert [arrange.balance(r.address) for r in (alice, bob, carol, dave)] == [0, 600, 400, 0]


def test_a_top_up_already_in_a_block_is_not_counted_twice(client, operator, second_operator, coin, make_resident,
                                                          arrange, runtime, anvil):
    """The same for top-ups: a mint in a block is in the balance and out of the minter's allowance."""
    from chain.contracts.registry import AssuranceLevel

    alice = make_resident()
    cap = coin.balance_cap(AssuranceLevel(2))
    body = {"wallet": alice.address, "channel": "counter", "location": "加賀市役所 1F"}
    first = client.post("/v1/admin/topups", headers=operator, json={**body, "amount": cap - 1_000,
                                                                     "reference": "slip-a"})
    assert first.status_code == 201, first.text
    # nearly the whole cap is over the four-eyes amount: a second staff member approves it
    assert first.json()["status"] == "awaiting", first.json()
    approved = client.post(f"/v1/admin/topups/{first.json()['id']}/approve", headers=second_operator)
    assert approved.status_code == 200, approved.text
    _until(lambda: _mint_in_a_block(runtime, first.json()["id"]), "the first mint to be in a block")
    assert arrange.balance(alice.address) == cap - 1_000
    assert client.get(f"/v1/admin/topups/{first.json()['id']}", headers=operator).json()["status"] == "pending"
    second = client.post("/v1/admin/topups", headers=operator, json={**body, "amount": 1_000, "reference": "slip-b"})
    assert second.status_code == 201, second.text  # exactly up to the cap
    third = client.post("/v1/admin/topups", headers=operator, json={**body, "amount": 1, "reference": "slip-c"})
    assert third.status_code == 409 and third.json()["error"]["code"] == "balance_cap_exceeded"
    deadline = time.monotonic() + 30
    while arrange.balance(alice.address) < cap or any(
            client.get(f"/v1/admin/topups/{t.json()['id']}", headers=operator).json()["status"] == "pending"
            for t in (first, second)):
        assert time.monotonic() < deadline, "top-ups not confirmed"
        _deepen(anvil.url)
        time.sleep(0.1)
    assert arrange.balance(alice.address) == cap


def _mint_in_a_block(runtime, topup_id: str) -> bool:
    from procedures.settlement.models import TopUp

    with runtime.sessions() as session:
        intent_id = session.get(TopUp, topup_id).intent_id
        reference = session.get(TxIntent, intent_id).reference if intent_id else None
    return reference is not None and _in_a_block(runtime, reference)
