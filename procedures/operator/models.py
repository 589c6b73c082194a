"""The operator's audit trail: one row per chain action on a wallet (freeze, unfreeze, a retried
balance move), pointing at the outbox intent that carries it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = ["WalletAction"]


class WalletAction(Base):
    """One operator action on a wallet and the intent that carries it."""

    __tablename__ = "wallet_actions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(64))
    #: the second staff member, for actions that need one (an unfreeze); the intent exists once approved
    approved_by: Mapped[str | None] = mapped_column(String(64))
    intent_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_wallet_actions_wallet_created", "wallet", "created_at"),)
