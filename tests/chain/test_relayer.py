"""The outbox relayer against a real anvil and a real database."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from sqlalchemy import select
from web3.types import TxReceipt

from chain.batching import ItemOutcome
from chain.fees import FeeModel, FeePolicy, Fees, build_transaction
from chain.node import rpc_call
from chain.outbox import ChainTx, IntentStatus, TxIntent, TxStatus, enqueue, wait_for_intent
from chain.relayer import Relayer, RelayerConfig
from chain.roles import Allowlist
from chain.rpc import connect
from chain.storage import transaction
from chain.toolchain import PROJECT_ROOT


def _calldata(contract, fn: str, *args) -> bytes:
    return bytes.fromhex(contract.encode_abi(fn, list(args))[2:])


class CounterBatcher:
    """Batches Counter.increment calls through Counter.incrementMany; 13s are skipped."""

    def __init__(self, counter) -> None:
        self.counter = counter

    def encode(self, items: Sequence[bytes]) -> bytes:
        values = [abi_decode(["uint256"], item)[0] for item in items]
        return _calldata(self.counter, "incrementMany", values)

    def outcomes(self, receipt: TxReceipt, items: Sequence[bytes]) -> list[ItemOutcome]:
        applied = [e["args"]["by"] for e in self.counter.events.Incremented().process_receipt(receipt)]
        result = []
        for item in items:
            value = abi_decode(["uint256"], item)[0]
            if value in applied:
                applied.remove(value)
                result.append(ItemOutcome(ok=True))
            else:
                result.append(ItemOutcome(ok=False, error_code="Skipped", error_message=f"{value} refused"))
        return result


@pytest.fixture
def make_relayer(w3, keys, engine, sessions, tmp_path, counter) -> Iterator:
    started: list[tuple[Relayer, threading.Event, threading.Thread]] = []
    allowlist = Allowlist.of("counter", {counter.address: counter.abi},
                             {counter.address: ["increment", "incrementMany"]})

    def make(start: bool = True, **config) -> Relayer:
        relayer = Relayer(
            w3=connect(w3.provider.endpoint_uri), account=keys.relayer, engine=engine, session_factory=sessions,
            lock_dir=tmp_path / "locks", config=RelayerConfig(poll_interval=0.01, **config), allowlist=allowlist,
        )
        if start:
            stop = threading.Event()
            thread = threading.Thread(target=relayer.run, args=(stop,), daemon=True)
            thread.start()
            started.append((relayer, stop, thread))
        return relayer

    yield make
    for _, stop, thread in started:
        stop.set()
        thread.join(10)


def _enqueue_increment(sessions, keys, counter, by: int, **kwargs) -> int:
    with transaction(sessions) as session:
        return enqueue(
            session, sender=keys.relayer.address, to=counter.address,
            data=_calldata(counter, "increment", by), kind="counter.increment", **kwargs,
        ).id


def test_200_concurrent_intents_get_distinct_nonces_and_all_confirm(w3, keys, counter, sessions, make_relayer):
    make_relayer()
    start_value = counter.functions.value().call()
    ids: list[int] = []
    lock = threading.Lock()

    def producer(n: int) -> None:
        for _ in range(20):
            intent_id = _enqueue_increment(sessions, keys, counter, 1)
            with lock:
                ids.append(intent_id)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [wait_for_intent(sessions, i, timeout=120) for i in ids]

    assert len(ids) == 200
    assert all(r.status == IntentStatus.CONFIRMED for r in results)
    assert len({r.nonce for r in results}) == 200
    assert len({r.tx_hash for r in results}) == 200
    assert counter.functions.value().call() == start_value + 200
    with sessions() as session:
        txs = list(session.scalars(select(ChainTx)))
    assert len(txs) == 200 and all(t.status == TxStatus.CONFIRMED for t in txs)
    for r in results[:5]:  # the recorded hashes are the ones the chain mined
        assert w3.eth.get_transaction_receipt(r.tx_hash)["status"] == 1


def test_reverting_call_fails_with_the_decoded_custom_error(keys, counter, sessions, make_relayer):
    make_relayer()
    bad = _enqueue_increment(sessions, keys, counter, 13)
    good = _enqueue_increment(sessions, keys, counter, 2)
    failed = wait_for_intent(sessions, bad, timeout=30)
    assert failed.status == IntentStatus.FAILED
    assert failed.error_code == "CounterRefused"
    assert failed.result == {"name": "CounterRefused", "args": {"value": 13, "caller": keys.relayer.address}}
    assert failed.tx_hash is None  # refused before signing: no nonce was spent
    assert wait_for_intent(sessions, good, timeout=30).status == IntentStatus.CONFIRMED


def test_enqueue_with_the_same_reference_is_idempotent(keys, counter, sessions):
    first = _enqueue_increment(sessions, keys, counter, 1, reference="order-1")
    second = _enqueue_increment(sessions, keys, counter, 1, reference="order-1")
    assert first == second
    with sessions() as session:
        assert len(list(session.scalars(select(TxIntent)))) == 1


def test_confirmation_depth_is_respected(w3, anvil, keys, counter, sessions, make_relayer):
    make_relayer(confirmations=3)
    intent_id = _enqueue_increment(sessions, keys, counter, 1)
    # The transaction is mined at once (automine) but must wait for two more blocks.
    deadline = time.monotonic() + 10
    mined = None
    while time.monotonic() < deadline:
        with sessions() as session:
            tx = session.scalar(select(ChainTx))
            if tx is not None and tx.status == TxStatus.MINED:
                mined = tx
                break
        time.sleep(0.05)
    assert mined is not None, "transaction never reached 'mined'"
    time.sleep(0.3)
    with sessions() as session:
        assert session.get(TxIntent, intent_id).status == IntentStatus.PENDING
    rpc_call(anvil.url, "evm_mine")
    time.sleep(0.3)
    with sessions() as session:
        assert session.get(TxIntent, intent_id).status == IntentStatus.PENDING
    rpc_call(anvil.url, "evm_mine")
    assert wait_for_intent(sessions, intent_id, timeout=10).status == IntentStatus.CONFIRMED


def test_batch_carries_many_calls_in_one_transaction(keys, counter, sessions, make_relayer):
    relayer = make_relayer(start=False, batch_max_size=10, batch_max_wait=0.0)
    relayer.batchers["counter"] = CounterBatcher(counter)
    before = counter.functions.value().call()
    ids = []
    with transaction(sessions) as session:
        for value in [1, 2, 13, 4, 5]:
            ids.append(enqueue(
                session, sender=keys.relayer.address, to=counter.address, kind="counter.increment",
                data=_calldata(counter, "increment", value),
                batch_key="counter", batch_item=abi_encode(["uint256"], [value]),
            ).id)
    for _ in range(20):
        relayer.step()
    results = [wait_for_intent(sessions, i, timeout=5) for i in ids]
    assert [r.status for r in results] == ["confirmed", "confirmed", "failed", "confirmed", "confirmed"]
    assert results[2].error_code == "Skipped"
    assert len({r.tx_hash for r in results}) == 1
    assert counter.functions.value().call() == before + 12


def test_fee_bump_replaces_a_stuck_transaction(w3, anvil, keys, counter, sessions, make_relayer):
    rpc_call(anvil.url, "evm_setAutomine", [False])
    relayer = make_relayer(start=False, bump_after=0.2)
    intent_id = _enqueue_increment(sessions, keys, counter, 7)
    relayer.step()  # signs and sends; no block is mined
    with sessions() as session:
        first = session.scalar(select(ChainTx))
    assert first.status == TxStatus.SENT
    time.sleep(0.3)
    relayer.step()  # stuck for longer than bump_after → replaced with higher fees
    with sessions() as session:
        txs = list(session.scalars(select(ChainTx).order_by(ChainTx.id)))
    assert len(txs) == 2
    assert txs[1].nonce == txs[0].nonce and txs[1].replaces_id == txs[0].id
    assert int(txs[1].max_fee_per_gas) > int(txs[0].max_fee_per_gas)
    rpc_call(anvil.url, "evm_mine")
    relayer.step()
    intent = wait_for_intent(sessions, intent_id, timeout=5)
    assert intent.status == IntentStatus.CONFIRMED
    assert intent.tx_hash == txs[1].tx_hash
    with sessions() as session:
        statuses = [t.status for t in session.scalars(select(ChainTx).order_by(ChainTx.id))]
    assert statuses == [TxStatus.REPLACED, TxStatus.CONFIRMED]
    assert w3.eth.get_transaction_receipt(txs[1].tx_hash)["status"] == 1


# --------------------------------------------------------------------------- other processes
def _worker(anvil, database_url, key: str, lock_dir: Path, seconds: float, crash_at: str | None = None,
            counter: str = ""):
    url, schema = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.relayer_worker", anvil.url, url, schema or "-", key,
         str(lock_dir), str(seconds), crash_at or "-", counter],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("crash_at", ["after_persist", "after_send"])
def test_crash_between_send_and_record_neither_loses_nor_doubles(
    crash_at, w3, anvil, keys, counter, sessions, database_url, tmp_path
):
    before = counter.functions.value().call()
    nonce_before = w3.eth.get_transaction_count(keys.relayer.address)
    intent_id = _enqueue_increment(sessions, keys, counter, 5)

    crashed = _worker(anvil, database_url, keys.relayer.key.hex(), tmp_path, 30, crash_at=crash_at,
                      counter=counter.address)
    crashed.communicate(timeout=60)
    assert crashed.returncode == 86, "the worker should have died at the crash point"
    with sessions() as session:
        tx = session.scalar(select(ChainTx))
        assert tx is not None and tx.status == TxStatus.SIGNED  # persisted, never marked sent
        assert session.get(TxIntent, intent_id).status == IntentStatus.PENDING

    restarted = _worker(anvil, database_url, keys.relayer.key.hex(), tmp_path, 30, counter=counter.address)
    out, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err

    intent = wait_for_intent(sessions, intent_id, timeout=5)
    assert intent.status == IntentStatus.CONFIRMED
    assert counter.functions.value().call() == before + 5  # executed exactly once
    assert w3.eth.get_transaction_count(keys.relayer.address) == nonce_before + 1
    assert intent.tx_hash == tx.tx_hash  # the very transaction signed before the crash


def test_two_sender_processes_only_one_sends(w3, anvil, keys, counter, sessions, database_url, tmp_path):
    before = counter.functions.value().call()
    ids = [_enqueue_increment(sessions, keys, counter, 1) for _ in range(40)]
    procs = [_worker(anvil, database_url, keys.relayer.key.hex(), tmp_path, 45, counter=counter.address)
             for _ in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    results = [wait_for_intent(sessions, i, timeout=5) for i in ids]
    assert all(r.status == IntentStatus.CONFIRMED for r in results)
    assert counter.functions.value().call() == before + 40
    with sessions() as session:
        senders = {t.sent_by for t in session.scalars(select(ChainTx))}
    assert len(senders) == 1, f"more than one process sent: {senders}"
    assert sorted(r["sent"] for r in reports) == [0, 40]


def test_reorg_before_the_confirmation_depth_re_sends_and_confirms_exactly_once(
    w3, anvil, keys, counter, sessions, make_relayer
):
    make_relayer(confirmations=4, rebroadcast_after=0.1)
    before = counter.functions.value().call()
    ids = [_enqueue_increment(sessions, keys, counter, 1) for _ in range(3)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sessions() as session:
            statuses = [t.status for t in session.scalars(select(ChainTx))]
        if len(statuses) == 3 and all(s == TxStatus.MINED for s in statuses):
            break
        time.sleep(0.05)
    assert statuses == [TxStatus.MINED] * 3
    mined_blocks = {w3.eth.get_transaction_receipt(i.tx_hash)["blockNumber"]
                    for i in [wait_for_intent_pending(sessions, x) for x in ids]}
    hashes = [wait_for_intent_pending(sessions, x).tx_hash for x in ids]
    rpc_call(anvil.url, "evm_setAutomine", [False])  # re-sent transactions wait for our evm_mine
    rpc_call(anvil.url, "anvil_reorg", [2, []])  # the last two blocks vanish with their transactions
    from web3.exceptions import TransactionNotFound

    gone = 0
    for tx_hash in hashes:
        try:
            w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            gone += 1
    assert gone == 2, "the reorg should have dropped two of the three transactions"
    with sessions() as session:  # nothing was confirmed before the depth was reached
        assert all(session.get(TxIntent, i).status == IntentStatus.PENDING for i in ids)
    for _ in range(8):
        rpc_call(anvil.url, "evm_mine")
        time.sleep(0.15)
    results = [wait_for_intent(sessions, i, timeout=20) for i in ids]
    assert all(r.status == IntentStatus.CONFIRMED for r in results)
    assert counter.functions.value().call() == before + 3  # re-sent, never doubled
    for r in results:  # every recorded hash is on the canonical chain now
        assert w3.eth.get_transaction_receipt(r.tx_hash)["status"] == 1
    assert len(mined_blocks) == 3


def wait_for_intent_pending(sessions, intent_id):
    with sessions() as session:
        intent = session.get(TxIntent, intent_id)
        session.expunge(intent)
        return intent


def test_a_receipt_that_appears_late_is_not_mistaken_for_a_foreign_nonce(w3, keys, counter, sessions, make_relayer):
    """The node mines our transaction between the receipt lookup and the nonce read: never re-send."""
    relayer = make_relayer(start=False)
    before = counter.functions.value().call()
    intent_id = _enqueue_increment(sessions, keys, counter, 3)
    relayer.step()  # signed, sent and (automine) mined
    real_receipt = relayer.ctx.receipt
    misses: set[str] = set()

    def late_receipt(tx_hash):
        if tx_hash not in misses:  # the first lookup of each hash comes "too early"
            misses.add(tx_hash)
            return None
        return real_receipt(tx_hash)

    relayer.ctx.receipt = late_receipt  # type: ignore[method-assign]
    for _ in range(5):
        relayer.step()
    assert relayer.stats.dropped == 0
    assert wait_for_intent(sessions, intent_id, timeout=5).status == IntentStatus.CONFIRMED
    assert counter.functions.value().call() == before + 3
    with sessions() as session:
        assert [t.status for t in session.scalars(select(ChainTx))] == [TxStatus.CONFIRMED]


def test_a_nonce_read_before_a_reorg_does_not_drop_the_reorged_transactions(
    w3, anvil, keys, counter, sessions, make_relayer
):
    """The pass reads the account nonce, then a reorg rolls the account back before the receipts are
    read: the transactions must be re-broadcast, not dropped and re-queued."""
    relayer = make_relayer(start=False, confirmations=3)
    before = counter.functions.value().call()
    ids = [_enqueue_increment(sessions, keys, counter, 1) for _ in range(3)]
    for _ in range(3):
        relayer.step()  # sign, send, mine (automine): each in its own block
    stale = w3.eth.get_transaction_count(keys.relayer.address, "latest")
    rpc_call(anvil.url, "evm_setAutomine", [False])
    rpc_call(anvil.url, "anvil_reorg", [2, []])
    real = relayer.w3.eth.get_transaction_count
    calls = {"n": 0}

    def nonce_read_before_the_reorg(address, block="latest"):
        calls["n"] += 1
        return stale if calls["n"] == 1 else real(address, block)

    relayer.w3.eth.get_transaction_count = nonce_read_before_the_reorg
    relayer.step()
    assert relayer.stats.dropped == 0
    relayer.w3.eth.get_transaction_count = real
    for _ in range(6):
        rpc_call(anvil.url, "evm_mine")
        relayer.step()
    results = [wait_for_intent(sessions, i, timeout=10) for i in ids]
    assert all(r.status == IntentStatus.CONFIRMED for r in results)
    assert counter.functions.value().call() == before + 3


# --------------------------------------------------------------------------- fee models
def test_legacy_transactions_with_the_nodes_gas_price(w3, keys, counter, sessions, make_relayer):
    """Permissioned networks often take only legacy transactions: the relayer sends type 0."""
    make_relayer(fee_model=FeeModel.LEGACY)
    before = counter.functions.value().call()
    intent = wait_for_intent(sessions, _enqueue_increment(sessions, keys, counter, 2), timeout=10)
    assert intent.status == IntentStatus.CONFIRMED
    tx = w3.eth.get_transaction(intent.tx_hash)
    assert tx["type"] == 0 and "maxFeePerGas" not in tx
    assert counter.functions.value().call() == before + 2


def test_bumping_raises_both_fees_until_the_cap_and_leaves_a_zero_price_alone():
    policy = FeePolicy(model=FeeModel.EIP1559, max_fee_per_gas=1_000, bump_percent=20)
    assert policy.bumped(Fees(500, 100)) == Fees(601, 121)
    assert policy.bumped(Fees(900, 100)) == Fees(1_000, 121)
    assert policy.bumped(Fees(1_000, 100)) is None  # at the cap
    legacy = FeePolicy(model=FeeModel.LEGACY, max_fee_per_gas=1_000, bump_percent=20, gas_price=0)
    assert legacy.bumped(Fees(0, 0)) is None  # a zero-price network: nothing is stuck for its price
    assert legacy.bumped(Fees(100, 100)) == Fees(121, 121)
    tx = build_transaction(legacy, chain_id=1, nonce=0, to="0x" + "11" * 20, data=b"", value=0, gas=21_000,
                           fees=Fees(0, 0))
    assert tx["gasPrice"] == 0 and "type" not in tx and "maxFeePerGas" not in tx
