"""The chain event indexer against a real anvil and a real database: mints, transfers, batch
relays, restarts, and reorganisations (anvil_reorg) shallower and deeper than its window."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from web3 import Web3
from web3.logs import DISCARD

from chain.contracts import load_city
from chain.events import WatchedContract, jsonable
from chain.index_store import ChainBlock, ChainEvent, IndexCursor, index_status, indexed_balances, verify_against_chain
from chain.indexer import ChainMoved, Indexer, IndexerConfig
from chain.node import rpc_call
from tests.chain.contracts.helpers import Chain


@pytest.fixture
def evm(w3, anvil, city, compiled, keys) -> Chain:
    """Senders and actors on the session's city deployment (reverted after the test)."""
    chain = Chain(w3, anvil, load_city(w3, city.manifest, compiled), keys)
    chain.grant_operator()
    return chain


@pytest.fixture
def make_indexer(w3, city, compiled, engine, sessions, tmp_path) -> Callable[..., Indexer]:
    """Factory: a fresh Indexer (a 'process') on the test database, following the city's contracts."""
    contracts = [WatchedContract(name, entry.address, compiled[entry.artifact].abi)
                 for name, entry in sorted(city.manifest.contracts.items())]

    def make(**config: Any) -> Indexer:
        return Indexer(w3=w3, contracts=contracts, start_block=city.manifest.first_block, engine=engine,
                       sessions=sessions, lock_dir=tmp_path / "locks", config=IndexerConfig(**config))

    return make


def _events(sessions, **where: Any) -> list[ChainEvent]:
    with sessions() as session:
        query = select(ChainEvent).order_by(ChainEvent.block_number, ChainEvent.log_index)
        for column, value in where.items():
            query = query.where(getattr(ChainEvent, column) == value)
        return list(session.scalars(query))


def assert_index_matches_chain(sessions, w3: Web3, city, accounts: list[str]) -> None:
    """The index equals the chain: every log of the whole range (by block hash, log index, transaction
    and decoded Transfer arguments), the balance of every given account, and the library's own check."""
    head = w3.eth.block_number
    addresses = [Web3.to_checksum_address(e.address) for e in city.manifest.contracts.values()]
    logs = w3.eth.get_logs({"fromBlock": city.manifest.first_block, "toBlock": head, "address": addresses})
    chain_ids = {("0x" + bytes(e["blockHash"]).hex(), int(e["logIndex"]), "0x" + bytes(e["transactionHash"]).hex())
                 for e in logs}
    indexed = _events(sessions)
    assert {(e.block_hash, e.log_index, e.tx_hash) for e in indexed} == chain_ids
    assert len(indexed) == len(chain_ids)  # no duplicates
    chain_transfers = sorted(
        (int(e["blockNumber"]), int(e["logIndex"]), e["args"]["from"], e["args"]["to"], e["args"]["value"])
        for e in city.coin.events.Transfer().process_receipt({"logs": logs}, errors=DISCARD))
    index_transfers = sorted((e.block_number, e.log_index, e.args["from"], e.args["to"], e.args["value"])
                             for e in indexed if e.event == "Transfer")
    assert index_transfers == chain_transfers
    with sessions() as session:
        cursor = session.get(IndexCursor, "city")
        assert cursor is not None and cursor.last_block == head
        balances = indexed_balances(session)
        for account in accounts:
            assert balances.get(account, 0) == city.coin.functions.balanceOf(account).call(), account
        check = verify_against_chain(session, w3)
    assert check.ok, check.to_dict()
    assert check.accounts_checked >= len([a for a in accounts if balances.get(a)])


