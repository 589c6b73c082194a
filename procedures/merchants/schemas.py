"""Request and response bodies of the merchant API, the residents' checkout and the operator's
merchant endpoints (Stripe style: ``object`` names the type), with their builders.

The same objects travel in webhook events (``data.object``), so a merchant parses one shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from procedures.merchants import webhooks
from procedures.merchants.api_keys import SCOPES
from procedures.merchants.models import ApiKey, Event, Merchant, PaymentRequest, Refund, WebhookEndpoint
from procedures.schemas import Column, IsoDatetime, RequestModel, from_row
from procedures.transfers.schemas import AuthorizationIn, TransferOut
from procedures.zengin import ACCOUNT_TYPES

MAX_METADATA_KEYS = 20


# --------------------------------------------------------------------------- payment requests
class PaymentRequestIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=10**12, description="coins (= yen)")
    description: str | None = Field(None, max_length=500, description="shown to the resident before paying")
    order_reference: str | None = Field(None, max_length=120, description="your order number")
    expires_in: int | None = Field(None, ge=60, le=30 * 86400, description="seconds until it expires (default 900)")
    expires_at: IsoDatetime | None = Field(None, description="or: when it expires (ISO 8601; 1 min to 30 days ahead)")
    metadata: dict[str, str] = Field(default_factory=dict, description="up to 20 keys of your own")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys")
        if any(len(k) > 40 or len(v) > 500 for k, v in value.items()):
            raise ValueError("metadata keys are at most 40 characters, values at most 500")
        return value


class PaymentRequestOut(BaseModel):
    object: str = "payment_request"
    id: str
    merchant: Annotated[str, Column("merchant_id")]
    source: str = Field(description="request (amount set by the merchant) or static (typed by the resident)")
    amount: int
    amount_refunded: int
    description: str | None
    order_reference: str | None
    metadata: Annotated[dict[str, str], Column("metadata_")]
    status: str = Field(description="open, paid, expired, canceled, partially_refunded, refunded")
    uri: str | None = Field(description="EIP-681 payment URI (what the QR code holds)")
    payment_in_progress: bool
    payer: Annotated[str | None, Column("payer_wallet")]
    transfer: Annotated[str | None, Column("payment_transfer_id")]
    tx_hash: str | None
    last_payment_error: str | None
    expires_at: datetime | None
    created_at: datetime
    paid_at: datetime | None
    canceled_at: datetime | None
    expired_at: datetime | None


def payment_request_out(pr: PaymentRequest, *, in_progress: bool = False) -> PaymentRequestOut:
    """The API object of a payment request."""
    return from_row(PaymentRequestOut, pr, metadata=dict(pr.metadata_ or {}), payment_in_progress=in_progress)


# --------------------------------------------------------------------------- refunds
class RefundIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    payment_request: str = Field(max_length=40)
    amount: int | None = Field(None, gt=0, le=10**12, description="default: everything not yet refunded")
    reason: str | None = Field(None, max_length=200)


class RefundOut(BaseModel):
    object: str = "refund"
    id: str
    payment_request: Annotated[str, Column("payment_request_id")]
    amount: int
    reason: str | None
    status: str = Field(description="pending, succeeded, failed")
    automatic: bool = Field(description="made by the service (a duplicate payment returned), not by the merchant")
    transfer: Annotated[str | None, Column("transfer_id")]
    failure_code: str | None
    created_at: datetime
    succeeded_at: datetime | None


def refund_out(refund: Refund) -> RefundOut:
    """The API object of a refund."""
    return from_row(RefundOut, refund)


# --------------------------------------------------------------------------- the merchant and its keys
class ApiKeyIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    scopes: list[str] = Field(min_length=1, description=", ".join(SCOPES))


class RotateIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(0, ge=0, le=7 * 86400, description="how long the old key keeps working")


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
    return from_row(ApiKeyOut, key, scopes=list(key.scopes), secret=secret)


class BankAccountIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    bank_code: str = Field(pattern=r"^\d{4}$", description="金融機関コード")
    branch_code: str = Field(pattern=r"^\d{3}$", description="支店コード")
    account_type: str = Field(description=", ".join(ACCOUNT_TYPES))
    account_number: str = Field(pattern=r"^\d{1,7}$")
    holder_name_kana: str = Field(min_length=1, max_length=60, description="口座名義 in katakana")
    bank_name_kana: str = Field("", max_length=30)
    branch_name_kana: str = Field("", max_length=30)


class BankAccountOut(BaseModel):
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str = Field(description="masked: the last three digits")
    holder_name_kana: str
    bank_name_kana: str
    branch_name_kana: str


class MerchantIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    business_name: str = Field(min_length=1, max_length=120)
    display_name: str | None = Field(None, max_length=80, description="shown to residents (default: business name)")
    bank_account: BankAccountIn


class SuspendIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class AdminKeyIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("issued by the city", min_length=1, max_length=80)
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES))


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
    return from_row(MerchantOut, merchant, static_uri=static_uri,
                    bank_account=BankAccountOut(**bank) if bank else None, api_key=api_key)


class MerchantBalanceOut(BaseModel):
    object: str = "balance"
    wallet: str
    balance: int = Field(description="coins on chain")
    pending_in: int = Field(description="payments accepted, not yet in a block (not in `balance` yet)")
    pending_out: int = Field(description="refunds and payouts accepted, not yet in a block (not in `balance` yet)")
    available: int = Field(description="what refunds and payouts can use now")


# --------------------------------------------------------------------------- webhooks and events
class WebhookEndpointIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000)
    enabled_events: list[str] = Field(default_factory=lambda: ["*"], description=f"{', '.join(webhooks.EVENT_TYPES)}"
                                      " or *")
    description: str | None = Field(None, max_length=200)


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
    return from_row(WebhookEndpointOut, endpoint, enabled_events=list(endpoint.enabled_events), secret=secret)


class RedeliverIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(None, description="one endpoint; default: every enabled subscriber")


class DeliveryAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    object: str = "webhook_delivery"
    endpoint: Annotated[str, Column("endpoint_id")]
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


def event_out(session: Session, event: Event, *, with_deliveries: bool) -> EventOut:
    """The API object of an event (``data`` as sent), with its delivery log when asked."""
    deliveries = None
    if with_deliveries:
        deliveries = [from_row(DeliveryOut, d, log=[from_row(DeliveryAttemptOut, a) for a in attempts])
                      for d, attempts in webhooks.deliveries_of(session, event.id)]
    return from_row(EventOut, event, data=webhooks.event_body(event)["data"], deliveries=deliveries)


# --------------------------------------------------------------------------- the residents' checkout
class MerchantBrief(BaseModel):
    id: str
    display_name: str


class CheckoutOut(BaseModel):
    object: str = "checkout"
    id: str
    merchant: MerchantBrief
    pay_to: str = Field(description="the merchant's wallet: the authorization's `to`")
    amount: int
    description: str | None
    status: str
    payment_in_progress: bool
    merchant_accepts_payments: bool
    expires_at: datetime | None
    uri: str | None


def checkout_out(pr: PaymentRequest, merchant: Merchant, *, in_progress: bool) -> CheckoutOut:
    """What a resident sees before paying: merchant name, amount, status (no merchant internals)."""
    return from_row(CheckoutOut, pr, merchant=from_row(MerchantBrief, merchant), pay_to=merchant.wallet,
                    payment_in_progress=in_progress, merchant_accepts_payments=merchant.status == "active")


class StaticCheckoutOut(BaseModel):
    object: str = "static_checkout"
    merchant: MerchantBrief
    pay_to: str
    merchant_accepts_payments: bool


def static_checkout_out(merchant: Merchant) -> StaticCheckoutOut:
    """Who a static code pays (the resident types the amount)."""
    return StaticCheckoutOut(merchant=from_row(MerchantBrief, merchant), pay_to=merchant.wallet,
                             merchant_accepts_payments=merchant.status == "active")


class PayIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    authorization: AuthorizationIn


class StaticPayIn(PayIn):
    memo: str | None = Field(None, max_length=140)


class PaymentOut(BaseModel):
    object: str = "payment"
    payment_request: str
    transfer: TransferOut
