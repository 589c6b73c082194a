"""Resident endpoints for paying merchants (scanned request codes and static codes) and top-up receipts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep
from procedures.errors import PermissionDenied
from procedures.merchants import accounts as merchants
from procedures.merchants import payment_requests
from procedures.merchants.schemas import TopUpOut, topup_out
from procedures.pagination import LimitQuery, Page
from procedures.settlement import topups
from procedures.transfers.routes import AuthorizationIn, TransferOut, transfer_out

router = APIRouter(prefix="/v1", tags=["wallet"])


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


class StaticCheckoutOut(BaseModel):
    object: str = "static_checkout"
    merchant: MerchantBrief
    pay_to: str
    merchant_accepts_payments: bool


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authorization: AuthorizationIn


class StaticPayIn(PayIn):
    memo: str | None = Field(None, max_length=140)


class PaymentOut(BaseModel):
    object: str = "payment"
    payment_request: str
    transfer: TransferOut


def _own(auth_from: str, principal_wallet: str | None) -> None:
    if auth_from != principal_wallet:
        raise PermissionDenied("you can only pay from your own wallet", code="not_your_wallet",
                               param="authorization.from")


@router.get("/pay/requests/{request_id}", summary="What a scanned payment request asks for")
def checkout(request_id: str, session: SessionDep, _: ResidentPrincipal) -> CheckoutOut:
    """Merchant name, amount and status — shown to the resident before they sign."""
    pr = payment_requests.get_request(session, request_id)
    return CheckoutOut(**payment_requests.checkout_view(session, pr))


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
    merchant = merchants.get_merchant(session, merchant_id)
    return StaticCheckoutOut(merchant=MerchantBrief(id=merchant.id, display_name=merchant.display_name),
                             pay_to=merchant.wallet, merchant_accepts_payments=merchant.status == "active")


@router.post("/pay/merchants/{merchant_id}", status_code=status.HTTP_202_ACCEPTED,
             summary="Pay a merchant any amount (static code)")
def pay_static(merchant_id: str, body: StaticPayIn, runtime: RuntimeDep, session: SessionDep,
               principal: ResidentPrincipal) -> PaymentOut:
    """The merchant receives it as a paid ``static`` payment request."""
    auth = body.authorization.to_authorization()
    _own(auth.from_, principal.wallet)
    pr, transfer = payment_requests.pay_static(session, runtime, merchant_id, auth, body.memo)
    return PaymentOut(payment_request=pr.id, transfer=transfer_out(session, transfer))


@router.get("/wallet/topups", summary="My top-up receipts")
def my_topups(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal,
              limit: LimitQuery = 20) -> Page[TopUpOut]:
    """Newest first."""
    rows = topups.list_topups(session, principal.wallet, limit + 1)
    return Page(data=[topup_out(t, runtime.settings.city_name) for t in rows[:limit]], has_more=len(rows) > limit)


@router.get("/wallet/topups/{topup_id}", summary="One of my top-up receipts")
def my_topup(topup_id: str, runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal) -> TopUpOut:
    """The receipt: yen paid, bonus, coins minted, status."""
    return topup_out(topups.get_topup(session, topup_id, principal.wallet), runtime.settings.city_name)
