"""The service's chain indexer worker through a reorganisation during relayed payments: the service
confirms transfers only at the confirmation depth, and at the end its view and the index agree
with each other and with the chain (real anvil, real database, the real app and workers)."""

from __future__ import annotations

import json
import time

import pytest
from eth_account import Account
from sqlalchemy import select

from chain.contracts.authorization import random_nonce
from chain.contracts.coin import RegionalCoinClient
from chain.index_store import ChainEvent, IndexCursor, indexed_balances, verify_against_chain
from chain.node import rpc_call
from chain.outbox import ChainTx, TxIntent, TxStatus
from procedures.transfers.models import Transfer
from tests.procedures.conftest import auth_json

CONFIRMATIONS = 3


@pytest.fixture
def settings(settings):
    """Transfers count only three blocks deep."""
    settings.confirmations = CONFIRMATIONS
    return settings


def _wait(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _transfers(runtime, ids: list[str]) -> list[Transfer]:
    with runtime.sessions() as session:
        rows = list(session.scalars(select(Transfer).where(Transfer.id.in_(ids)).order_by(Transfer.id)))
        session.expunge_all()
    return rows


def test_relayed_payments_through_a_reorg_the_service_and_the_index_agree(
    client, runtime, make_resident, arrange, test_operator, w3, anvil, city
):
    coin = RegionalCoinClient(w3, city.coin.address, city.coin.abi)
    alice, bob, carol = make_resident(coins=10_000), make_resident(), make_resident()
    rpc_call(anvil.url, "evm_setAutomine", [False])  # blocks are mined by the test from here on
    ids = []
    for amount in (1_000, 2_000, 3_000):
        auth = coin.sign_authorization(alice.account, bob.address, amount, nonce=random_nonce(),
                                       valid_before=int(time.time()) + 600)
        response = client.post("/v1/transfers", json={"authorization": auth_json(auth)}, headers=alice.headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])

    def relayed_txs() -> list[ChainTx]:
        """The transactions carrying the three transfers (empty until every transfer is in one)."""
        intents = [t.intent_id for t in _transfers(runtime, ids)]
        with runtime.sessions() as session:
            tx_ids = list(session.scalars(select(TxIntent.tx_id).where(TxIntent.id.in_(intents))))
            if len(tx_ids) < len(ids) or None in tx_ids:
                return []
            return list(session.scalars(select(ChainTx).where(ChainTx.id.in_(tx_ids))))

    _wait(lambda: (txs := relayed_txs()) and all(t.status == TxStatus.SENT for t in txs),
          "the relayer to send every transfer")
    for _ in range(CONFIRMATIONS - 1):  # one block short of the depth
        rpc_call(anvil.url, "evm_mine")
    _wait(lambda: all(t.status == TxStatus.MINED for t in relayed_txs()), "the relayed batches to be mined")
    head = w3.eth.block_number
    mined_blocks = sorted({t.block_number for t in relayed_txs()})
    assert all(t.status == "accepted" for t in _transfers(runtime, ids))  # not yet at the depth
    depth = head - mined_blocks[0] + 1
    assert depth == CONFIRMATIONS - 1
    orphaned = {"0x" + bytes(w3.eth.get_block(n)["hash"]).hex() for n in range(head - depth + 1, head + 1)}

    # The reorg takes the relayed batches away and puts a different transaction in their place.
    replacement = coin.mint_call(carol.address, 777).as_transaction(test_operator.address)
    replacement.update({"nonce": w3.eth.get_transaction_count(test_operator.address), "gas": 300_000,
                        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id})
    raw = test_operator.sign_transaction(replacement).raw_transaction
    rpc_call(anvil.url, "anvil_reorg", [depth, [["0x" + bytes(raw).hex(), 0]]])
    assert coin.balance_of(carol.address) == 777

    for _ in range(40):
        current = w3.eth.block_number
        transfers = _transfers(runtime, ids)
        for transfer in transfers:
            if transfer.status == "confirmed":  # never before the depth, on the chain as it is now
                assert transfer.block_number + CONFIRMATIONS - 1 <= current
        if all(t.status == "confirmed" for t in transfers):
            break
        rpc_call(anvil.url, "evm_mine")
        time.sleep(0.2)
    assert [t.status for t in transfers] == ["confirmed"] * 3
    assert coin.balance_of(bob.address) == 6_000  # re-sent, never doubled

    def indexed_to_head():
        with runtime.sessions() as session:
            cursor = session.get(IndexCursor, "city")
            return cursor is not None and cursor.last_block == w3.eth.block_number

    _wait(indexed_to_head, "the indexer worker to reach the head")
    with runtime.sessions() as session:
        check = verify_against_chain(session, w3)
        assert check.ok, check.to_dict()
        events = list(session.scalars(select(ChainEvent)))
        balances = indexed_balances(session)
    assert not {e.block_hash for e in events} & orphaned
    for transfer in transfers:  # the service's record and the index name the same transaction and block
        (relayed,) = [e for e in events if e.event == "AuthorizationUsed"
                      and (e.args["authorizer"], e.args["nonce"]) == (transfer.from_wallet, transfer.nonce)]
        assert (relayed.tx_hash, relayed.block_number) == (transfer.tx_hash, transfer.block_number)
        assert relayed.confirmed(w3.eth.block_number, CONFIRMATIONS)
    for resident in (alice, bob, carol):
        assert balances[resident.address] == coin.balance_of(resident.address)
    assert balances.get(Account.create().address) is None


def test_machi_index_catches_up_verifies_and_shows_in_status(runtime, arrange, anvil, database_url, settings,
                                                               monkeypatch):
    """No workers run here: the command indexes up to the head itself."""
    from click.testing import CliRunner

    from procedures.cli import main as machi
    from procedures.config import get_settings
    from tests.procedures.conftest import service_env

    resident = Account.create().address
    arrange.attest(resident)
    arrange.mint(resident, 2_500)
    for name, value in service_env(anvil, database_url, settings.var_dir).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        indexed = CliRunner().invoke(machi, ["index", "--verify", "--json"])
        status = CliRunner().invoke(machi, ["status"])
    finally:
        get_settings.cache_clear()
    assert indexed.exit_code == 0, indexed.output
    assert "another process" not in indexed.output
    report = json.loads(indexed.stdout)
    assert report["verify"]["ok"] and report["verify"]["accounts_checked"] >= 1
    assert report["status"]["last_block"] == report["verify"]["block"] == runtime.w3.eth.block_number
    assert "indexer" in status.output and f"block {report['status']['last_block']}" in status.output
