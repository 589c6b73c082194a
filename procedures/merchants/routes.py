"""The merchant payment API (``Authorization: Bearer mk_…``): payment requests, refunds, payouts,
webhooks, events, API keys, statements.

Stripe conventions: objects carry ``object``; lists are ``{"object": "list", "data", "has_more",
"next_cursor"}`` with ``limit``/``starting_after``; POSTs that create or change money accept an
``Idempotency-Key``; every error has the one shape of ``procedures.errors``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from procedures.auth.service import Principal
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import InvalidRequest, PermissionDenied
from procedures.merchants import accounts as merchants
from procedures.merchants import payment_requests, refunds, webhooks
from procedures.merchants.deps import (
    AnyMerchant,
    KeysWrite,
    PaymentsRead,
    PaymentsWrite,
    PayoutsRead,
    PayoutsWrite,
    RefundsWrite,
    StatementsRead,
    WebhooksWrite,
)
from procedures.merchants.idempotency import IdempotencyKeyHeader, run_idempotent
from procedures.merchants.models import Event, Merchant, PaymentRequest
from procedures.merchants.schemas import (
    ApiKeyOut,
    DeliveryAttemptOut,
    DeliveryOut,
    EventOut,
    MerchantOut,
    PaymentRequestOut,
    PayoutOut,
    RefundOut,
    WebhookEndpointOut,
    api_key_out,
    merchant_out,
    payment_request_out,
    payout_out,
    refund_out,
    webhook_endpoint_out,
)
from procedures.pagination import CursorQuery, LimitQuery, Page
from procedures.settlement import payouts, statements
from procedures.settlement.payouts import JST
from procedures.transfers import service as transfers

router = APIRouter(prefix="/v1", tags=["merchant API"])

MAX_METADATA_KEYS = 20
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "QR code (PNG)"}}
SVG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/svg+xml": {}}, "description": "QR code (SVG)"}}


def _merchant(session: Session, principal: Principal) -> Merchant:
    return merchants.get_merchant(session, principal.subject)


def _owner(principal: Principal) -> str:
    return f"merchant:{principal.subject}"


def _aware(value: datetime | None) -> datetime | None:
    """Query times without a zone are Japan time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=JST)
    return value


def _page(items: list[Any], limit: int) -> Page[Any]:
    shown = items[:limit]
    more = len(items) > limit
    return Page(data=shown, has_more=more, next_cursor=shown[-1].id if shown and more else None)


# --------------------------------------------------------------------------- the merchant itself
class BalanceOut(BaseModel):
    object: str = "balance"
    wallet: str
    balance: int = Field(description="coins on chain")
    pending_in: int = Field(description="payments accepted, not yet in a block (not in `balance` yet)")
    pending_out: int = Field(description="refunds and payouts accepted, not yet in a block (not in `balance` yet)")
    available: int = Field(description="what refunds and payouts can use now")


@router.get("/merchant", summary="The merchant this key belongs to")
def me(runtime: RuntimeDep, session: SessionDep, principal: AnyMerchant) -> MerchantOut:
    """Profile, wallet and static payment URI (the bank account stays with the city)."""
    merchant = _merchant(session, principal)
    return merchant_out(merchant, payment_requests.static_uri(runtime, merchant), None)


@router.get("/merchant/balance", summary="The merchant's coin balance")
def balance(runtime: RuntimeDep, session: SessionDep, principal: PaymentsRead) -> BalanceOut:
    """On-chain balance and what payments in flight will change."""
    merchant = _merchant(session, principal)
    on_chain = runtime.coin.balance_of(merchant.wallet)
    out = transfers.pending_out(session, merchant.wallet)
    incoming = transfers.pending_in(session, merchant.wallet)
    return BalanceOut(wallet=merchant.wallet, balance=on_chain, pending_in=incoming, pending_out=out,
                      available=on_chain - out)


@router.get("/merchant/qr.png", response_class=Response, responses=PNG, summary="Static QR code (PNG)")
def static_qr_png(runtime: RuntimeDep, session: SessionDep, principal: PaymentsRead) -> Response:
    """The merchant's static code: residents scan it and type the amount."""
    uri = payment_requests.static_uri(runtime, _merchant(session, principal))
    return Response(payment_requests.qr_png(uri), media_type="image/png")


