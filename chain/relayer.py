"""The relayer: one sender per key turns outbox intents into transactions, exactly once.

Exactly once across crashes
    Each transaction is signed and *persisted* (raw bytes + hash + nonce) before it is handed
    to the node. On start the relayer reconciles every persisted, unfinished transaction by
    hash and nonce: if the node knows it (or mined it) it is tracked; if not, the very same
    raw bytes are re-broadcast — the same hash, so the node can never execute it twice.
One sender per key
    ``KeyLock`` (PostgreSQL advisory lock / file lock for SQLite) — other processes wait.
Batches
    Intents carrying a ``batch_key`` are grouped and sent as one call built by the registered
    ``Batcher``; the batcher reads each item's outcome back from the receipt.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from prometheus_client import Counter, Histogram
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from chain.errors import DECODER, ContractLogicError
from chain.outbox import OPEN_TX_STATUSES, ChainTx, IntentStatus, TxIntent, TxStatus
from chain.rpc import is_unreachable
from chain.storage import KeyLock, utcnow

CONFIRMATION_SECONDS = Histogram(
    "machi_relayer_confirmation_seconds",
    "Time from enqueue to a final state (confirmation lag)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
TRANSACTIONS_SENT = Counter("machi_relayer_transactions_sent", "Transactions signed and sent", ["sender"])
INTENTS_FINAL = Counter("machi_relayer_intents_final", "Intents that reached a final state", ["status"])

log = logging.getLogger("machi.relayer")

GWEI = 10**9


@dataclass
class ItemOutcome:
    """What happened to one item of a batch call."""

    ok: bool
    error_code: str | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None


class Batcher(Protocol):
    """Builds one batch call from many items and reads the items' outcomes from the receipt."""

    def encode(self, items: Sequence[bytes]) -> bytes:
        """Calldata of the batch call carrying ``items`` (in this order)."""
        ...

    def outcomes(self, receipt: TxReceipt, items: Sequence[bytes]) -> list[ItemOutcome]:
        """One outcome per item, in order, decoded from the successful receipt."""
        ...


def crash_point(name: str) -> None:
    """Test hook: die like ``kill -9`` here when ``MACHI_CRASH_AT`` names this point.

    Used by the crash tests to prove exactly-once delivery; inert unless that variable is set.
    """
    if os.environ.get("MACHI_CRASH_AT") == name:
        os._exit(86)


@dataclass
class RelayerConfig:
    """Tuning of one sender (the service fills it from Settings)."""

    confirmations: int = 1
    max_in_flight: int = 64
    bump_after: float = 30.0
    bump_percent: int = 20
    max_fee_per_gas: int = 500 * GWEI
    batch_max_size: int = 100
    batch_max_wait: float = 0.2
    poll_interval: float = 0.05
    rebroadcast_after: float = 3.0
    lock_retry: float = 1.0


@dataclass
class _Plan:
    intents: list[TxIntent]
    batch_key: str | None
    to: str
    value: int = 0
    data: bytes = b""


@dataclass
class RelayerStats:
    """Counters for logs, metrics and benchmarks."""

    sent: int = 0
    confirmed_txs: int = 0
    confirmed_intents: int = 0
    failed_intents: int = 0
    bumped: int = 0
    rebroadcast: int = 0
    dropped: int = 0
    failed_passes: int = 0
    last_error: str | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


