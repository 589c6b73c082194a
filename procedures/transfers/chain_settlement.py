"""Transfers settled from the chain's own logs when the relayer's batch could not tell.

Anyone who sees a relayed authorization (in the mempool, or a resident who kept a copy) can submit
it to the coin first. The batch then skips the item as ``NonceUsed`` — yet the payee *was* paid.
Such a transfer is not failed by the relayer's report (``service.settle`` leaves it open); after
every indexer pass ``settle_from_index`` looks its authorization up in the confirmed index
(``chain.index_store.authorization_fate``):

- ``AuthorizationUsed`` followed by the ``Transfer`` of exactly this payer, payee and amount: the
  transfer is confirmed with the transaction that carried it, and its purpose's hook runs (the
  payment request is paid, its webhook emitted) — exactly once: the transfer row is locked and
  only an open transfer moves;
- the nonce cancelled, or used by a *different* authorization of the payer: failed (``nonce_used``);
- nothing in the confirmed index yet: it waits for the next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from sqlalchemy import select

from chain.contracts.coin import SkipReason
from chain.index_store import authorization_fate, index_cursor
from chain.outbox import IntentStatus, TxIntent
from chain.storage import utcnow
from procedures.runtime import Runtime
from procedures.transfers.models import Transfer
from procedures.transfers.pending import OPEN
from procedures.transfers.service import TransferHook, purpose_kind

log = logging.getLogger("machi.transfers.chain")

#: The batch skip that means "someone used this authorization already" — not a failure by itself.
USED_ELSEWHERE = SkipReason.NONCE_USED.label


def awaiting_chain(runtime: Runtime) -> list[str]:
    """Open transfers whose intent ended with the authorization already used: the chain decides."""
    with runtime.sessions() as session:
        return list(session.scalars(
            select(Transfer.id).join(TxIntent, TxIntent.id == Transfer.intent_id).where(
                Transfer.status.in_(OPEN), TxIntent.status == IntentStatus.FAILED,
                TxIntent.error_code == USED_ELSEWHERE)))


def settle_from_index(runtime: Runtime, hooks: Mapping[str, TransferHook]) -> int:
    """Settle every transfer awaiting the chain that the confirmed index can decide; returns how many."""
    settled = 0
    for transfer_id in awaiting_chain(runtime):
        with runtime.sessions() as session, session.begin():
            cursor = index_cursor(session)
            if cursor is None or cursor.head is None:
                return settled
            transfer = session.get(Transfer, transfer_id, with_for_update=True)
            if transfer is None or transfer.status not in OPEN:
                continue
            fate = authorization_fate(session, transfer.from_wallet, transfer.nonce,
                                      cursor.head - runtime.settings.confirmations + 1)
            if fate is None:
                continue
            moved = fate.transfer or {}
            if fate.used and (str(moved.get("from", "")).lower(), str(moved.get("to", "")).lower(),
                              int(moved.get("value", -1))) == (transfer.from_wallet.lower(),
                                                               transfer.to_wallet.lower(), transfer.amount):
                transfer.status = "confirmed"
                transfer.confirmed_at = utcnow()
                log.warning("transfer %s was relayed by another account (tx %s); settled from the chain's logs",
                            transfer.id, fate.tx_hash)
            else:
                transfer.status = "failed"
                transfer.failure_code = "nonce_used"
                transfer.failure_message = ("the payer's authorization nonce was cancelled or used for another "
                                            "transfer")
            transfer.tx_hash = fate.tx_hash
            transfer.block_number = fate.block_number
            kind = purpose_kind(transfer)
            hook = hooks.get(kind) if kind is not None else None
            if hook is not None:
                hook(session, runtime, transfer)
            settled += 1
    return settled


def settler(hooks: Mapping[str, TransferHook]) -> Callable[[Runtime], None]:
    """``settle_from_index`` with ``hooks``, for ``procedures.indexing.indexer_worker_with``."""

    def settle(runtime: Runtime) -> None:
        settle_from_index(runtime, hooks)

    return settle
