"""The merchant payment API (``Authorization: Bearer mk_…``): the merchant, payment requests,
refunds, webhooks, events, API keys. (Payouts and statements: ``procedures.settlement.routes``.)

Stripe conventions: objects carry ``object``; lists are ``{"object": "list", "data", "has_more",
"next_cursor"}`` with ``limit``/``starting_after``; POSTs that create or change money accept an
``Idempotency-Key``; every error has the one shape of ``procedures.errors``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import InvalidRequest, PermissionDenied
from procedures.merchants import api_keys, codes, payment_requests, refunds, webhooks
from procedures.merchants.deps import (
    AnyMerchant,
    KeysWrite,
    PaymentsRead,
    PaymentsWrite,
    RefundsWrite,
    WebhooksWrite,
    merchant_of,
    merchant_ref,
)
from procedures.merchants.idempotency import IdempotencyKeyHeader, run_idempotent
from procedures.merchants.models import PaymentRequest
from procedures.merchants.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    EventOut,
    MerchantBalanceOut,
    MerchantOut,
    PaymentRequestIn,
    PaymentRequestOut,
    RedeliverIn,
    RefundIn,
    RefundOut,
    RotateIn,
    WebhookEndpointIn,
    WebhookEndpointOut,
    api_key_out,
    event_out,
    merchant_out,
    payment_request_out,
    refund_out,
    webhook_endpoint_out,
)
from procedures.pagination import CursorQuery, LimitQuery, Page, page_of
from procedures.transfers import pending

router = APIRouter(prefix="/v1", tags=["merchant API"])

PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "QR code (PNG)"}}
SVG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/svg+xml": {}}, "description": "QR code (SVG)"}}


# --------------------------------------------------------------------------- the merchant itself
@router.get("/merchant", summary="The merchant this key belongs to")
def me(runtime: RuntimeDep, session: SessionDep, principal: AnyMerchant) -> MerchantOut:
    """Profile, wallet and static payment URI (the bank account stays with the city)."""
    merchant = merchant_of(session, principal)
    return merchant_out(merchant, codes.static_uri(runtime, merchant), None)


@router.get("/merchant/balance", summary="The merchant's coin balance")
def balance(runtime: RuntimeDep, session: SessionDep, principal: PaymentsRead) -> MerchantBalanceOut:
    """On-chain balance and what payments in flight will change."""
    merchant = merchant_of(session, principal)
    on_chain = runtime.coin.balance_of(merchant.wallet)
    out = pending.pending_out(session, merchant.wallet)
    incoming = pending.pending_in(session, merchant.wallet)
    return MerchantBalanceOut(wallet=merchant.wallet, balance=on_chain, pending_in=incoming, pending_out=out,
                              available=on_chain - out)


@router.get("/merchant/qr.png", response_class=Response, responses=PNG, summary="Static QR code (PNG)")
def static_qr_png(runtime: RuntimeDep, session: SessionDep, principal: PaymentsRead) -> Response:
    """The merchant's static code: residents scan it and type the amount."""
    uri = codes.static_uri(runtime, merchant_of(session, principal))
    return Response(codes.qr_png(uri), media_type="image/png")


@router.get("/merchant/qr.svg", response_class=Response, responses=SVG, summary="Static QR code (SVG)")
def static_qr_svg(runtime: RuntimeDep, session: SessionDep, principal: PaymentsRead) -> Response:
    """The merchant's static code as SVG (for print)."""
    uri = codes.static_uri(runtime, merchant_of(session, principal))
    return Response(codes.qr_svg(uri), media_type="image/svg+xml")


# --------------------------------------------------------------------------- payment requests
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
        clock = runtime.settings.clock
        expires_in = int((clock.aware(body.expires_at) - clock.now()).total_seconds())

    def produce() -> PaymentRequestOut:
        pr = payment_requests.create_request(
            session, runtime, merchant_of(session, principal), amount=body.amount, description=body.description,
            order_reference=body.order_reference, expires_in=expires_in, metadata=body.metadata)
        return _pr_out(session, pr)

    return run_idempotent(session, request, merchant_ref(principal), idempotency_key,
                          body.model_dump(mode="json"), produce, status.HTTP_201_CREATED)