class Relayer:
    """Sends the outbox of one key. Use ``run(stop_event)`` in a thread or process."""

    def __init__(
        self,
        *,
        w3: Web3,
        account: LocalAccount,
        engine: Engine,
        session_factory: sessionmaker[Session],
        lock_dir: Path,
        config: RelayerConfig | None = None,
        batchers: dict[str, Batcher] | None = None,
        on_final: Callable[[Session, TxIntent], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.sender = account.address
        self.engine = engine
        self.sessions = session_factory
        self.config = config or RelayerConfig()
        self.batchers: dict[str, Batcher] = dict(batchers or {})
        self.on_final = on_final
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock = KeyLock(engine, f"relayer:{self.sender}", lock_dir)
        self.stats = RelayerStats()
        self.chain_id = w3.eth.chain_id
        self._next_nonce: int | None = None
        self._last_seen: dict[str, float] = {}
        #: ``time.monotonic()`` when the node stopped answering; None while it answers.
        self.chain_down_since: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def run(self, stop: threading.Event) -> None:
        """Wait for the key's lock, reconcile, then relay until ``stop`` is set."""
        waiting_logged = False
        while not stop.is_set() and not self.lock.try_acquire():
            if not waiting_logged:
                log.info("another sender holds the lock for %s; waiting", self.sender)
                waiting_logged = True
            stop.wait(self.config.lock_retry)
        if stop.is_set():
            return
        log.info("relayer %s sending for %s", self.instance, self.sender)
        try:
            backoff = self.config.poll_interval
            while not stop.is_set():
                try:
                    if self._next_nonce is None:
                        self.reconcile()
                    worked = self.step()
                    backoff = self.config.poll_interval
                    if self.chain_down_since is not None:
                        log.warning("relayer %s: the chain answers again after %.1f s; resuming", self.sender,
                                    time.monotonic() - self.chain_down_since)
                        self.chain_down_since = None
                    self.stats.last_error = None
                    if not worked:
                        stop.wait(self.config.poll_interval)
                except Exception as exc:  # noqa: BLE001 - the loop must survive node/DB outages
                    self._on_failed_pass(exc)
                    self._next_nonce = None  # re-read nonces from chain and DB after any failure
                    backoff = min(backoff * 2, 5.0)
                    stop.wait(backoff)
        finally:
            self.lock.release()

    def _on_failed_pass(self, exc: Exception) -> None:
        """Record a failed pass; an unreachable node is logged once per outage, not on every retry.

        Nothing is marked failed here: intents stay queued or pending and the next pass after the
        outage carries on from the database and the chain (see ``reconcile``).
        """
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self.stats.failed_passes += 1
        if not is_unreachable(exc):
            log.warning("relayer pass failed, retrying: %s", self.stats.last_error)
        elif self.chain_down_since is None:
            self.chain_down_since = time.monotonic()
            log.warning("relayer %s: the chain is unreachable (%s); backing off until it answers", self.sender,
                        type(exc).__name__)

    def reconcile(self) -> None:
        """Decide the next nonce from chain and database (called on start and after errors)."""
        chain_pending = self.w3.eth.get_transaction_count(self.sender, "pending")
        with self.sessions() as session:
            db_max = session.scalar(
                select(func.max(ChainTx.nonce)).where(ChainTx.sender == self.sender, ChainTx.status != TxStatus.DROPPED)
            )
        self._next_nonce = max(chain_pending, (db_max + 1) if db_max is not None else 0)
        log.info("relayer %s next nonce %d (chain pending %d)", self.sender, self._next_nonce, chain_pending)

    def step(self) -> bool:
        """One pass: track receipts, re-price stuck transactions, send new intents."""
        if self._next_nonce is None:
            self.reconcile()
        worked = self._track()
        worked |= self._bump_stuck()
        worked |= self._submit()
        return worked

    # ------------------------------------------------------------------ submit
    def _submit(self) -> bool:
        with self.sessions() as session:
            in_flight = (
                session.scalar(
                    select(func.count(func.distinct(ChainTx.nonce))).where(
                        ChainTx.sender == self.sender, ChainTx.status.in_(OPEN_TX_STATUSES)
                    )
                )
                or 0
            )
            capacity = self.config.max_in_flight - in_flight
            if capacity <= 0:
                return False
            queued = list(
                session.scalars(
                    select(TxIntent)
                    .where(TxIntent.sender == self.sender, TxIntent.status == IntentStatus.QUEUED)
                    .order_by(TxIntent.id)
                    .limit(capacity * self.config.batch_max_size)
                )
            )
            session.expunge_all()
        if not queued:
            return False
        plans = self._plan(queued)[:capacity]
        if not plans:
            return False
        fees = self._fees()
        for plan in plans:
            self._send_plan(plan, fees)
        return True

    def _plan(self, queued: list[TxIntent]) -> list[_Plan]:
        now = utcnow()
        plans: list[_Plan] = []
        groups: dict[tuple[str, str], list[TxIntent]] = defaultdict(list)
        for intent in queued:
            if intent.batch_key is None or intent.batch_key not in self.batchers:
                plans.append(_Plan([intent], None, intent.to_address, int(intent.value), intent.data))
            else:
                groups[(intent.batch_key, intent.to_address)].append(intent)
        for (key, to), items in groups.items():
            for start in range(0, len(items), self.config.batch_max_size):
                chunk = items[start : start + self.config.batch_max_size]
                waited = (now - chunk[0].created_at).total_seconds()
                if len(chunk) < self.config.batch_max_size and waited < self.config.batch_max_wait:
                    continue  # give others a moment to join this batch
                plans.append(_Plan(chunk, key, to))
        plans.sort(key=lambda p: p.intents[0].id)
        return plans

    def _fees(self) -> tuple[int, int]:
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        priority = min(int(self.w3.eth.max_priority_fee), self.config.max_fee_per_gas)
        return min(2 * base + priority, self.config.max_fee_per_gas), priority

    def _send_plan(self, plan: _Plan, fees: tuple[int, int]) -> None:
        if plan.batch_key is not None:
            items = [i.batch_item or b"" for i in plan.intents]
            plan.data = self.batchers[plan.batch_key].encode(items)
        call = {"from": self.sender, "to": plan.to, "data": plan.data, "value": plan.value}
        try:
            estimate = self.w3.eth.estimate_gas(call, "pending")  # type: ignore[arg-type]
        except Exception as exc:
            decoded = DECODER.from_exception(exc)
            if decoded is None:
                raise  # not a revert: the node is unwell; retry the whole pass later
            self._fail_unsent(plan, decoded)
            return
        max_fee, priority = fees
        assert self._next_nonce is not None
        nonce = self._next_nonce
        gas = int(estimate * 1.25) + 20_000
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": plan.to,
            "data": plan.data,
            "value": plan.value,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
        with self.sessions() as session, session.begin():
            row = session.scalar(select(ChainTx).where(ChainTx.tx_hash == tx_hash))
            if row is not None:
                # The very same signed bytes were dropped before (same call, nonce and fees): bring
                # that row back rather than tracking one hash twice.
                if row.status != TxStatus.DROPPED:
                    raise RuntimeError(f"transaction {tx_hash} is already tracked as {row.status}")
                row.status = TxStatus.SIGNED
                row.sent_by = self.instance
                row.sent_at = row.block_number = row.block_hash = row.mined_at = None
            else:
                row = ChainTx(
                    sender=self.sender,
                    nonce=nonce,
                    tx_hash=tx_hash,
                    raw=bytes(signed.raw_transaction),
                    to_address=plan.to,
                    data=plan.data,
                    value=plan.value,
                    gas_limit=gas,
                    max_fee_per_gas=max_fee,
                    max_priority_fee_per_gas=priority,
                    status=TxStatus.SIGNED,
                    batch_key=plan.batch_key,
                    item_count=len(plan.intents),
                    sent_by=self.instance,
                )
            session.add(row)
            session.flush()
            for intent in plan.intents:
                fresh = session.get(TxIntent, intent.id, with_for_update=True)
                if fresh is None or fresh.status != IntentStatus.QUEUED:
                    raise RuntimeError(f"intent {intent.id} changed under the sender")
                fresh.status = IntentStatus.PENDING
                fresh.nonce = nonce
                fresh.tx_id = row.id
                fresh.tx_hash = tx_hash
                fresh.attempts += 1
        self._next_nonce = nonce + 1
        crash_point("after_persist")
        self._broadcast(tx_hash, bytes(signed.raw_transaction))
        crash_point("after_send")
        with self.sessions() as session, session.begin():
            session.execute(
                update(ChainTx)
                .where(ChainTx.tx_hash == tx_hash, ChainTx.status == TxStatus.SIGNED)
                .values(status=TxStatus.SENT, sent_at=utcnow())
            )
        self.stats.sent += 1
        TRANSACTIONS_SENT.labels(self.sender).inc()

    def _broadcast(self, tx_hash: str, raw: bytes) -> bool:
        """Hand raw bytes to the node; 'already known' and 'nonce too low' are not errors here."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text or "nonce too low" in text:
                return False
            if "underpriced" in text or "insufficient funds" in text:
                log.warning("node refused %s: %s", tx_hash, exc)
                return False
            raise
        self._last_seen[tx_hash] = time.monotonic()
        return True

    def _fail_unsent(self, plan: _Plan, error: ContractLogicError) -> None:
        with self.sessions() as session, session.begin():
            for intent in plan.intents:
                fresh = session.get(TxIntent, intent.id, with_for_update=True)
                if fresh is None or fresh.status != IntentStatus.QUEUED:
                    continue
                fresh.status = IntentStatus.FAILED
                fresh.error_code = error.name
                fresh.error_message = str(error)
                fresh.result = error.to_dict()
                self.stats.failed_intents += 1
                if self.on_final is not None:
                    self.on_final(session, fresh)

    # ------------------------------------------------------------------ track
    def _track(self) -> bool:
        with self.sessions() as session:
            open_txs = list(
                session.scalars(
                    select(ChainTx)
                    .where(ChainTx.sender == self.sender, ChainTx.status.in_(OPEN_TX_STATUSES))
                    .order_by(ChainTx.nonce, ChainTx.id)
                )
            )
            session.expunge_all()
        if not open_txs:
            return False
        by_nonce: dict[int, list[ChainTx]] = defaultdict(list)
        for tx in open_txs:
            by_nonce[tx.nonce].append(tx)
        head = self.w3.eth.block_number
        # Read the account's nonce *before* any receipt: a nonce consumed by then must show one of
        # our receipts below if it was ours. Reading it after would race a transaction mined in
        # between and mistake our own transaction for a foreign one (and send the call twice).
        latest_nonce = self.w3.eth.get_transaction_count(self.sender, "latest")
        worked = False
        for nonce, members in sorted(by_nonce.items()):
            receipts = {m.tx_hash: self._receipt(m.tx_hash) for m in members}
            mined = [m for m in members if receipts[m.tx_hash] is not None]
            if mined:
                winner = mined[0]
                receipt = receipts[winner.tx_hash]
                assert receipt is not None
                worked |= self._on_mined(winner, members, receipt, head)
                continue
            if any(m.status == TxStatus.MINED for m in members):
                log.warning("transaction with nonce %d left the chain (reorg); re-broadcasting", nonce)
                self._unmine(members)
            if latest_nonce > nonce:
                # Consumed, yet none of our transactions for it has a receipt. Either it was mined
                # a moment ago, or a reorg just rolled the account back, or something else used the
                # nonce. Read the nonce again, then the receipts again, before concluding.
                current = self.w3.eth.get_transaction_count(self.sender, "latest")
                if current > nonce:
                    if any(self._receipt(m.tx_hash) is not None or self._node_knows(m.tx_hash) for m in members):
                        continue
                    self._drop(nonce, members)
                    worked = True
                    continue
                latest_nonce = current  # rolled back by a reorg: re-broadcast below
            newest = members[-1]
            last = self._last_seen.get(newest.tx_hash)
            if (
                newest.status == TxStatus.SIGNED
                or last is None
                or time.monotonic() - last > self.config.rebroadcast_after
            ):
                if not self._node_knows(newest.tx_hash):
                    self.stats.rebroadcast += 1
                    self._broadcast(newest.tx_hash, newest.raw)
                self._last_seen[newest.tx_hash] = time.monotonic()
                if newest.status == TxStatus.SIGNED:
                    self._set_status(newest.id, TxStatus.SENT, sent=True)
        return worked

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def _node_knows(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            return True
        except TransactionNotFound:
            return False

    def _set_status(self, tx_id: int, status: TxStatus, sent: bool = False) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(ChainTx, tx_id)
            if row is not None and row.status in OPEN_TX_STATUSES:
                row.status = status
                if sent and row.sent_at is None:
                    row.sent_at = utcnow()

    def _unmine(self, members: list[ChainTx]) -> None:
        for member in members:
            self._last_seen.pop(member.tx_hash, None)  # gone from the chain: re-broadcast at once
        with self.sessions() as session, session.begin():
            for member in members:
                row = session.get(ChainTx, member.id)
                if row is not None and row.status == TxStatus.MINED:
                    row.status = TxStatus.SENT
                    row.block_number = None
                    row.block_hash = None
                    member.status = TxStatus.SENT

    def _drop(self, nonce: int, members: list[ChainTx]) -> None:
        """The nonce was consumed by a transaction we never signed: re-queue its intents."""
        log.error("nonce %d of %s was used outside this relayer; re-queueing its intents", nonce, self.sender)
        with self.sessions() as session, session.begin():
            for member in members:
                row = session.get(ChainTx, member.id)
                if row is not None:
                    row.status = TxStatus.DROPPED
            for intent in session.scalars(
                select(TxIntent).where(
                    TxIntent.sender == self.sender, TxIntent.nonce == nonce, TxIntent.status == IntentStatus.PENDING
                )
            ):
                intent.status = IntentStatus.QUEUED
                intent.nonce = None
                intent.tx_id = None
                intent.tx_hash = None
        self.stats.dropped += 1
        self._next_nonce = None

    def _on_mined(self, winner: ChainTx, members: list[ChainTx], receipt: TxReceipt, head: int) -> bool:
        block_number = int(receipt["blockNumber"])
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        depth = head - block_number + 1
        # The node only returns receipts of canonical transactions, so the receipt's block is on
        # the canonical chain as of this pass; a later reorg shows up as a changed/missing receipt.
        final = depth >= self.config.confirmations
        if not final and winner.status == TxStatus.MINED and winner.block_hash == block_hash:
            return False
        with self.sessions() as session, session.begin():
            row = session.get(ChainTx, winner.id)
            if row is None or row.status not in OPEN_TX_STATUSES:
                return False
            row.block_number = block_number
            row.block_hash = block_hash
            row.gas_used = int(receipt["gasUsed"])
            row.receipt_status = int(receipt["status"])
            row.mined_at = row.mined_at or utcnow()
            row.status = TxStatus.MINED
            if row.sent_at is None:
                row.sent_at = utcnow()
            for other in members:
                if other.id != winner.id:
                    sibling = session.get(ChainTx, other.id)
                    if sibling is not None:
                        sibling.status = TxStatus.REPLACED
            if final:
                row.status = TxStatus.CONFIRMED
                self._finish_intents(session, row, receipt)
                self.stats.confirmed_txs += 1
        return True

    def _finish_intents(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:
        intents = list(
            session.scalars(
                select(TxIntent)
                .where(
                    TxIntent.sender == self.sender, TxIntent.nonce == tx.nonce, TxIntent.status == IntentStatus.PENDING
                )
                .order_by(TxIntent.id)
                .with_for_update()
            )
        )
        if tx.receipt_status == 1:
            if tx.batch_key is not None and tx.batch_key in self.batchers:
                outcomes = self.batchers[tx.batch_key].outcomes(receipt, [i.batch_item or b"" for i in intents])
            else:
                outcomes = [ItemOutcome(ok=True) for _ in intents]
        else:
            error = self._revert_reason(tx)
            outcomes = [ItemOutcome(False, error.name, str(error), error.to_dict()) for _ in intents]
        now = utcnow()
        for intent, outcome in zip(intents, outcomes, strict=True):
            intent.tx_id = tx.id
            intent.tx_hash = tx.tx_hash
            intent.block_number = tx.block_number
            if outcome.ok:
                intent.status = IntentStatus.CONFIRMED
                intent.result = outcome.result
                self.stats.confirmed_intents += 1
                self.stats.latencies.append((now - intent.created_at).total_seconds())
                CONFIRMATION_SECONDS.observe((now - intent.created_at).total_seconds())
            else:
                intent.status = IntentStatus.FAILED
                intent.error_code = outcome.error_code
                intent.error_message = outcome.error_message
                intent.result = outcome.result
                self.stats.failed_intents += 1
            INTENTS_FINAL.labels(intent.status).inc()
            if self.on_final is not None:
                self.on_final(session, intent)

    def _revert_reason(self, tx: ChainTx) -> ContractLogicError:
        """Replay a reverted transaction as a call on its parent block to learn why."""
        call = {"from": tx.sender, "to": tx.to_address, "data": tx.data, "value": int(tx.value), "gas": tx.gas_limit}
        try:
            self.w3.eth.call(call, (tx.block_number or 1) - 1)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - we want whatever the node says
            if is_unreachable(exc):
                raise  # no answer is no reason: retry the pass rather than fail the intents
            decoded = DECODER.from_exception(exc)
            if decoded is not None:
                return decoded
        if tx.gas_used is not None and tx.gas_used >= tx.gas_limit:
            return DECODER.error_class("OutOfGas")({"gas_limit": tx.gas_limit})
        return DECODER.error_class("Reverted")({"tx_hash": tx.tx_hash})

    # ------------------------------------------------------------------ bump
    def _bump_stuck(self) -> bool:
        cutoff = time.time() - self.config.bump_after
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(ChainTx)
                    .where(ChainTx.sender == self.sender, ChainTx.status == TxStatus.SENT)
                    .order_by(ChainTx.nonce, ChainTx.id)
                )
            )
            session.expunge_all()
        newest: dict[int, ChainTx] = {}
        for row in rows:
            newest[row.nonce] = row  # ordered by id: the last one is the newest
        worked = False
        for row in newest.values():
            if row.sent_at is None or row.sent_at.timestamp() > cutoff:
                continue
            if self._receipt(row.tx_hash) is not None:
                continue
            worked |= self.bump(row)
        return worked

    def bump(self, row: ChainTx) -> bool:
        """Replace ``row`` by the same call with fees raised by ``bump_percent`` (capped)."""
        pct = 100 + self.config.bump_percent
        max_fee = min(int(row.max_fee_per_gas) * pct // 100 + 1, self.config.max_fee_per_gas)
        priority = min(int(row.max_priority_fee_per_gas) * pct // 100 + 1, max_fee)
        if max_fee <= int(row.max_fee_per_gas):
            log.warning("transaction %s is stuck at the fee cap", row.tx_hash)
            return False
        replacement_tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": row.nonce,
            "to": row.to_address,
            "data": row.data,
            "value": int(row.value),
            "gas": row.gas_limit,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
        signed = self.account.sign_transaction(replacement_tx)
        tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
        with self.sessions() as session, session.begin():
            replacement = ChainTx(
                sender=row.sender,
                nonce=row.nonce,
                tx_hash=tx_hash,
                raw=bytes(signed.raw_transaction),
                to_address=row.to_address,
                data=row.data,
                value=row.value,
                gas_limit=row.gas_limit,
                max_fee_per_gas=max_fee,
                max_priority_fee_per_gas=priority,
                status=TxStatus.SIGNED,
                batch_key=row.batch_key,
                item_count=row.item_count,
                replaces_id=row.id,
                sent_by=self.instance,
            )
            session.add(replacement)
            session.flush()
            for intent in session.scalars(
                select(TxIntent).where(
                    TxIntent.sender == self.sender, TxIntent.nonce == row.nonce, TxIntent.status == IntentStatus.PENDING
                )
            ):
                intent.tx_id = replacement.id
                intent.tx_hash = tx_hash
        log.info("re-priced nonce %d: %s → %s (max fee %d)", row.nonce, row.tx_hash, tx_hash, max_fee)
        self._broadcast(tx_hash, bytes(signed.raw_transaction))
        self._set_status(replacement.id, TxStatus.SENT, sent=True)
        self.stats.bumped += 1
        return True
