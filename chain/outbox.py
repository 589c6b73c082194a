"""The transactional outbox: callers write *intents* in their own database transaction; the
relayer (``chain.relayer``) turns them into signed transactions exactly once.

Tables
    ``tx_intents``  one call the caller wants on chain (alone, or as an item of a batch call)
    ``chain_txs``   one signed transaction; several rows share a nonce when fees were bumped
"""

from __future__ import annotations

import enum
import time
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from chain.errors import ChainError
from chain.storage import Base, UTCDateTime, utcnow


class IntentStatus(enum.StrEnum):
    """Life of an intent: queued → pending (in a signed tx) → confirmed | failed."""

    QUEUED = "queued"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class TxStatus(enum.StrEnum):
    """Life of a signed transaction."""

    SIGNED = "signed"  # persisted, maybe not yet handed to the node
    SENT = "sent"  # the node accepted it
    MINED = "mined"  # in a block, not yet deep enough
    CONFIRMED = "confirmed"  # at the confirmation depth
    REPLACED = "replaced"  # another transaction with the same nonce was mined
    DROPPED = "dropped"  # the nonce was used by something else; its intents were re-queued


OPEN_TX_STATUSES = (TxStatus.SIGNED, TxStatus.SENT, TxStatus.MINED)


class ChainTx(Base):
    """A signed transaction, stored before it is sent so a crash can never lose or repeat it."""

    __tablename__ = "chain_txs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    to_address: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[int] = mapped_column(Numeric(78, 0), default=0)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int] = mapped_column(Numeric(78, 0))
    max_priority_fee_per_gas: Mapped[int] = mapped_column(Numeric(78, 0))
    status: Mapped[str] = mapped_column(String(16), default=TxStatus.SIGNED)
    batch_key: Mapped[str | None] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(Integer, default=1)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    receipt_status: Mapped[int | None] = mapped_column(Integer)
    sent_by: Mapped[str] = mapped_column(String(120))
    send_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_chain_txs_sender_status", "sender", "status"),
        Index("ix_chain_txs_sender_nonce", "sender", "nonce"),
    )


class TxIntent(Base):
    """A call somebody wants on chain. Written in the caller's own database transaction."""

    __tablename__ = "tx_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(42))
    kind: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(160))
    to_address: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[int] = mapped_column(Numeric(78, 0), default=0)
    batch_key: Mapped[str | None] = mapped_column(String(64))
    batch_item: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=IntentStatus.QUEUED)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_tx_intents_sender_status", "sender", "status", "id"),
        Index("ix_tx_intents_sender_nonce", "sender", "nonce"),
        Index("uq_tx_intents_sender_reference", "sender", "reference", unique=True),
    )

    @property
    def done(self) -> bool:
        """True once the intent reached a final state."""
        return self.status in (IntentStatus.CONFIRMED, IntentStatus.FAILED)


def enqueue(
    session: Session,
    *,
    sender: str,
    to: str,
    data: bytes,
    kind: str,
    value: int = 0,
    reference: str | None = None,
    batch_key: str | None = None,
    batch_item: bytes | None = None,
) -> TxIntent:
    """Add an intent in the caller's transaction (it is sent only if that transaction commits).

    Args:
        sender: checksummed address of the key that must send it (a relayer key).
        to: contract address called.
        data: calldata for sending the call on its own.
        kind: a short label for logs and metrics (``coin.mint``, ``registry.attest``…).
        reference: caller's idempotency key; enqueueing the same reference twice returns the
            first intent instead of adding a second one.
        batch_key / batch_item: when set, the relayer may carry this call as one item of a batch
            call built by the batcher registered under ``batch_key``.
    """
    if reference is not None:
        existing = session.scalar(select(TxIntent).where(TxIntent.sender == sender, TxIntent.reference == reference))
        if existing is not None:
            return existing
    if (batch_key is None) != (batch_item is None):
        raise ValueError("batch_key and batch_item go together")
    intent = TxIntent(
        sender=sender,
        kind=kind,
        reference=reference,
        to_address=to,
        data=data,
        value=value,
        batch_key=batch_key,
        batch_item=batch_item,
        status=IntentStatus.QUEUED,
    )
    session.add(intent)
    session.flush()
    return intent


class IntentTimeout(ChainError):
    """The intent did not reach a final state in time."""

    code = "intent_timeout"


def wait_for_intent(factory: sessionmaker[Session], intent_id: int, timeout: float = 30.0) -> TxIntent:
    """Poll until the intent is confirmed or failed; returns it detached.

    Raises:
        IntentTimeout: still not final after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        with factory() as session:
            intent = session.get(TxIntent, intent_id)
            if intent is None:
                raise KeyError(f"no intent {intent_id}")
            if intent.done:
                session.expunge(intent)
                return intent
        if time.monotonic() > deadline:
            raise IntentTimeout(f"intent {intent_id} still {intent.status} after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
