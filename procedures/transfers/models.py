"""Payment tables shared by every money movement."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow


class CustodialWallet(Base):
    """A wallet whose key the service holds, encrypted at rest (merchants, the city treasury)."""

    __tablename__ = "custodial_wallets"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(16))  # city | merchant
    owner_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(36))
    key_blob: Mapped[bytes] = mapped_column(LargeBinary)
    registration_intent_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_custodial_wallets_owner", "owner_type", "owner_id", unique=True),)


class Transfer(Base):
    """One signed authorization moving coins (payment, person-to-person, fee, refund…).

    Status: ``accepted`` (validated, queued) → ``confirmed`` | ``failed``; while its outbox
    intent is in a signed transaction the API reports it as ``submitted``.
    """

    __tablename__ = "transfers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    purpose: Mapped[str | None] = mapped_column(String(80))  # e.g. payment_request:pr_…
    from_wallet: Mapped[str] = mapped_column(String(42))
    to_wallet: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(BigInteger)
    nonce: Mapped[str] = mapped_column(String(66))
    ref: Mapped[str] = mapped_column(String(66), unique=True)
    valid_after: Mapped[int] = mapped_column(BigInteger)
    valid_before: Mapped[int] = mapped_column(BigInteger)
    item: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    intent_id: Mapped[int | None] = mapped_column(Integer)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    memo: Mapped[str | None] = mapped_column(String(140))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # A failed transfer left its nonce unused on chain: the wallet signs that nonce again (key 1's
        # sequence must go on from it), so only transfers that did not fail hold their nonce.
        Index("uq_transfers_from_nonce", "from_wallet", "nonce", unique=True,
              sqlite_where=text("status != 'failed'"), postgresql_where=text("status != 'failed'")),
        Index("ix_transfers_from_nonce", "from_wallet", "nonce"),  # the replay lookup, failed rows included
        Index("ix_transfers_from_status", "from_wallet", "status"),
        Index("ix_transfers_to_status", "to_wallet", "status"),
        Index("ix_transfers_purpose", "purpose"),
    )


class TopUpStatus(enum.StrEnum):
    """``pending`` (queued for the relayer) → ``confirmed`` | ``failed``."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class ReserveTopUp(Base):
    """One move of a resident's coins into their offline reserve (their signed ``ReceiveWithAuthorization``)."""

    __tablename__ = "offline_reserve_topups"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payer: Mapped[str] = mapped_column(String(42), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[str] = mapped_column(String(66), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=TopUpStatus.PENDING)
    intent_id: Mapped[int | None] = mapped_column(Integer)
    failure_code: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