@router.get("/merchant/qr.svg", response_class=Response, responses=SVG, summary="Static QR code (SVG)")
def static_qr_svg(runtime: RuntimeDep, session: SessionDep, principal: PaymentsRead) -> Response:
    """The merchant's static code as SVG (for print)."""
    uri = payment_requests.static_uri(runtime, _merchant(session, principal))
    return Response(payment_requests.qr_svg(uri), media_type="image/svg+xml")


# --------------------------------------------------------------------------- payment requests
class PaymentRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=10**12, description="coins (= yen)")
    description: str | None = Field(None, max_length=500, description="shown to the resident before paying")
    order_reference: str | None = Field(None, max_length=120, description="your order number")
    expires_in: int | None = Field(None, ge=60, le=30 * 86400, description="seconds until it expires (default 900)")
    expires_at: datetime | None = Field(None, description="or: when it expires (ISO 8601; 1 min to 30 days ahead)")
    metadata: dict[str, str] = Field(default_factory=dict, description="up to 20 keys of your own")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys")
        if any(len(k) > 40 or len(v) > 500 for k, v in value.items()):
            raise ValueError("metadata keys are at most 40 characters, values at most 500")
        return value


def _pr_out(session: Session, pr: PaymentRequest) -> PaymentRequestOut:
    return payment_request_out(pr, in_progress=payment_requests.in_progress(session, pr))


@router.post("/payment_requests", status_code=status.HTTP_201_CREATED, response_model=PaymentRequestOut,
             summary="Create a payment request")
