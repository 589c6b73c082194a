"""Civic-report tables: the public face of a road-damage or snow-removal report, and Open311 API keys.

Nothing personal is stored here: the reporter (wallet, contact fields) and the exact location stay
sealed in the report's application; this row holds the grid cell, the district, the status, and the
texts a clerk released for publication.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = ["CivicReport", "CivicStatus", "Open311Key", "Resolution"]


class CivicStatus(enum.StrEnum):
    """Where a civic report stands, as Open311 and ``/town`` show it (``open`` until ``closed``)."""

    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class Resolution(enum.StrEnum):
    """Why a closed report is closed."""

    FIXED = "fixed"
    DUPLICATE = "duplicate"
    NOT_ACTIONABLE = "not_actionable"


class CivicReport(Base):
    """One civic report (an Open311 service request) backed by one application."""

    __tablename__ = "civic_reports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the Open311 service_request_id
    token: Mapped[str] = mapped_column(String(40), unique=True)
    application_id: Mapped[str] = mapped_column(String(40), unique=True)
    service_code: Mapped[str] = mapped_column(String(48))
    department: Mapped[str] = mapped_column(String(64))
    #: ``open311`` (a third-party app or a resident's app) or ``wallet`` (an e-application).
    source: Mapped[str] = mapped_column(String(16))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    #: Filed by a wallet linked to a My Number card (verified on chain at filing).
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Shown publicly: verified reports at once, the others once a clerk reviewed them.
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=CivicStatus.SUBMITTED)
    resolution: Mapped[str | None] = mapped_column(String(16))
    merged_into: Mapped[str | None] = mapped_column(String(40))
    cell_lat: Mapped[float] = mapped_column(Float)
    cell_long: Mapped[float] = mapped_column(Float)
    district: Mapped[str] = mapped_column(String(32))
    #: The description as a clerk released it (checked for personal data); ``None`` until then.
    public_description: Mapped[str | None] = mapped_column(Text)
    #: A clerk checked the photos for faces and plates.
    photo_public: Mapped[bool] = mapped_column(Boolean, default=False)
    photo_count: Mapped[int] = mapped_column(Integer, default=0)
    reward: Mapped[int] = mapped_column(BigInteger, default=0)
    reward_status: Mapped[str] = mapped_column(String(16), default="none")  # none|pending|paid|failed
    reward_intent_id: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_civic_reports_public", "listed", "service_code", "requested_at"),
        Index("ix_civic_reports_queue", "department", "status", "requested_at"),
        Index("ix_civic_reports_merged_into", "merged_into"),
    )

    @property
    def open311_status(self) -> str:
        """``open`` or ``closed``, the only two statuses of GeoReport v2."""
        return "closed" if self.status == CivicStatus.CLOSED else "open"


class Open311Key(Base):
    """An API key an operator issued to a third-party reporting app (stored as a keyed hash)."""

    __tablename__ = "open311_api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
