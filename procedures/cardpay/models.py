"""Card wallets and the payments made from them at merchants' counters.

A card wallet is a custodial wallet (``transfers.CustodialWallet``: its key sealed at rest) that the service
holds for a resident who opted in at a city counter with their My Number card. It is known here only by
the internal subject (``identity_subjects``) — never by a serial, a name or a My Number; on chain it is a
resident wallet under an opaque key of its own (HMAC of the card wallet's random id), unlinkable to the
person's own wallet without the pepper.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = ["CardPayment", "CardWallet", "CardWalletStatus"]


class CardWalletStatus(enum.StrEnum):
    """``active``: pays at counters (once its registration is on chain); ``closed``: never again."""

    ACTIVE = "active"
    CLOSED = "closed"


class CardWallet(Base):
    """A resident's card wallet: at most one active per person (partial unique index)."""

    __tablename__ = "card_wallets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a random UUID (its HMAC is the chain's key)
    subject_id: Mapped[str] = mapped_column(ForeignKey("identity_subjects.id"), index=True)
    wallet: Mapped[str] = mapped_column(String(42), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=CardWalletStatus.ACTIVE)
    registration_intent_id: Mapped[int] = mapped_column(Integer)
    opted_in_by: Mapped[str] = mapped_column(String(64))  # the staff member at the counter
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_card_wallets_active_subject", "subject_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class CardPayment(Base):
    """One card payment: the statement's nonce (single use), the request it paid and the transfer that pays it.

    The day's total of a card wallet counts every payment whose transfer has not failed.
    """

    __tablename__ = "card_payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    card_wallet_id: Mapped[str] = mapped_column(ForeignKey("card_wallets.id"))
    merchant_id: Mapped[str] = mapped_column(String(40))
    payment_request_id: Mapped[str] = mapped_column(String(40), index=True)
    transfer_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_card_payments_wallet_day", "card_wallet_id", "created_at"),)