def test_indexes_mints_transfers_batch_relays_and_admin_events(evm, w3, city, sessions, make_indexer):
    alice, bob = evm.resident(5_000), evm.resident()
    evm.send(evm.coin.transfer_call(bob.address, 1_200), alice)
    relayed = evm.sign(alice, bob.address, 300)
    skipped = evm.sign(bob, alice.address, 999_999)  # more than bob has: skipped, not reverted
    batch = evm.send(evm.coin.batch_call([relayed, skipped]), evm.operator)
    evm.send(evm.coin.freeze_call(bob.address), evm.operator)
    evm.send(evm.coin.unfreeze_call(bob.address), evm.operator)

    indexer = make_indexer()
    written = indexer.catch_up()

    names = {e.event for e in _events(sessions)}
    assert {"Attested", "Minted", "Transfer", "AuthorizationUsed", "AuthorizationSkipped",
            "AccountFrozen", "AccountUnfrozen", "RoleGranted"} <= names
    assert written == len(_events(sessions))
    direct = [e for e in _events(sessions, event="Transfer") if e.args["from"] == alice.address]
    assert [(e.args["to"], e.args["value"]) for e in direct] == [(bob.address, 1_200), (bob.address, 300)]
    batch_hash = "0x" + bytes(batch["transactionHash"]).hex()
    in_batch = {e.event for e in _events(sessions, tx_hash=batch_hash)}
    assert in_batch == {"Transfer", "AuthorizationUsed", "AuthorizationSkipped"}
    (skip,) = _events(sessions, event="AuthorizationSkipped")
    assert skip.args["from"] == bob.address and skip.args["ref"] == "0x" + skipped.ref.hex()
    assert skip.contract_name == "RegionalCoin" and skip.contract == city.coin.address
    assert_index_matches_chain(sessions, w3, city, [alice.address, bob.address])
    with sessions() as session:
        assert indexed_balances(session)[alice.address] == 5_000 - 1_200 - 300
    # The indexer's own decoding agrees with web3's for every event of every watched contract.
    by_id = {(e.block_hash, e.log_index): e for e in _events(sessions)}
    contracts = {c.address: c for c in (city.registry, city.coin, city.ledger)}
    logs = w3.eth.get_logs({"fromBlock": city.manifest.first_block, "toBlock": w3.eth.block_number,
                            "address": list(contracts)})
    for entry in logs:
        indexed = by_id["0x" + bytes(entry["blockHash"]).hex(), int(entry["logIndex"])]
        decoded = contracts[entry["address"]].events[indexed.event]().process_log(entry)
        assert indexed.args == jsonable(dict(decoded["args"])), indexed.event


def test_a_restarted_indexer_continues_from_its_cursor_without_duplicates(evm, w3, city, sessions, make_indexer):
    alice, bob = evm.resident(1_000), evm.resident()
    first = make_indexer()
    first.catch_up()
    before = len(_events(sessions))
    assert first.poll() is None  # nothing new: nothing written

    restarted = make_indexer()  # a new process: only the database remembers
    assert restarted.poll() is None
    assert len(_events(sessions)) == before
    evm.send(evm.coin.transfer_call(bob.address, 400), alice)
    evm.send(evm.coin.mint_call(bob.address, 50), evm.topup)
    again = make_indexer()
    assert again.catch_up() == len(_events(sessions)) - before > 0
    events = _events(sessions)
    assert len({(e.block_hash, e.log_index) for e in events}) == len(events)
    assert_index_matches_chain(sessions, w3, city, [alice.address, bob.address])


def _mint_json(evm: Chain, to: str, amount: int) -> dict[str, str]:
    call = evm.coin.mint_call(to, amount)
    return {"from": evm.topup, "to": call.to, "data": "0x" + call.data.hex(), "gas": hex(300_000)}


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_after_a_reorg_the_index_equals_the_chain(depth, evm, w3, anvil, city, sessions, make_indexer):
    alice, bob, carol = evm.resident(), evm.resident(), evm.resident()
    for n in range(depth):  # one block per transaction: the last `depth` blocks all hold events
        evm.send(evm.coin.mint_call(alice.address, 100 + n), evm.topup)
    indexer = make_indexer(window=8)
    indexer.catch_up()
    head = w3.eth.block_number
    orphaned = {"0x" + bytes(w3.eth.get_block(n)["hash"]).hex() for n in range(head - depth + 1, head + 1)}
    assert {e.block_hash for e in _events(sessions)} & orphaned

    # The same height again, with different transactions: mints to bob and carol instead of alice.
    replacements = [[_mint_json(evm, (bob, carol)[i % 2].address, 7 + i), i] for i in range(depth)]
    rpc_call(anvil.url, "anvil_reorg", [depth, replacements])
    assert w3.eth.block_number == head

    result = indexer.poll()
    assert result is not None and result.rewound_to == head - depth and not result.deep
    assert not {e.block_hash for e in _events(sessions)} & orphaned
    minted = sorted((e.args["to"], e.args["amount"]) for e in _events(sessions, event="Minted")
                    if e.block_number > head - depth)
    assert minted == sorted(((bob, carol)[i % 2].address, 7 + i) for i in range(depth))
    assert_index_matches_chain(sessions, w3, city, [alice.address, bob.address, carol.address])
    with sessions() as session:
        assert session.get(IndexCursor, "city").reorgs == 1
        window = list(session.scalars(select(ChainBlock.hash).where(ChainBlock.number > head - depth)))
        assert not set(window) & orphaned


