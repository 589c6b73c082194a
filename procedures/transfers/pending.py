"""Coins on their way: what accepted transfers will change that the chain does not show yet, and
the per-wallet lock under which acceptance compares against it."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.orm import Session

from chain.outbox import ChainTx, TxIntent, TxStatus
from procedures.transfers.models import ReserveTopUp, TopUpStatus, Transfer

#: Transfer statuses that are not final yet.
OPEN = ("accepted",)


def lock_wallet(session: Session, wallet: str) -> None:
    """Serialise acceptance for one wallet until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: writers are already serialised by
    ``BEGIN IMMEDIATE`` (see ``chain.storage.make_engine``).
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"wallet:" + wallet.lower().encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def not_yet_in_a_block(intent_id: Any) -> ColumnElement[bool]:
    """The outbox intent ``intent_id`` (a column) is not — as far as the relayer has seen — in a
    successful mined transaction.

    What is already in a block is part of the chain state the caller compares against (a balance,
    a minter's allowance); counting it again as "in progress" would refuse an exactly fitting
    payment or top-up until the transaction reaches the confirmation depth. (A transaction mined
    but not yet seen by the relayer still counts: that errs on the side of refusing, and a payment
    refused so gets an exact second look in ``transfers.service.accept``.)
    """
    mined = (
        select(ChainTx.id)
        .join(TxIntent, (ChainTx.sender == TxIntent.sender) & (ChainTx.nonce == TxIntent.nonce))
        .where(
            TxIntent.id == intent_id,
            ChainTx.status.in_((TxStatus.MINED, TxStatus.CONFIRMED)),
            ChainTx.receipt_status == 1,
        )
        .exists()
    )
    return ~mined


def pending_out(session: Session, wallet: str) -> int:
    """Coins leaving ``wallet`` that the chain balance does not reflect yet: accepted transfers, and
    top-ups of its offline reserve queued for the relayer (the same coins cannot pay online too)."""
    # one statement on the payment's hot path, not one per kind
    both = select(_sum(_open(Transfer.from_wallet == wallet)).scalar_subquery() + _reserving(wallet).scalar_subquery())
    return int(session.scalar(both) or 0)


def open_outgoing(session: Session, wallet: str) -> tuple[list[tuple[str, int]], int]:
    """What ``pending_out`` adds up, itemised: the (nonce, amount) of each accepted transfer from
    ``wallet`` not seen in a block, and the sum of its queued reserve top-ups."""
    transfers = session.execute(select(Transfer.nonce, Transfer.amount).where(*_open(Transfer.from_wallet == wallet)))
    return [(nonce, int(amount)) for nonce, amount in transfers], int(session.scalar(_reserving(wallet)) or 0)


def pending_in(session: Session, wallet: str) -> int:
    """Coins in accepted transfers to ``wallet`` that the chain balance does not reflect yet."""
    return int(session.scalar(_sum(_open(Transfer.to_wallet == wallet))) or 0)


def _open(party: ColumnElement[bool]) -> tuple[ColumnElement[bool], ...]:
    return party, Transfer.status.in_(OPEN), not_yet_in_a_block(Transfer.intent_id)


def _sum(where: tuple[ColumnElement[bool], ...]) -> Select[int]:
    return select(func.coalesce(func.sum(Transfer.amount), 0)).where(*where)


def _reserving(wallet: str) -> Select[int]:
    return select(func.coalesce(func.sum(ReserveTopUp.amount), 0)).where(
        ReserveTopUp.payer == wallet, ReserveTopUp.status == TopUpStatus.PENDING,
        not_yet_in_a_block(ReserveTopUp.intent_id))