def create_payment_request(body: PaymentRequestIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                           principal: PaymentsWrite, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """An open request with its EIP-681 URI; show its QR code to the customer."""
    expires_in = body.expires_in
    if body.expires_at is not None:
        if expires_in is not None:
            raise InvalidRequest("give expires_in or expires_at, not both", param="expires_at")
        expires_at = _aware(body.expires_at)
        assert expires_at is not None
        expires_in = int((expires_at - datetime.now(JST)).total_seconds())

    def produce() -> PaymentRequestOut:
        pr = payment_requests.create_request(
            session, runtime, _merchant(session, principal), amount=body.amount, description=body.description,
            order_reference=body.order_reference, expires_in=expires_in, metadata=body.metadata)
        return _pr_out(session, pr)

    return run_idempotent(session, request, _owner(principal), idempotency_key, body.model_dump(mode="json"),
                          produce, status.HTTP_201_CREATED)


@router.get("/payment_requests", summary="List payment requests, newest first")
def list_payment_requests(
    session: SessionDep, principal: PaymentsRead, limit: LimitQuery = 20, starting_after: CursorQuery = None,
    status_: Annotated[str | None, Query(alias="status", description="open, paid, expired, …")] = None,
    created_gte: Annotated[datetime | None, Query(alias="created[gte]")] = None,
    created_lt: Annotated[datetime | None, Query(alias="created[lt]")] = None,
    order_reference: Annotated[str | None, Query(max_length=120)] = None,
) -> Page[PaymentRequestOut]:
    """Cursor-paginated; filter by status, creation time (ISO 8601; no zone = JST) and order reference."""
    rows = payment_requests.list_requests(session, principal.subject, limit=limit + 1, starting_after=starting_after,
                                          status=status_, created_gte=_aware(created_gte),
                                          created_lt=_aware(created_lt), order_reference=order_reference)
    return _page([_pr_out(session, pr) for pr in rows], limit)


@router.get("/payment_requests/{request_id}", summary="One payment request")
def get_payment_request(request_id: str, session: SessionDep, principal: PaymentsRead) -> PaymentRequestOut:
    """Status, payer, refunds so far."""
    return _pr_out(session, payment_requests.get_request(session, request_id, principal.subject))


@router.post("/payment_requests/{request_id}/cancel", response_model=PaymentRequestOut,
             summary="Cancel an open payment request")
def cancel_payment_request(request_id: str, request: Request, runtime: RuntimeDep, session: SessionDep,
                           principal: PaymentsWrite, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """Only open requests with no payment in flight; emits ``payment_request.canceled``."""
    def produce() -> PaymentRequestOut:
        return _pr_out(session, payment_requests.cancel(session, runtime, principal.subject, request_id))

    return run_idempotent(session, request, _owner(principal), idempotency_key, {}, produce)


@router.get("/payment_requests/{request_id}/qr.png", response_class=Response, responses=PNG,
            summary="QR code of a payment request (PNG)")
def payment_request_qr_png(request_id: str, session: SessionDep, principal: PaymentsRead) -> Response:
    """The request's EIP-681 URI as a QR code."""
    pr = payment_requests.get_request(session, request_id, principal.subject)
    return Response(payment_requests.qr_png(pr.uri or ""), media_type="image/png")


@router.get("/payment_requests/{request_id}/qr.svg", response_class=Response, responses=SVG,
            summary="QR code of a payment request (SVG)")
def payment_request_qr_svg(request_id: str, session: SessionDep, principal: PaymentsRead) -> Response:
    """The request's EIP-681 URI as an SVG QR code."""
    pr = payment_requests.get_request(session, request_id, principal.subject)
    return Response(payment_requests.qr_svg(pr.uri or ""), media_type="image/svg+xml")


# --------------------------------------------------------------------------- refunds
class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_request: str = Field(max_length=40)
    amount: int | None = Field(None, gt=0, le=10**12, description="default: everything not yet refunded")
    reason: str | None = Field(None, max_length=200)


@router.post("/refunds", status_code=status.HTTP_202_ACCEPTED, response_model=RefundOut,
             summary="Refund all or part of a paid request")
def create_refund(body: RefundIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                  principal: RefundsWrite, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """Sent from your wallet to the payer; ``refund.succeeded`` once confirmed. Never more than paid."""
    def produce() -> RefundOut:
        return refund_out(refunds.create_refund(session, runtime, principal.subject, body.payment_request,
                                                body.amount, body.reason))

    return run_idempotent(session, request, _owner(principal), idempotency_key, body.model_dump(mode="json"),
                          produce, status.HTTP_202_ACCEPTED)


@router.get("/refunds", summary="List refunds, newest first")
def list_refunds(session: SessionDep, principal: PaymentsRead, limit: LimitQuery = 20,
                 payment_request: Annotated[str | None, Query(max_length=40)] = None) -> Page[RefundOut]:
    """Optionally those of one payment request."""
    rows = refunds.list_refunds(session, principal.subject, payment_request, limit + 1)
    return _page([refund_out(r) for r in rows], limit)


@router.get("/refunds/{refund_id}", summary="One refund")
def get_refund(refund_id: str, session: SessionDep, principal: PaymentsRead) -> RefundOut:
    """Status of a refund."""
    return refund_out(refunds.get_refund(session, principal.subject, refund_id))


# --------------------------------------------------------------------------- payouts
class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=10**12, description="coins to redeem; the fee is deducted from the yen paid out")


@router.post("/payouts", status_code=status.HTTP_202_ACCEPTED, response_model=PayoutOut,
             summary="Redeem coins for a bank transfer in yen")
def create_payout(body: PayoutIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                  principal: PayoutsWrite, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """The coins are burned; the city's next Zengin batch pays ``amount - fee`` yen (``payout.paid``)."""
    def produce() -> PayoutOut:
        return payout_out(payouts.create_payout(session, runtime, _merchant(session, principal), body.amount))

    return run_idempotent(session, request, _owner(principal), idempotency_key, body.model_dump(mode="json"),
                          produce, status.HTTP_202_ACCEPTED)


@router.get("/payouts", summary="List payouts, newest first")
def list_payouts(session: SessionDep, principal: PayoutsRead, limit: LimitQuery = 20,
                 starting_after: CursorQuery = None,
                 status_: Annotated[str | None, Query(alias="status")] = None) -> Page[PayoutOut]:
    """Cursor-paginated, optionally by status."""
    rows = payouts.list_payouts(session, principal.subject, limit=limit + 1, starting_after=starting_after,
                                status=status_)
    return _page([payout_out(p) for p in rows], limit)


@router.get("/payouts/{payout_id}", summary="One payout")
def get_payout(payout_id: str, session: SessionDep, principal: PayoutsRead) -> PayoutOut:
    """Status of a payout."""
    return payout_out(payouts.get_payout(session, payout_id, principal.subject))


# --------------------------------------------------------------------------- webhooks and events
class WebhookEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000)
    enabled_events: list[str] = Field(default_factory=lambda: ["*"], description=f"{', '.join(webhooks.EVENT_TYPES)}"
                                      " or *")
    description: str | None = Field(None, max_length=200)


@router.post("/webhook_endpoints", status_code=status.HTTP_201_CREATED, summary="Add a webhook endpoint")
def create_webhook_endpoint(body: WebhookEndpointIn, runtime: RuntimeDep, session: SessionDep,
                            principal: WebhooksWrite) -> WebhookEndpointOut:
    """Returns the signing secret once; verify ``Machi-Signature`` with it (see the README)."""
    endpoint, secret = webhooks.create_endpoint(session, runtime.vault, runtime.settings, principal.subject,
                                                url=body.url, enabled_events=body.enabled_events,
                                                description=body.description)
    return webhook_endpoint_out(endpoint, secret)


@router.get("/webhook_endpoints", summary="List webhook endpoints")
def list_webhook_endpoints(session: SessionDep, principal: WebhooksWrite) -> Page[WebhookEndpointOut]:
    """All of them (secrets are not shown again)."""
    return Page(data=[webhook_endpoint_out(e) for e in webhooks.list_endpoints(session, principal.subject)],
                has_more=False)


@router.delete("/webhook_endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Delete a webhook endpoint")
def delete_webhook_endpoint(endpoint_id: str, runtime: RuntimeDep, session: SessionDep,
                            principal: WebhooksWrite) -> Response:
    """Pending deliveries to it stop; its secret is erased."""
    webhooks.delete_endpoint(session, runtime.vault, principal.subject, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _event_out(session: Session, event: Event, with_deliveries: bool) -> EventOut:
    body = webhooks.event_body(event)
    deliveries = None
    if with_deliveries:
        deliveries = [DeliveryOut(endpoint=d.endpoint_id, status=d.status, attempts=d.attempts,
                                  next_attempt_at=d.next_attempt_at, last_status_code=d.last_status_code,
                                  last_error=d.last_error, delivered_at=d.delivered_at,
                                  log=[DeliveryAttemptOut(attempted_at=a.attempted_at, status_code=a.status_code,
                                                          error=a.error, duration_ms=a.duration_ms) for a in attempts])
                      for d, attempts in webhooks.deliveries_of(session, event.id)]
    return EventOut(id=event.id, type=event.type, created_at=event.created_at, data=body["data"],
                    deliveries=deliveries)


@router.get("/events", summary="List events, newest first")
def list_events(session: SessionDep, principal: PaymentsRead, limit: LimitQuery = 20,
                starting_after: CursorQuery = None,
                type_: Annotated[str | None, Query(alias="type")] = None,
                object_id: Annotated[str | None, Query(alias="object", max_length=40)] = None) -> Page[EventOut]:
    """What happened, as sent to webhooks (filter by type or object id)."""
    rows = webhooks.list_events(session, principal.subject, limit + 1, starting_after, type_, object_id)
    return _page([_event_out(session, e, False) for e in rows], limit)


@router.get("/events/{event_id}", summary="One event with its delivery log")
def get_event(event_id: str, session: SessionDep, principal: PaymentsRead) -> EventOut:
    """Every delivery attempt: time, HTTP status or error, duration."""
    return _event_out(session, webhooks.get_event(session, principal.subject, event_id), True)


class RedeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(None, description="one endpoint; default: every enabled subscriber")


@router.post("/events/{event_id}/redeliver", status_code=status.HTTP_202_ACCEPTED,
             summary="Send an event to its webhooks again")
def redeliver_event(event_id: str, session: SessionDep, runtime: RuntimeDep, principal: WebhooksWrite,
                    body: RedeliverIn | None = None) -> EventOut:
    """Queues a fresh delivery now (the same body and event id; receivers dedupe by id)."""
    webhooks.redeliver(session, runtime.settings, principal.subject, event_id, body.endpoint if body else None)
    return _event_out(session, webhooks.get_event(session, principal.subject, event_id), True)


# --------------------------------------------------------------------------- API keys
class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    scopes: list[str] = Field(min_length=1, description=", ".join(merchants.SCOPES))


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(0, ge=0, le=7 * 86400, description="how long the old key keeps working")


@router.get("/api_keys", summary="List API keys")
def list_api_keys(session: SessionDep, principal: KeysWrite) -> Page[ApiKeyOut]:
    """Prefixes and scopes only; keys are never shown again."""
    return Page(data=[api_key_out(k) for k in merchants.list_keys(session, principal.subject)], has_more=False)


@router.post("/api_keys", status_code=status.HTTP_201_CREATED, summary="Create an API key")
def create_api_key(body: ApiKeyIn, runtime: RuntimeDep, session: SessionDep, principal: KeysWrite) -> ApiKeyOut:
    """Scopes must be ones the calling key has. The key is in ``secret``, this once."""
    unknown = sorted(set(body.scopes) - set(merchants.SCOPES))
    if unknown:
        raise InvalidRequest(f"unknown scopes: {', '.join(unknown)}", code="invalid_scope", param="scopes")
    if not set(body.scopes) <= principal.scopes:
        raise PermissionDenied("a key can only create keys with scopes it has itself", code="scope_escalation",
                               param="scopes")
    key, secret = merchants.issue_key(session, runtime.settings, _merchant(session, principal), name=body.name,
                                      scopes=body.scopes, created_by=_owner(principal))
    return api_key_out(key, secret)


@router.post("/api_keys/{key_id}/rotate", status_code=status.HTTP_201_CREATED, summary="Rotate an API key")
def rotate_api_key(key_id: str, runtime: RuntimeDep, session: SessionDep, principal: KeysWrite,
                   body: RotateIn | None = None) -> ApiKeyOut:
    """A new key with the same name and scopes; the old one works for ``grace_seconds`` more."""
    old = merchants.get_key(session, principal.subject, key_id)
    if not set(old.scopes) <= principal.scopes:
        raise PermissionDenied("a key can only rotate keys whose scopes it has", code="scope_escalation")
    key, secret = merchants.rotate_key(session, runtime.settings, _merchant(session, principal), key_id,
                                       grace_seconds=body.grace_seconds if body else 0, created_by=_owner(principal))
    return api_key_out(key, secret)


@router.delete("/api_keys/{key_id}", summary="Revoke an API key")
def revoke_api_key(key_id: str, session: SessionDep, principal: KeysWrite) -> ApiKeyOut:
    """Effective immediately (a key may revoke itself)."""
    return api_key_out(merchants.revoke_key(session, principal.subject, key_id))


# --------------------------------------------------------------------------- statements
@router.get("/statements", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "CSV statement"}},
            summary="Statement of payments, refunds and payouts (CSV)")
def statement(
    session: SessionDep, principal: StatementsRead,
    start: Annotated[datetime, Query(alias="from", description="ISO 8601 (no zone = JST), inclusive")],
    end: Annotated[datetime | None, Query(alias="to", description="exclusive; default now")] = None,
) -> Response:
    """Payments and refunds need ``payments:read``; payouts ``payouts:read``; each is included if allowed."""
    start_at = _aware(start)
    end_at = _aware(end) or datetime.now(JST)
    assert start_at is not None
    if end_at <= start_at or end_at - start_at > timedelta(days=400):
        raise InvalidRequest("the period must be positive and at most 400 days", param="to")
    rows = statements.statement_rows(session, principal.subject, start_at, end_at,
                                     payments="payments:read" in principal.scopes,
                                     payouts="payouts:read" in principal.scopes)
    name = f"statement_{principal.subject}_{start_at:%Y%m%d}-{end_at:%Y%m%d}.csv"
    return Response(statements.to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

