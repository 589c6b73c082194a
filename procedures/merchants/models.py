"""Tables of the merchant payment API.

Money moves only through ``transfers`` (``procedures.transfers.models.Transfer``) and outbox
intents; the rows here are the business records that point at them: a payment request is *paid*
by one transfer, a refund *is* one transfer. (Payouts and top-ups: ``procedures.settlement.models``.)

Personal or sensitive data is sealed with ``procedures.crypto.Vault`` (a data key per record):
merchants' bank accounts and webhook signing secrets. API keys are stored only as a keyed HMAC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.storage import Base, UTCDateTime, utcnow

__all__ = [
    "ApiKey",
    "Event",
    "IdempotencyRecord",
    "Merchant",
    "PaymentRequest",
    "Refund",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]


class Merchant(Base):
    """A business accepting the coin. Its wallet is custodial (``CustodialWallet`` owner ``merchant``).

    Status: ``pending`` (registry entry on its way) → ``active`` ⇄ ``suspended``;
    ``registration_failed`` if the registry refused it.
    """

    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    business_name: Mapped[str] = mapped_column(String(120))
    display_name: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    wallet: Mapped[str] = mapped_column(String(42), unique=True)
    bank_key_id: Mapped[str] = mapped_column(String(36))
    bank_blob: Mapped[bytes] = mapped_column(LargeBinary)  # sealed JSON: codes, type, number, holder kana
    registration_intent_id: Mapped[int | None] = mapped_column(Integer)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A merchant API key: only a keyed HMAC of the secret is kept; ``prefix`` finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)  # mk_live_<lookup>, shown in lists
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))  # operator:<staff id> | key:<key id>
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set when rotated with a grace period
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_keys_merchant", "merchant_id"),)


class IdempotencyRecord(Base):
    """The first response to a request sent with an ``Idempotency-Key`` (kept 24 hours)."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64))  # merchant:<id> | staff:<id>
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and canonical body
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("uq_idempotency_records_owner_key", "owner", "key", unique=True),
        Index("ix_idempotency_records_created", "created_at"),
    )


class PaymentRequest(Base):
    """What a merchant asks a resident to pay; paid by exactly one transfer.

    Status: ``open`` → ``paid`` | ``expired`` | ``canceled``; after refunds ``partially_refunded``
    | ``refunded``. ``payment_transfer_id`` is set while a payment is in flight and stays set once
    paid. ``source`` is ``request`` (amount set by the merchant) or ``static`` (the resident typed
    the amount after scanning the merchant's static code).
    """

    __tablename__ = "payment_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(8), default="request")
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    description: Mapped[str | None] = mapped_column(String(500))
    order_reference: Mapped[str | None] = mapped_column(String(120))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    status: Mapped[str] = mapped_column(String(24), default="open")
    uri: Mapped[str | None] = mapped_column(String(300))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_transfer_id: Mapped[str | None] = mapped_column(String(40))
    payer_wallet: Mapped[str | None] = mapped_column(String(42))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    last_payment_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_payment_requests_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_payment_requests_status_expires", "status", "expires_at"),
    )


class Refund(Base):
    """Coins sent back from the merchant's wallet to the payer: ``pending`` → ``succeeded`` | ``failed``."""

    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    payment_request_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    transfer_id: Mapped[str | None] = mapped_column(String(40))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)  # returned by the service (duplicate payment)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_refunds_request", "payment_request_id"),
        Index("ix_refunds_merchant_created", "merchant_id", "created_at"),
    )


class WebhookEndpoint(Base):
    """Where a merchant wants events POSTed, with its signing secret (sealed)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    enabled_events: Mapped[list[str]] = mapped_column(JSON)  # ["*"] = every event
    secret_key_id: Mapped[str] = mapped_column(String(36))
    secret_blob: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="enabled")  # enabled | disabled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_webhook_endpoints_merchant", "merchant_id"),)


class Event(Base):
    """Something that happened to a merchant's objects; ``payload`` is the exact JSON body sent."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_events_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_events_object", "object_id"),
    )


class WebhookDelivery(Base):
    """Delivery of one event to one endpoint: ``pending`` → ``succeeded`` | ``failed`` (gave up)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32))
    endpoint_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_webhook_deliveries_event_endpoint", "event_id", "endpoint_id", unique=True),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery (the delivery log)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id"),)