@router.get("/payment_requests", summary="List payment requests, newest first")
def list_payment_requests(
    session: SessionDep, runtime: RuntimeDep, principal: PaymentsRead, limit: LimitQuery = 20,
    starting_after: CursorQuery = None,
    status_: Annotated[str | None, Query(alias="status", description="open, paid, expired, …")] = None,
    created_gte: Annotated[datetime | None, Query(alias="created[gte]")] = None,
    created_lt: Annotated[datetime | None, Query(alias="created[lt]")] = None,
    order_reference: Annotated[str | None, Query(max_length=120)] = None,
) -> Page[PaymentRequestOut]:
    """Cursor-paginated; filter by status, creation time (ISO 8601; no zone = the city's time) and order reference."""
    clock = runtime.settings.clock
    window = payment_requests.list_requests(session, principal.subject, limit=limit, starting_after=starting_after,
                                            status=status_, created_gte=clock.aware(created_gte),
                                            created_lt=clock.aware(created_lt), order_reference=order_reference)
    return page_of(window, lambda pr: _pr_out(session, pr))


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

    return run_idempotent(session, request, merchant_ref(principal), idempotency_key, {}, produce)


@router.get("/payment_requests/{request_id}/qr.png", response_class=Response, responses=PNG,
            summary="QR code of a payment request (PNG)")
def payment_request_qr_png(request_id: str, session: SessionDep, principal: PaymentsRead) -> Response:
    """The request's EIP-681 URI as a QR code."""
    pr = payment_requests.get_request(session, request_id, principal.subject)
    return Response(codes.qr_png(pr.uri or ""), media_type="image/png")


@router.get("/payment_requests/{request_id}/qr.svg", response_class=Response, responses=SVG,
            summary="QR code of a payment request (SVG)")
def payment_request_qr_svg(request_id: str, session: SessionDep, principal: PaymentsRead) -> Response:
    """The request's EIP-681 URI as an SVG QR code."""
    pr = payment_requests.get_request(session, request_id, principal.subject)
    return Response(codes.qr_svg(pr.uri or ""), media_type="image/svg+xml")


# --------------------------------------------------------------------------- refunds
@router.post("/refunds", status_code=status.HTTP_202_ACCEPTED, response_model=RefundOut,
             summary="Refund all or part of a paid request")
