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
    ``Batcher`` (``chain.batching``); the batcher reads each item's outcome back from the receipt.
The way back
    ``chain.tracking.Tracker`` follows each transaction to its confirmation depth and calls
    ``on_final(session, intent)`` for every intent that ends confirmed or failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from chain.batching import Batcher, ItemOutcome, Plan, plan_transactions
from chain.errors import DECODER, TransactionError
from chain.fees import Fees, build_transaction
from chain.outbox import OPEN_TX_STATUSES, ChainTx, IntentStatus, TxIntent, TxStatus
from chain.roles import Allowlist
from chain.rpc import is_unreachable
from chain.scrub import describe, scrub
from chain.sender import TRANSACTIONS_SENT, Checkpoint, RelayerConfig, RelayerStats, SenderContext
from chain.storage import KeyLock, utcnow
from chain.tracking import Tracker

__all__ = ["BAD_BATCH_ITEM", "NOT_ALLOWED", "Batcher", "ItemOutcome", "Relayer", "RelayerConfig",
           "RelayerStats", "SenderStateError"]

#: ``TxIntent.error_code`` of an intent its sender's allowlist refused (never signed).
NOT_ALLOWED = "call_not_allowed"
#: ``TxIntent.error_code`` of a batch item its batcher cannot encode.
BAD_BATCH_ITEM = "bad_batch_item"

log = logging.getLogger("machi.relayer")


