"""E-application tables.

Personal data (form answers, attachment names and bytes, reasons and comments) is stored only
sealed under the application's own data key (``procedures.crypto.Vault``), so erasing that key
when the retention period ends erases the record. ``application_events`` is the append-only audit
log: every row is also a Merkle leaf, anchored on chain in batches (``application_anchors``);
only its anchoring columns are filled in later.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = [
    "AccessLog",
    "AnchorBatch",
    "Application",
    "ApplicationEvent",
    "Attachment",
    "Notification",
    "Status",
]


class Status(enum.StrEnum):
    """Where an application stands (see ``procedures.applications.transitions``)."""

    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    LAPSED = "lapsed"

    @property
    def final(self) -> bool:
        """No transition leaves this status."""
        return self in (Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.LAPSED)


class Application(Base):
    """One e-application filed by a resident's wallet."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(48))
    procedure_version: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String(64))
    applicant: Mapped[str] = mapped_column(String(42))
    status: Mapped[str] = mapped_column(String(16), default=Status.SUBMITTED)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    #: Vault data key sealing every personal field of this application (erased at end of retention).
    key_id: Mapped[str] = mapped_column(String(36))
    form_blob: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[str] = mapped_column(String(66))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_status: Mapped[str] = mapped_column(String(16), default="none")  # none|pending|paid|failed|refunding|refunded
    fee_transfer_id: Mapped[str | None] = mapped_column(String(40))
    refund_transfer_id: Mapped[str | None] = mapped_column(String(40))
    benefit: Mapped[int] = mapped_column(BigInteger, default=0)
    benefit_status: Mapped[str] = mapped_column(String(16), default="none")  # none|pending|paid|failed
    benefit_intent_id: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    correction_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_seq: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_applications_queue", "department", "status", "submitted_at"),
        Index("ix_applications_applicant", "applicant", "submitted_at"),
        Index("ix_applications_assignee", "assignee_id", "status"),
        Index("ix_applications_correction", "status", "correction_deadline"),
        Index("ix_applications_retention", "retain_until"),
    )


class Attachment(Base):
    """A file sent with a submission: hashed in the clear, stored sealed."""

    __tablename__ = "application_attachments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    name_blob: Mapped[bytes] = mapped_column(LargeBinary)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_application_attachments_application", "application_id", "revision", "position"),)


class ApplicationEvent(Base):
    """One event of an application: an audit-log row and a Merkle leaf.

    The leaf commits (with ``salt``) to everything a receipt opens: the application id, the
    procedure code and version, the event itself, its content hash, who acted and their signature.
    ``details_blob`` (reasons, comments, assignments) is sealed under the application's key.
    """

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_type: Mapped[str] = mapped_column(String(16))  # resident | staff | system
    actor_id: Mapped[str | None] = mapped_column(String(64))  # wallet or staff id
    actor: Mapped[str] = mapped_column(String(42))  # address that signed (or the zero address for facts)
    signature: Mapped[str] = mapped_column(String(140))  # 0x-hex, "0x" for unsigned facts
    nonce: Mapped[str | None] = mapped_column(String(66))
    deadline: Mapped[int | None] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(66))
    details_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    public_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    occurred_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds, part of the leaf
    salt: Mapped[str] = mapped_column(String(66))
    leaf: Mapped[str] = mapped_column(String(66), unique=True)
    batch_id: Mapped[int | None] = mapped_column(Integer)
    proof: Mapped[list[str] | None] = mapped_column(JSON)
    anchor_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("uq_application_events_seq", "application_id", "seq", unique=True),
        Index("uq_application_events_signer_nonce", "actor", "nonce", unique=True),
        Index("ix_application_events_batch", "batch_id", "id"),
    )


class AnchorBatch(Base):
    """A batch of leaves whose Merkle root is (being) anchored in ProcedureLedger."""

    __tablename__ = "application_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[str] = mapped_column(String(66))
    leaf_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | anchored | failed
    intent_id: Mapped[int | None] = mapped_column(Integer)
    anchor_id: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    anchored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_application_anchors_status", "status"), Index("ix_application_anchors_root", "root"))


class AccessLog(Base):
    """One read of an application's personal data by a staff member (append-only)."""

    __tablename__ = "application_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(String(40))
    staff_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(64))  # form | attachment:<id> | details
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_application_access_log_application", "application_id", "id"),
        Index("ix_application_access_log_staff", "staff_id", "id"),
    )


class Notification(Base):
    """A message to a resident about one of their applications (no personal data in the text)."""

    __tablename__ = "application_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wallet: Mapped[str] = mapped_column(String(42))
    application_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_application_notifications_wallet", "wallet", "id"),)
