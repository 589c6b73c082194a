"""Following one sender's signed transactions to a final state: receipts, confirmation depth,
reorganisations, nonces used elsewhere, re-broadcasts and re-pricing of stuck transactions.

When a transaction is confirmation-deep, its intents end ``confirmed`` or ``failed`` (per item for
a batch, read back by its ``Batcher``) and the sender's ``on_final`` callback runs in the same
database transaction — this is where the way back from the chain starts.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.types import TxReceipt

from chain.batching import ItemOutcome
from chain.errors import DECODER, ContractLogicError
from chain.fees import Fees, build_transaction
from chain.outbox import OPEN_TX_STATUSES, ChainTx, IntentStatus, TxIntent, TxStatus
from chain.rpc import is_unreachable
from chain.scrub import scrub
from chain.sender import CONFIRMATION_SECONDS, INTENTS_FINAL, SenderContext
from chain.storage import utcnow

log = logging.getLogger("machi.relayer")


class Tracker:
    """Tracks the open transactions of one sender (``SenderContext``)."""

    def __init__(self, ctx: SenderContext) -> None:
        self.ctx = ctx
        #: Set when a nonce turned out used by a transaction we never signed: the sender must
        #: decide its next nonce again from chain and database.
        self.nonce_lost = False

    # ------------------------------------------------------------------ receipts
    def track(self) -> bool:
        """One pass over the open transactions; True if anything changed."""
        ctx = self.ctx
        with ctx.sessions() as session:
            open_txs = list(
                session.scalars(
                    select(ChainTx)
                    .where(ChainTx.sender == ctx.sender, ChainTx.status.in_(OPEN_TX_STATUSES))
                    .order_by(ChainTx.nonce, ChainTx.id)
                )
            )
            session.expunge_all()
        if not open_txs:
            return False
        by_nonce: dict[int, list[ChainTx]] = defaultdict(list)
        for tx in open_txs:
            by_nonce[tx.nonce].append(tx)
        head = ctx.w3.eth.block_number
        # Read the account's nonce *before* any receipt: a nonce consumed by then must show one of
        # our receipts below if it was ours. Reading it after would race a transaction mined in
        # between and mistake our own transaction for a foreign one (and send the call twice).
        latest_nonce = ctx.w3.eth.get_transaction_count(ctx.sender, "latest")
        worked = False
        for nonce, members in sorted(by_nonce.items()):
            receipts = {m.tx_hash: ctx.receipt(m.tx_hash) for m in members}
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
                current = ctx.w3.eth.get_transaction_count(ctx.sender, "latest")
                if current > nonce:
                    if any(ctx.receipt(m.tx_hash) is not None or ctx.node_knows(m.tx_hash) for m in members):
                        continue
                    self._drop(nonce, members)
                    worked = True
                    continue
                latest_nonce = current  # rolled back by a reorg: re-broadcast below
            self._keep_broadcast(members[-1])
        return worked

    def _keep_broadcast(self, newest: ChainTx) -> None:
        """Make sure the node still has the newest transaction of a nonce (it may have restarted)."""
        ctx = self.ctx
        last = ctx.last_seen.get(newest.tx_hash)
        if newest.status == TxStatus.SIGNED or last is None or time.monotonic() - last > ctx.config.rebroadcast_after:
            if not ctx.node_knows(newest.tx_hash):
                ctx.stats.rebroadcast += 1
                ctx.broadcast(newest.tx_hash, newest.raw)
            ctx.last_seen[newest.tx_hash] = time.monotonic()
            if newest.status == TxStatus.SIGNED:
                ctx.set_status(newest.id, TxStatus.SENT, sent=True)

    def _unmine(self, members: list[ChainTx]) -> None:
        for member in members:
            self.ctx.last_seen.pop(member.tx_hash, None)  # gone from the chain: re-broadcast at once
        with self.ctx.sessions() as session, session.begin():
            for member in members:
                row = session.get(ChainTx, member.id)
                if row is not None and row.status == TxStatus.MINED:
                    row.status = TxStatus.SENT
                    row.block_number = None
                    row.block_hash = None
                    member.status = TxStatus.SENT

    def _drop(self, nonce: int, members: list[ChainTx]) -> None:
        """The nonce was consumed by a transaction we never signed: re-queue its intents."""
        ctx = self.ctx
        log.error("nonce %d of %s was used outside this relayer; re-queueing its intents", nonce, ctx.sender)
        with ctx.sessions() as session, session.begin():
            for member in members:
                row = session.get(ChainTx, member.id)
                if row is not None:
                    row.status = TxStatus.DROPPED
            for intent in session.scalars(
                select(TxIntent).where(
                    TxIntent.sender == ctx.sender, TxIntent.nonce == nonce, TxIntent.status == IntentStatus.PENDING
                )
            ):
                intent.status = IntentStatus.QUEUED
                intent.nonce = None
                intent.tx_id = None
                intent.tx_hash = None
        ctx.stats.dropped += 1
        self.nonce_lost = True

    def _on_mined(self, winner: ChainTx, members: list[ChainTx], receipt: TxReceipt, head: int) -> bool:
        block_number = int(receipt["blockNumber"])
        block_hash = "0x" + bytes(receipt["blockHash"]).hex()
        depth = head - block_number + 1
        # The node only returns receipts of canonical transactions, so the receipt's block is on
        # the canonical chain as of this pass; a later reorg shows up as a changed/missing receipt.
        final = depth >= self.ctx.config.confirmations
        if not final and winner.status == TxStatus.MINED and winner.block_hash == block_hash:
            return False
        with self.ctx.sessions() as session, session.begin():
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
                self.ctx.stats.confirmed_txs += 1
        return True

    def _finish_intents(self, session: Session, tx: ChainTx, receipt: TxReceipt) -> None:
        ctx = self.ctx
        intents = list(
            session.scalars(
                select(TxIntent)
                .where(TxIntent.sender == ctx.sender, TxIntent.nonce == tx.nonce,
                       TxIntent.status == IntentStatus.PENDING)
                .order_by(TxIntent.id)
                .with_for_update()
            )
        )
        if tx.receipt_status == 1:
            if tx.batch_key is not None and tx.batch_key in ctx.batchers:
                outcomes = ctx.batchers[tx.batch_key].outcomes(receipt, [i.batch_item or b"" for i in intents])
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
                ctx.stats.confirmed_intents += 1
                ctx.stats.latencies.append((now - intent.created_at).total_seconds())
                CONFIRMATION_SECONDS.observe((now - intent.created_at).total_seconds())
            else:
                intent.status = IntentStatus.FAILED
                intent.error_code = outcome.error_code
                intent.error_message = None if outcome.error_message is None else scrub(outcome.error_message)
                intent.result = outcome.result
                ctx.stats.failed_intents += 1
            INTENTS_FINAL.labels(intent.status).inc()
            if ctx.on_final is not None:
                ctx.on_final(session, intent)

    def _revert_reason(self, tx: ChainTx) -> ContractLogicError:
        """Replay a reverted transaction as a call on its parent block to learn why."""
        call = {"from": tx.sender, "to": tx.to_address, "data": tx.data, "value": int(tx.value), "gas": tx.gas_limit}
        try:
            self.ctx.w3.eth.call(call, (tx.block_number or 1) - 1)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - we want whatever the node says
            if is_unreachable(exc):
                raise  # no answer is no reason: retry the pass rather than fail the intents
            decoded = DECODER.from_exception(exc)
            if decoded is not None:
                return decoded
        if tx.gas_used is not None and tx.gas_used >= tx.gas_limit:
            return DECODER.error_class("OutOfGas")({"gas_limit": tx.gas_limit})
        return DECODER.error_class("Reverted")({"tx_hash": tx.tx_hash})

    # ------------------------------------------------------------------ re-pricing
    def bump_stuck(self) -> bool:
        """Re-price every sent transaction that has waited longer than ``bump_after``."""
        ctx = self.ctx
        cutoff = time.time() - ctx.config.bump_after
        with ctx.sessions() as session:
            rows = list(
                session.scalars(
                    select(ChainTx)
                    .where(ChainTx.sender == ctx.sender, ChainTx.status == TxStatus.SENT)
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
            if ctx.receipt(row.tx_hash) is not None:
                continue
            worked |= self.bump(row)
        return worked

    def bump(self, row: ChainTx) -> bool:
        """Replace ``row`` by the same call with fees raised by ``bump_percent`` (capped)."""
        ctx = self.ctx
        fees = ctx.fees.bumped(Fees(int(row.max_fee_per_gas), int(row.max_priority_fee_per_gas)))
        if fees is None:
            log.warning("transaction %s is stuck at the fee cap", row.tx_hash)
            return False
        if not ctx.permits(row.to_address, row.data):
            return False  # a forged transaction row: never re-signed
        signed = ctx.account.sign_transaction(build_transaction(
            ctx.fees, chain_id=ctx.chain_id, nonce=row.nonce, to=row.to_address, data=row.data,
            value=int(row.value), gas=row.gas_limit, fees=fees,
        ))
        tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
        with ctx.sessions() as session, session.begin():
            replacement = ChainTx(
                sender=row.sender, nonce=row.nonce, tx_hash=tx_hash, raw=bytes(signed.raw_transaction),
                to_address=row.to_address, data=row.data, value=row.value, gas_limit=row.gas_limit,
                max_fee_per_gas=fees.max_fee, max_priority_fee_per_gas=fees.priority, status=TxStatus.SIGNED,
                batch_key=row.batch_key, item_count=row.item_count, replaces_id=row.id, sent_by=ctx.instance,
            )
            session.add(replacement)
            session.flush()
            for intent in session.scalars(
                select(TxIntent).where(
                    TxIntent.sender == ctx.sender, TxIntent.nonce == row.nonce, TxIntent.status == IntentStatus.PENDING
                )
            ):
                intent.tx_id = replacement.id
                intent.tx_hash = tx_hash
        log.info("re-priced nonce %d: %s → %s (max fee %d)", row.nonce, row.tx_hash, tx_hash, fees.max_fee)
        ctx.broadcast(tx_hash, bytes(signed.raw_transaction))
        ctx.set_status(replacement.id, TxStatus.SENT, sent=True)
        ctx.stats.bumped += 1
        return True