class SenderStateError(TransactionError):
    """The outbox changed under the sender that holds the key's lock (a bug, or a second sender
    without the lock): the pass is abandoned and retried from the database."""

    code = "sender_state_conflict"


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
        allowlist: Allowlist,
        batchers: dict[str, Batcher] | None = None,
        on_final: Callable[[Session, TxIntent], None] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """
        Args:
            allowlist: the (contract, selector) pairs this key may sign (``chain.roles``); an intent
                outside it ends failed with ``call_not_allowed`` and is never signed.
            checkpoint: a test hook called at the named points of a send (``after_persist``,
                ``after_send``); crash tests die there. Production passes none.
        """
        self.sender = account.address
        self.engine = engine
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ctx = SenderContext(
            w3=w3, account=account, sessions=session_factory, config=config or RelayerConfig(),
            chain_id=w3.eth.chain_id, instance=self.instance, allowlist=allowlist, batchers=dict(batchers or {}),
            on_final=on_final, checkpoint=checkpoint,
        )
        self.tracker = Tracker(self.ctx)
        self.lock = KeyLock(engine, f"relayer:{self.sender}", lock_dir)
        self._next_nonce: int | None = None
        #: ``time.monotonic()`` when the node stopped answering; None while it answers.
        self.chain_down_since: float | None = None

    @property
    def w3(self) -> Web3:
        """The node connection."""
        return self.ctx.w3

    @property
    def config(self) -> RelayerConfig:
        """This sender's tuning."""
        return self.ctx.config

    @property
    def batchers(self) -> dict[str, Batcher]:
        """Batch builders by batch key (add one to batch another contract's calls)."""
        return self.ctx.batchers

    @property
    def stats(self) -> RelayerStats:
        """Counters of what this sender did."""
        return self.ctx.stats

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
        self.stats.last_error = describe(exc)
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
        with self.ctx.sessions() as session:
            db_max = session.scalar(
                select(func.max(ChainTx.nonce)).where(ChainTx.sender == self.sender, ChainTx.status != TxStatus.DROPPED)
            )
        self._next_nonce = max(chain_pending, (db_max + 1) if db_max is not None else 0)
        log.info("relayer %s next nonce %d (chain pending %d)", self.sender, self._next_nonce, chain_pending)

    def step(self) -> bool:
        """One pass: track receipts, re-price stuck transactions, send new intents."""
        if self._next_nonce is None:
            self.reconcile()
        worked = self.tracker.track()
        if self.tracker.nonce_lost:
            self.tracker.nonce_lost = False
            self._next_nonce = None
            return True
        worked |= self.tracker.bump_stuck()
        worked |= self._submit()
        return worked

    # ------------------------------------------------------------------ submit
    def _submit(self) -> bool:
        with self.ctx.sessions() as session:
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
        plans = plan_transactions(queued, set(self.ctx.batchers), max_size=self.config.batch_max_size,
                                  max_wait=self.config.batch_max_wait, now=utcnow())[:capacity]
        if not plans:
            return False
        fees = self.ctx.fees.quote(self.w3)
        for plan in plans:
            self._send_plan(plan, fees)
        return True

    def _send_plan(self, plan: Plan, fees: Fees) -> None:
        if plan.batch_key is not None:
            batcher = self.ctx.batchers[plan.batch_key]
            try:
                plan.data = batcher.encode([i.batch_item or b"" for i in plan.intents])
            except ValueError:
                # An item that is not what the batcher carries (a row written by hand) must not hold up
                # the others: it fails alone, and the rest go on in the next pass.
                for intent in plan.intents:
                    try:
                        batcher.encode([intent.batch_item or b""])
                    except ValueError as exc:
                        self._fail_unsent(Plan([intent], None, plan.to), BAD_BATCH_ITEM, str(exc), {})
                return
        if not self.ctx.permits(plan.to, plan.data):
            # A row someone wrote into the outbox (or a bug) asks this key for a call its role does not
            # cover: it is never signed, and ends failed with the reason.
            self._fail_unsent(plan, NOT_ALLOWED, self.ctx.allowlist.refusal(plan.to, plan.data),
                              {"to": plan.to, "selector": "0x" + bytes(plan.data[:4]).hex(),
                               "key": self.ctx.allowlist.key})
            return
        call = {"from": self.sender, "to": plan.to, "data": plan.data, "value": plan.value}
        try:
            estimate = self.w3.eth.estimate_gas(call, "pending")  # type: ignore[arg-type]
        except Exception as exc:
            decoded = DECODER.from_exception(exc)
            if decoded is None:
                raise  # not a revert: the node is unwell; retry the whole pass later
            self._fail_unsent(plan, decoded.name, str(decoded), decoded.to_dict())
            return
        assert self._next_nonce is not None
        nonce = self._next_nonce
        gas = int(estimate * 1.25) + 20_000
        signed = self.ctx.account.sign_transaction(build_transaction(
            self.ctx.fees, chain_id=self.ctx.chain_id, nonce=nonce, to=plan.to, data=plan.data,
            value=plan.value, gas=gas, fees=fees,
        ))
        tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
        self._persist(plan, nonce, tx_hash, bytes(signed.raw_transaction), gas, fees)
        self._next_nonce = nonce + 1
        self.ctx.reached("after_persist")
        self.ctx.broadcast(tx_hash, bytes(signed.raw_transaction))
        self.ctx.reached("after_send")
        with self.ctx.sessions() as session, session.begin():
            session.execute(
                update(ChainTx)
                .where(ChainTx.tx_hash == tx_hash, ChainTx.status == TxStatus.SIGNED)
                .values(status=TxStatus.SENT, sent_at=utcnow())
            )
        self.stats.sent += 1
        TRANSACTIONS_SENT.labels(self.sender).inc()

    def _persist(self, plan: Plan, nonce: int, tx_hash: str, raw: bytes, gas: int, fees: Fees) -> None:
        """Store the signed transaction and mark its intents pending, before anything is sent.

        Raises:
            SenderStateError: the hash is already tracked, or an intent is no longer queued.
        """
        with self.ctx.sessions() as session, session.begin():
            row = session.scalar(select(ChainTx).where(ChainTx.tx_hash == tx_hash))
            if row is not None:
                # The very same signed bytes were dropped before (same call, nonce and fees): bring
                # that row back rather than tracking one hash twice.
                if row.status != TxStatus.DROPPED:
                    raise SenderStateError(f"transaction {tx_hash} is already tracked as {row.status}")
                row.status = TxStatus.SIGNED
                row.sent_by = self.instance
                row.sent_at = row.block_number = row.block_hash = row.mined_at = None
            else:
                row = ChainTx(
                    sender=self.sender, nonce=nonce, tx_hash=tx_hash, raw=raw, to_address=plan.to,
                    data=plan.data, value=plan.value, gas_limit=gas, max_fee_per_gas=fees.max_fee,
                    max_priority_fee_per_gas=fees.priority, status=TxStatus.SIGNED, batch_key=plan.batch_key,
                    item_count=len(plan.intents), sent_by=self.instance,
                )
            session.add(row)
            session.flush()
            for intent in plan.intents:
                fresh = session.get(TxIntent, intent.id, with_for_update=True)
                if fresh is None or fresh.status != IntentStatus.QUEUED:
                    raise SenderStateError(f"intent {intent.id} changed under the sender")
                fresh.status = IntentStatus.PENDING
                fresh.nonce = nonce
                fresh.tx_id = row.id
                fresh.tx_hash = tx_hash
                fresh.attempts += 1

    def _fail_unsent(self, plan: Plan, code: str, message: str, result: dict[str, Any]) -> None:
        """End the plan's intents failed without sending anything (a revert foreseen, or a refused call)."""
        with self.ctx.sessions() as session, session.begin():
            for intent in plan.intents:
                fresh = session.get(TxIntent, intent.id, with_for_update=True)
                if fresh is None or fresh.status != IntentStatus.QUEUED:
                    continue
                fresh.status = IntentStatus.FAILED
                fresh.error_code = code
                fresh.error_message = scrub(message)
                fresh.result = result
                self.stats.failed_intents += 1
                if self.ctx.on_final is not None:
                    self.ctx.on_final(session, fresh)
