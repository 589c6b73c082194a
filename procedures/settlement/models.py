"""Tables of settlement: top-ups (a ``mint`` intent each) and payouts (one transfer to the
settlement account plus one ``redeem`` intent), and the Zengin batches that pay them out in yen.

Exported Zengin files list bank accounts: they are sealed with ``procedures.crypto.Vault``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = ["Payout", "PayoutBatch", "TopUp"]


class Payout(Base):
    """A merchant's redemption of coins to yen.

    Status: ``processing`` (coins moving to the settlement account, then burned) → ``redeemed``
    (burned; waiting for the bank file) → ``in_transit`` (in an exported Zengin batch) → ``paid``;
    ``failed`` when the coins could not be moved or burned (then they are returned).
    """

    __tablename__ = "payouts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    transfer_id: Mapped[str | None] = mapped_column(String(40))
    redeem_intent_id: Mapped[int | None] = mapped_column(Integer)
    redeem_ref: Mapped[str] = mapped_column(String(66))
    redeem_tx_hash: Mapped[str | None] = mapped_column(String(66))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_payouts_merchant_created", "merchant_id", "created_at"),
        Index("ix_payouts_status", "status"),
    )


class PayoutBatch(Base):
    """One exported Zengin (全銀) transfer file: ``exported`` → ``transferred``."""

    __tablename__ = "payout_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="exported")
    transfer_date: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(BigInteger)  # sum of net amounts (the trailer's total)
    file_key_id: Mapped[str] = mapped_column(String(36))
    file_blob: Mapped[bytes] = mapped_column(LargeBinary)  # sealed: it lists bank accounts
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    transferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TopUp(Base):
    """Yen paid in at a counter or ATM, minted as coins, plus any campaign bonus credited as points (a receipt).

    Status: ``pending`` (mint queued) → ``confirmed`` | ``failed``; a top-up over
    ``MACHI_TOPUP_FOUR_EYES_YEN`` starts ``awaiting`` (nothing queued) until a second staff member
    approves it (``approved_by``; ``operator`` is the first). The bonus's own ``points_status``: ``none`` (no
    bonus, or a top-up from before points, whose bonus ``amount_minted`` includes) → ``pending`` (queued with
    the mint) → ``credited`` | ``failed``; ``points_expire_at`` is when they stop counting.
    """

    __tablename__ = "topups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42))
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger)
    amount_minted: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16))  # counter | atm
    location: Mapped[str | None] = mapped_column(String(80))
    reference: Mapped[str] = mapped_column(String(80), unique=True)  # counter slip / ATM transaction number
    operator: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    intent_id: Mapped[int | None] = mapped_column(Integer)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    failure_code: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    points_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    points_intent_id: Mapped[int | None] = mapped_column(Integer)
    points_expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_topups_wallet", "wallet", "created_at"),
        Index("ix_topups_status", "status"),
    )
