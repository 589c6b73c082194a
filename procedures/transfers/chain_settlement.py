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
from collections.abc import Mapping
from functools import partial

from sqlalchemy import select

from chain.contracts.coin import SkipReason
from chain.index_store import authorization_fate, index_cursor
from chain.outbox import IntentStatus, TxIntent
from procedures.indexing import AfterPass
from procedures.runtime import Runtime
from procedures.transfers.models import Transfer
from procedures.transfers.pending import OPEN
from procedures.transfers.service import TransferHook, finish, run_purpose_hook, skip_code

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
    """Settle every transfer awaiting the chain that the confirmed index can decide; returns how many.

    One transfer that cannot be settled (its hook failing, say) is logged and left for the next pass;
    it never holds up the others, nor counts as a failed indexer pass.
    """
    waiting = awaiting_chain(runtime)
    if not waiting:
        return 0
    with runtime.sessions() as session:
        cursor = index_cursor(session)
    if cursor is None or cursor.head is None:
        return 0
    confirmed_up_to = cursor.head - runtime.settings.effective_confirmations + 1
    settled = 0
    for transfer_id in waiting:
        try:
            settled += _settle_one(runtime, hooks, transfer_id, confirmed_up_to)
        except Exception:  # noqa: BLE001 - one transfer must not stop the others (it is retried next pass)
            log.exception("transfer %s: settling from the chain's logs failed; retrying next pass", transfer_id)
    return settled


def _settle_one(runtime: Runtime, hooks: Mapping[str, TransferHook], transfer_id: str, confirmed_up_to: int) -> int:
    with runtime.sessions() as session, session.begin():
        transfer = session.get(Transfer, transfer_id, with_for_update=True)
        if transfer is None or transfer.status not in OPEN:
            return 0
        fate = authorization_fate(session, transfer.from_wallet, transfer.nonce, confirmed_up_to)
        if fate is None:
            return 0
        moved = fate.transfer or {}
        if fate.used and (str(moved.get("from", "")).lower(), str(moved.get("to", "")).lower(),
                          int(moved.get("value", -1))) == (transfer.from_wallet.lower(),
                                                           transfer.to_wallet.lower(), transfer.amount):
            finish(transfer, fate.tx_hash, fate.block_number)
            log.warning("transfer %s was relayed by another account (tx %s); settled from the chain's logs",
                        transfer.id, fate.tx_hash)
        else:
            finish(transfer, fate.tx_hash, fate.block_number, failure=(
                skip_code(USED_ELSEWHERE), "the payer's authorization nonce was cancelled or used for another "
                                           "transfer"))
        run_purpose_hook(session, runtime, hooks, transfer)
        return 1


def settler(hooks: Mapping[str, TransferHook]) -> AfterPass:
    """``settle_from_index`` with ``hooks``, run after the indexer's passes (``procedures.wiring``)."""
    return partial(settle_from_index, hooks=hooks)
