"""Response objects of the merchant API (Stripe style: ``object`` names the type) and their builders.

The same objects travel in webhook events (``data.object``), so a merchant parses one shape.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from procedures.merchants.models import (
    ApiKey,
    Merchant,
    PaymentRequest,
    Payout,
    PayoutBatch,
    Refund,
    TopUp,
    WebhookEndpoint,
)


class PaymentRequestOut(BaseModel):
    object: str = "payment_request"
    id: str
    merchant: str
    source: str = Field(description="request (amount set by the merchant) or static (typed by the resident)")
    amount: int
    amount_refunded: int
    description: str | None
    order_reference: str | None
    metadata: dict[str, str]
    status: str = Field(description="open, paid, expired, canceled, partially_refunded, refunded")
    uri: str | None = Field(description="EIP-681 payment URI (what the QR code holds)")
    payment_in_progress: bool
    payer: str | None
    transfer: str | None
    tx_hash: str | None
    last_payment_error: str | None
    expires_at: datetime | None
    created_at: datetime
    paid_at: datetime | None
    canceled_at: datetime | None
    expired_at: datetime | None


def payment_request_out(pr: PaymentRequest, *, in_progress: bool = False) -> PaymentRequestOut:
    """The API object of a payment request."""
    return PaymentRequestOut(
        id=pr.id, merchant=pr.merchant_id, source=pr.source, amount=pr.amount, amount_refunded=pr.amount_refunded,
        description=pr.description, order_reference=pr.order_reference, metadata=dict(pr.metadata_ or {}),
        status=pr.status, uri=pr.uri, payment_in_progress=in_progress, payer=pr.payer_wallet,
        transfer=pr.payment_transfer_id, tx_hash=pr.tx_hash, last_payment_error=pr.last_payment_error,
        expires_at=pr.expires_at, created_at=pr.created_at, paid_at=pr.paid_at, canceled_at=pr.canceled_at,
        expired_at=pr.expired_at,
    )


class RefundOut(BaseModel):
    object: str = "refund"
    id: str
    payment_request: str
    amount: int
    reason: str | None
    status: str = Field(description="pending, succeeded, failed")
    automatic: bool = Field(description="made by the service (a duplicate payment returned), not by the merchant")
    transfer: str | None
    failure_code: str | None
    created_at: datetime
    succeeded_at: datetime | None


def refund_out(refund: Refund) -> RefundOut:
    """The API object of a refund."""
    return RefundOut(id=refund.id, payment_request=refund.payment_request_id, amount=refund.amount,
                     reason=refund.reason, status=refund.status, automatic=refund.automatic,
                     transfer=refund.transfer_id, failure_code=refund.failure_code, created_at=refund.created_at,
                     succeeded_at=refund.succeeded_at)


class PayoutOut(BaseModel):
    object: str = "payout"
    id: str
    merchant: str
    amount: int = Field(description="coins redeemed (burned)")
    fee: int
    fee_bps: int
    net_amount: int = Field(description="yen transferred to the bank account")
    status: str = Field(description="processing, redeemed, in_transit, paid, failed")
    batch: str | None
    redeem_tx_hash: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    redeemed_at: datetime | None
    paid_at: datetime | None


def payout_out(payout: Payout) -> PayoutOut:
    """The API object of a payout."""
    return PayoutOut(id=payout.id, merchant=payout.merchant_id, amount=payout.amount, fee=payout.fee,
                     fee_bps=payout.fee_bps, net_amount=payout.net_amount, status=payout.status,
                     batch=payout.batch_id, redeem_tx_hash=payout.redeem_tx_hash, failure_code=payout.failure_code,
                     failure_message=payout.failure_message, created_at=payout.created_at,
                     redeemed_at=payout.redeemed_at, paid_at=payout.paid_at)


class PayoutBatchOut(BaseModel):
    object: str = "payout_batch"
    id: str
    status: str = Field(description="exported, transferred")
    transfer_date: date
    count: int
    total_amount: int
    payouts: list[str]
    created_at: datetime
    transferred_at: datetime | None


def payout_batch_out(batch: PayoutBatch, payout_ids: list[str]) -> PayoutBatchOut:
    """The API object of a payout batch."""
    return PayoutBatchOut(id=batch.id, status=batch.status, transfer_date=batch.transfer_date, count=batch.count,
                          total_amount=batch.total_amount, payouts=payout_ids, created_at=batch.created_at,
                          transferred_at=batch.transferred_at)


class ApiKeyOut(BaseModel):
    object: str = "api_key"
    id: str
    name: str
    prefix: str
    scopes: list[str]
    secret: str | None = Field(None, description="the key itself: returned once, when created or rotated")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def api_key_out(key: ApiKey, secret: str | None = None) -> ApiKeyOut:
    """The API object of a key (with the secret only right after creation)."""
    return ApiKeyOut(id=key.id, name=key.name, prefix=key.prefix, scopes=list(key.scopes), secret=secret,
                     created_at=key.created_at, expires_at=key.expires_at, revoked_at=key.revoked_at,
                     last_used_at=key.last_used_at)


class BankAccountOut(BaseModel):
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str = Field(description="masked: the last three digits")
    holder_name_kana: str
    bank_name_kana: str
    branch_name_kana: str


class MerchantOut(BaseModel):
    object: str = "merchant"
    id: str
    business_name: str
    display_name: str
    status: str = Field(description="pending, active, suspended, registration_failed")
    status_reason: str | None
    wallet: str
    static_uri: str = Field(description="EIP-681 URI of the merchant's static QR code (amount typed by the payer)")
    bank_account: BankAccountOut | None
    created_at: datetime
    activated_at: datetime | None
    suspended_at: datetime | None
    api_key: ApiKeyOut | None = Field(None, description="the first API key, returned once at onboarding")


def merchant_out(merchant: Merchant, static_uri: str, bank: dict[str, str] | None,
                 api_key: ApiKeyOut | None = None) -> MerchantOut:
    """The API object of a merchant."""
    return MerchantOut(id=merchant.id, business_name=merchant.business_name, display_name=merchant.display_name,
                       status=merchant.status, status_reason=merchant.status_reason, wallet=merchant.wallet,
                       static_uri=static_uri, bank_account=BankAccountOut(**bank) if bank else None,
                       created_at=merchant.created_at, activated_at=merchant.activated_at,
                       suspended_at=merchant.suspended_at, api_key=api_key)


class WebhookEndpointOut(BaseModel):
    object: str = "webhook_endpoint"
    id: str
    url: str
    description: str | None
    enabled_events: list[str]
    status: str
    secret: str | None = Field(None, description="the signing secret: returned once, when created")
    created_at: datetime


def webhook_endpoint_out(endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookEndpointOut:
    """The API object of a webhook endpoint."""
    return WebhookEndpointOut(id=endpoint.id, url=endpoint.url, description=endpoint.description,
                              enabled_events=list(endpoint.enabled_events), status=endpoint.status, secret=secret,
                              created_at=endpoint.created_at)


class DeliveryAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    object: str = "webhook_delivery"
    endpoint: str
    status: str = Field(description="pending, succeeded, failed (gave up)")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    log: list[DeliveryAttemptOut]


class EventOut(BaseModel):
    object: str = "event"
    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]
    deliveries: list[DeliveryOut] | None = None


class TopUpOut(BaseModel):
    object: str = "topup"
    id: str = Field(description="also the receipt number")
    wallet: str
    amount_paid: int = Field(description="yen received at the counter or ATM")
    bonus: int = Field(description="campaign premium in coins")
    amount_minted: int
    channel: str
    location: str | None
    reference: str
    status: str = Field(description="pending, confirmed, failed")
    failure_code: str | None
    tx_hash: str | None
    city: str
    created_at: datetime
    confirmed_at: datetime | None


def topup_out(topup: TopUp, city: str) -> TopUpOut:
    """The receipt of a top-up."""
    return TopUpOut(id=topup.id, wallet=topup.wallet, amount_paid=topup.amount_paid, bonus=topup.bonus,
                    amount_minted=topup.amount_minted, channel=topup.channel, location=topup.location,
                    reference=topup.reference, status=topup.status, failure_code=topup.failure_code,
                    tx_hash=topup.tx_hash, city=city, created_at=topup.created_at, confirmed_at=topup.confirmed_at)
