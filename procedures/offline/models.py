"""Offline reserves, the offline payments merchants relay, and the periods of disaster mode.

Nothing personal is kept: a reserve and a payment are known by the payer's wallet (already public on
chain), the merchant and amounts; a disaster period by the operator who declared it and why.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

# a reserve top-up is a transfer into the reserve: it lives with the transfers, so the payer's coins in
# flight are counted in one place (``procedures.transfers.pending``) without the transfers importing this room
from procedures.transfers.models import ReserveTopUp, TopUpStatus

__all__ = ["DisasterPeriod", "OfflinePaymentRow", "OfflineStatus", "ReserveTopUp", "TopUpStatus"]


class OfflineStatus(enum.StrEnum):
    """``relaying`` (received from a counter, queued for the reserve) → ``paid`` | ``refused`` (``reason``)."""

    RELAYING = "relaying"
    PAID = "paid"
    REFUSED = "refused"


class OfflinePaymentRow(Base):
    """An offline payment a merchant's counter accepted and relayed: settled once (the payer's nonce)."""

    __tablename__ = "offline_payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    payer: Mapped[str] = mapped_column(String(42))
    merchant_wallet: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[str] = mapped_column(String(66))
    valid_before: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(Text)  # the scanned text, as signed (``machi-offline:1:…``)
    status: Mapped[str] = mapped_column(String(16), default=OfflineStatus.RELAYING)
    reason: Mapped[str | None] = mapped_column(String(40))
    reason_message: Mapped[str | None] = mapped_column(String(200))
    intent_id: Mapped[int | None] = mapped_column(Integer)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_offline_payments_payer_nonce", "payer", "nonce", unique=True),
        Index("ix_offline_payments_status", "status", "created_at"),
    )


class DisasterPeriod(Base):
    """Disaster mode: the offline reserve limit raised city-wide from ``starts_at`` to ``ends_at`` (the audit
    record: who, why, when; ``ended_*`` when an operator ended it early)."""

    __tablename__ = "offline_disaster_periods"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reserve_limit: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    declared_by: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
