"""Resident endpoints for paying merchants: scanned request codes and static codes."""

from __future__ import annotations

from fastapi import APIRouter, status

from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep
from procedures.errors import PermissionDenied
from procedures.merchants import payment_requests
from procedures.merchants.accounts import get_merchant
from procedures.merchants.schemas import (
    CheckoutOut,
    PayIn,
    PaymentOut,
    StaticCheckoutOut,
    StaticPayIn,
    checkout_out,
    static_checkout_out,
)
from procedures.transfers.schemas import transfer_out

router = APIRouter(prefix="/v1", tags=["wallet"])


def _own(auth_from: str, principal_wallet: str | None) -> None:
    if auth_from != principal_wallet:
        raise PermissionDenied("you can only pay from your own wallet", code="not_your_wallet",
                               param="authorization.from")


@router.get("/pay/requests/{request_id}", summary="What a scanned payment request asks for")
def checkout(request_id: str, session: SessionDep, _: ResidentPrincipal) -> CheckoutOut:
    """Merchant name, amount and status — shown to the resident before they sign."""
    pr = payment_requests.get_request(session, request_id)
    return checkout_out(pr, get_merchant(session, pr.merchant_id),
                        in_progress=payment_requests.in_progress(session, pr))


@router.post("/pay/requests/{request_id}", status_code=status.HTTP_202_ACCEPTED, summary="Pay a payment request")
def pay_request(request_id: str, body: PayIn, runtime: RuntimeDep, session: SessionDep,
                principal: ResidentPrincipal) -> PaymentOut:
    """A signed authorization for exactly the amount, to the merchant's wallet; the relayer settles it."""
    auth = body.authorization.to_authorization()
    _own(auth.from_, principal.wallet)
    pr, transfer = payment_requests.pay_request(session, runtime, request_id, auth)
    return PaymentOut(payment_request=pr.id, transfer=transfer_out(session, transfer))


@router.get("/pay/merchants/{merchant_id}", summary="Who a scanned static code pays")
def static_checkout(merchant_id: str, session: SessionDep, _: ResidentPrincipal) -> StaticCheckoutOut:
    """The merchant behind a static code (the resident types the amount)."""
    return static_checkout_out(get_merchant(session, merchant_id))


@router.post("/pay/merchants/{merchant_id}", status_code=status.HTTP_202_ACCEPTED,
             summary="Pay a merchant any amount (static code)")
def pay_static(merchant_id: str, body: StaticPayIn, runtime: RuntimeDep, session: SessionDep,
               principal: ResidentPrincipal) -> PaymentOut:
    """The merchant receives it as a paid ``static`` payment request."""
    auth = body.authorization.to_authorization()
    _own(auth.from_, principal.wallet)
    pr, transfer = payment_requests.pay_static(session, runtime, merchant_id, auth, body.memo)
    return PaymentOut(payment_request=pr.id, transfer=transfer_out(session, transfer))