def create_refund(body: RefundIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                  principal: RefundsWrite, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """Sent from your wallet to the payer; ``refund.succeeded`` once confirmed. Never more than paid."""
    def produce() -> RefundOut:
        return refund_out(refunds.create_refund(session, runtime, principal.subject, body.payment_request,
                                                body.amount, body.reason))

    return run_idempotent(session, request, merchant_ref(principal), idempotency_key,
                          body.model_dump(mode="json"), produce, status.HTTP_202_ACCEPTED)


@router.get("/refunds", summary="List refunds, newest first")
def list_refunds(session: SessionDep, principal: PaymentsRead, limit: LimitQuery = 20,
                 starting_after: CursorQuery = None,
                 payment_request: Annotated[str | None, Query(max_length=40)] = None) -> Page[RefundOut]:
    """Cursor-paginated; optionally those of one payment request."""
    window = refunds.list_refunds(session, principal.subject, payment_request, limit, starting_after)
    return page_of(window, refund_out)


@router.get("/refunds/{refund_id}", summary="One refund")
def get_refund(refund_id: str, session: SessionDep, principal: PaymentsRead) -> RefundOut:
    """Status of a refund."""
    return refund_out(refunds.get_refund(session, principal.subject, refund_id))


# --------------------------------------------------------------------------- webhooks and events
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


@router.get("/events", summary="List events, newest first")
def list_events(session: SessionDep, principal: PaymentsRead, limit: LimitQuery = 20,
                starting_after: CursorQuery = None,
                type_: Annotated[str | None, Query(alias="type")] = None,
                object_id: Annotated[str | None, Query(alias="object", max_length=40)] = None) -> Page[EventOut]:
    """What happened, as sent to webhooks (filter by type or object id)."""
    window = webhooks.list_events(session, principal.subject, limit, starting_after, type_, object_id)
    return page_of(window, lambda event: event_out(session, event, with_deliveries=False))


@router.get("/events/{event_id}", summary="One event with its delivery log")
def get_event(event_id: str, session: SessionDep, principal: PaymentsRead) -> EventOut:
    """Every delivery attempt: time, HTTP status or error, duration."""
    return event_out(session, webhooks.get_event(session, principal.subject, event_id), with_deliveries=True)


@router.post("/events/{event_id}/redeliver", status_code=status.HTTP_202_ACCEPTED,
             summary="Send an event to its webhooks again")
def redeliver_event(event_id: str, session: SessionDep, runtime: RuntimeDep, principal: WebhooksWrite,
                    body: RedeliverIn | None = None) -> EventOut:
    """Queues a fresh delivery now (the same body and event id; receivers dedupe by id)."""
    webhooks.redeliver(session, runtime.settings, principal.subject, event_id, body.endpoint if body else None)
    return event_out(session, webhooks.get_event(session, principal.subject, event_id), with_deliveries=True)


# --------------------------------------------------------------------------- API keys
@router.get("/api_keys", summary="List API keys")
def list_api_keys(session: SessionDep, principal: KeysWrite) -> Page[ApiKeyOut]:
    """Prefixes and scopes only; keys are never shown again."""
    return Page(data=[api_key_out(k) for k in api_keys.list_keys(session, principal.subject)], has_more=False)


@router.post("/api_keys", status_code=status.HTTP_201_CREATED, summary="Create an API key")
def create_api_key(body: ApiKeyIn, runtime: RuntimeDep, session: SessionDep, principal: KeysWrite) -> ApiKeyOut:
    """Scopes must be ones the calling key has. The key is in ``secret``, this once."""
    unknown = sorted(set(body.scopes) - set(api_keys.SCOPES))
    if unknown:
        raise InvalidRequest(f"unknown scopes: {', '.join(unknown)}", code="invalid_scope", param="scopes")
    if not set(body.scopes) <= principal.scopes:
        raise PermissionDenied("a key can only create keys with scopes it has itself", code="scope_escalation",
                               param="scopes")
    key, secret = api_keys.issue_key(session, runtime.settings, merchant_of(session, principal), name=body.name,
                                     scopes=body.scopes, created_by=merchant_ref(principal))
    return api_key_out(key, secret)


@router.post("/api_keys/{key_id}/rotate", status_code=status.HTTP_201_CREATED, summary="Rotate an API key")
def rotate_api_key(key_id: str, runtime: RuntimeDep, session: SessionDep, principal: KeysWrite,
                   body: RotateIn | None = None) -> ApiKeyOut:
    """A new key with the same name and scopes; the old one works for ``grace_seconds`` more."""
    old = api_keys.get_key(session, principal.subject, key_id)
    if not set(old.scopes) <= principal.scopes:
        raise PermissionDenied("a key can only rotate keys whose scopes it has", code="scope_escalation")
    key, secret = api_keys.rotate_key(session, runtime.settings, merchant_of(session, principal), key_id,
                                      grace_seconds=body.grace_seconds if body else 0,
                                      created_by=merchant_ref(principal))
    return api_key_out(key, secret)


@router.delete("/api_keys/{key_id}", summary="Revoke an API key")
def revoke_api_key(key_id: str, session: SessionDep, principal: KeysWrite) -> ApiKeyOut:
    """Effective immediately (a key may revoke itself)."""
    return api_key_out(api_keys.revoke_key(session, principal.subject, key_id))
