"""Auth tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow


class StaffAccount(Base):
    """A city employee: clerk, supervisor or admin (the operator role)."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    signing_key_id: Mapped[str | None] = mapped_column(String(36))
    signing_key_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    signing_address: Mapped[str | None] = mapped_column(String(42))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # unused since 0013 (StaffLoginThrottle)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # unused since 0013
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffLoginThrottle(Base):
    """Failed logins of one staff account from one source address, and until when that pair waits.

    Per (account, source) rather than per account: an attacker at one address slows only itself
    down, never the clerk at another (five wrong passwords used to lock the account for everyone).
    """

    __tablename__ = "staff_login_throttles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    source: Mapped[str] = mapped_column(String(64))  # the client address (procedures.api.proxies)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_staff_login_throttles_staff_source", "staff_id", "source", unique=True),)


class StaffNotice(Base):
    """Something the account's owner should know, shown at the next login and on the console
    (``failed_logins``: ``count`` wrong passwords from ``source``)."""

    __tablename__ = "staff_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_staff_notices_staff_seen", "staff_id", "seen_at"),)


class AccessToken(Base):
    """A bearer token (only its SHA-256 is stored)."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_type: Mapped[str] = mapped_column(String(16))  # staff | resident
    subject: Mapped[str] = mapped_column(String(64))  # staff id or wallet address
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Challenge(Base):
    """A single-use, short-lived server nonce (wallet login, card linking, recovery)."""

    __tablename__ = "challenges"

    nonce: Mapped[str] = mapped_column(String(66), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    wallet: Mapped[str] = mapped_column(String(42))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_challenges_wallet", "wallet"),)
