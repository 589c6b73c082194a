"""The chain boundary the service reads through: coin calldata decoded into movements
(``chain.calldata``), receipts (``chain.receipts``) and one-block balance snapshots
(``chain.balances``) — against a real anvil and the city's coin."""

from __future__ import annotations

import os
import time

import pytest
from eth_account import Account

from chain.balances import coin_snapshot
from chain.calldata import CoinMovement, Movement, batch_item_movement, coin_movement
from chain.contracts.authorization import random_nonce
from chain.contracts.base import send_call
from chain.contracts.coin import RegionalCoinClient
from chain.contracts.registry import AssuranceLevel, IdentityRegistryClient
from chain.faults import RpcProxy
from chain.receipts import ReceiptNotFound, fetch_receipt, recoveries
from chain.rpc import connect, is_unreachable


@pytest.fixture
def coin(w3, city) -> RegionalCoinClient:
    return RegionalCoinClient(w3, city.coin.address, city.coin.abi)


def test_coin_calls_decode_into_who_pays_whom(coin):
    alice, bob, sender = (Account.create() for _ in range(3))
    assert coin_movement(coin.mint_call(alice.address, 500).data, sender.address) == CoinMovement(
        Movement.MINT, None, alice.address, 500)
    assert coin_movement(coin.redeem_call(70, os.urandom(32)).data, sender.address.lower()) == CoinMovement(
        Movement.REDEEM, sender.address, None, 70)
    assert coin_movement(coin.transfer_call(bob.address, 9).data, sender.address) == CoinMovement(
        Movement.TRANSFER, sender.address, bob.address, 9)
    assert coin_movement(coin.execute_recovery_call(alice.address).data, sender.address) == CoinMovement(
        Movement.RECOVER, alice.address, None, 0)
    auth = coin.sign_authorization(alice, bob.address, 1_234, nonce=random_nonce(),
                                   valid_before=int(time.time()) + 600)
    relayed = CoinMovement(Movement.AUTHORIZATION, alice.address, bob.address, 1_234)
    assert coin_movement(coin.transfer_with_authorization_call(auth).data, sender.address) == relayed
    assert batch_item_movement(auth.encode()) == relayed
    # calls that move no coins
    assert coin_movement(coin.freeze_call(alice.address).data, sender.address) is None
    assert coin_movement(coin.pause_call().data, sender.address) is None


def test_receipts_and_recoveries(w3, coin, test_operator, city):
    registry = IdentityRegistryClient(w3, city.registry.address, city.registry.abi)
    wallet = Account.create()
    send_call(w3, test_operator, registry.attest_call(wallet.address, os.urandom(32), AssuranceLevel.RESIDENT_OF_CITY,
                                                      int(time.time()) + 86400, os.urandom(32)))
    minted = send_call(w3, test_operator, coin.mint_call(wallet.address, 42))
    tx_hash = "0x" + bytes(minted["transactionHash"]).hex().removeprefix("0x")
    assert fetch_receipt(w3, tx_hash)["status"] == 1
    assert recoveries(coin, tx_hash) == []  # a mint recovers nothing
    with pytest.raises(ReceiptNotFound):
        fetch_receipt(w3, "0x" + "ab" * 32)


def test_a_node_outage_is_unreachable_not_a_missing_receipt(anvil):
    with RpcProxy(anvil.url) as proxy:
        through = connect(proxy.url, timeout=1.0)
        proxy.down("refuse")
        with pytest.raises(Exception) as failed:
            fetch_receipt(through, "0x" + "ab" * 32)
    assert not isinstance(failed.value, ReceiptNotFound)
    assert is_unreachable(failed.value), repr(failed.value)


def test_a_snapshot_reads_balances_and_supply_at_one_block(w3, coin, test_operator, city):
    registry = IdentityRegistryClient(w3, city.registry.address, city.registry.abi)
    wallets = [Account.create().address for _ in range(2)]
    for wallet in wallets:
        send_call(w3, test_operator, registry.attest_call(wallet, os.urandom(32), AssuranceLevel.RESIDENT_OF_CITY,
                                                          int(time.time()) + 86400, os.urandom(32)))
    send_call(w3, test_operator, coin.mint_call(wallets[0], 300))
    before = coin_snapshot(coin, [w.lower() for w in wallets])
    send_call(w3, test_operator, coin.mint_call(wallets[1], 5))
    assert before.balances == {wallets[0]: 300, wallets[1]: 0}  # keys checksummed
    assert before.total_supply == coin.total_supply() - 5  # read at its block, not after the second mint
    assert before.block == w3.eth.block_number - 1