def test_a_reorg_deeper_than_the_window_re_indexes_from_a_safe_point(evm, w3, anvil, city, sessions, make_indexer):
    alice, bob = evm.resident(), evm.resident()
    for n in range(6):
        evm.send(evm.coin.mint_call(alice.address, 10 + n), evm.topup)
    indexer = make_indexer(window=2)
    indexer.catch_up()
    head = w3.eth.block_number
    with sessions() as session:  # only the tip window of hashes is kept
        assert session.scalar(select(func.count()).select_from(ChainBlock)) == 2
    depth = 5
    orphaned = {"0x" + bytes(w3.eth.get_block(n)["hash"]).hex() for n in range(head - depth + 1, head + 1)}
    rpc_call(anvil.url, "anvil_reorg", [depth, [[_mint_json(evm, bob.address, 1_000), 0]]])

    result = indexer.poll()
    assert result is not None and result.deep
    assert result.rewound_to is not None and result.rewound_to <= head - depth
    indexer.catch_up()
    assert not {e.block_hash for e in _events(sessions)} & orphaned
    assert_index_matches_chain(sessions, w3, city, [alice.address, bob.address])
    with sessions() as session:
        assert indexed_balances(session)[bob.address] == 1_000


def test_a_chain_that_got_shorter_is_rewound(evm, w3, anvil, city, sessions, make_indexer):
    alice = evm.resident(500)
    snapshot = rpc_call(anvil.url, "evm_snapshot")
    for _ in range(3):
        evm.send(evm.coin.mint_call(alice.address, 1), evm.topup)
    indexer = make_indexer()
    indexer.catch_up()
    rpc_call(anvil.url, "evm_revert", [snapshot])  # back three blocks, nothing mined since
    result = indexer.poll()
    assert result is not None and result.rewound_to == w3.eth.block_number and result.events == 0
    assert_index_matches_chain(sessions, w3, city, [alice.address])


def test_confirmed_is_derivable_from_the_depth(evm, w3, anvil, sessions, make_indexer):
    alice = evm.resident()
    indexer = make_indexer(confirmations=3)
    indexer.catch_up()
    evm.send(evm.coin.mint_call(alice.address, 5), evm.topup)
    indexer.catch_up()
    (minted,) = _events(sessions, event="Minted")
    head = w3.eth.block_number
    assert not minted.confirmed(head, 3)
    with sessions() as session:
        status = index_status(session, 3)
    assert status["confirmed_events"] < status["events"]
    for _ in range(2):
        rpc_call(anvil.url, "evm_mine")
    indexer.catch_up()
    assert minted.confirmed(w3.eth.block_number, 3)
    with sessions() as session:
        status = index_status(session, 3)
    assert status["confirmed_events"] == status["events"] and status["last_block"] == head + 2


def test_only_one_indexer_per_database_and_a_stale_writer_cannot_corrupt(evm, sessions, make_indexer):
    first, second = make_indexer(), make_indexer()
    assert first.lock.try_acquire()
    try:
        assert not second.lock.try_acquire()
    finally:
        first.lock.release()
    alice = evm.resident()
    first.catch_up()
    # A writer that planned on an old cursor loses the compare-and-set and writes nothing.
    evm.send(evm.coin.mint_call(alice.address, 9), evm.topup)
    count = len(_events(sessions))
    stale_plan = second._plan(second.w3.eth.block_number)
    first.catch_up()
    with pytest.raises(ChainMoved):
        second._write(stale_plan, [], [], 0, stale_plan.base)
    assert len(_events(sessions)) == count + 2  # Minted + Transfer, once
