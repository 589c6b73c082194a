"""Refunds: coins sent back from the merchant's custodial wallet to the payer (gasless).

A refund reserves its amount when created: refunds pending or succeeded never add up to more than
the payment (checked with the request row locked). The request becomes ``partially_refunded`` or
``refunded`` when a refund is confirmed on chain (``refund.succeeded``); a failed refund releases
its reservation (``refund.failed``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.errors import Conflict, InvalidRequest
from procedures.ids import new_id
from procedures.merchants import webhooks
from procedures.merchants.accounts import get_merchant
from procedures.merchants.models import PaymentRequest, Refund
from procedures.merchants.payment_requests import get_request
from procedures.merchants.rows import merchant_row
from procedures.merchants.schemas import refund_out
from procedures.pagination import Window, newest_first
from procedures.runtime import Runtime
from procedures.transfers import custodial
from procedures.transfers.models import Transfer

PURPOSE = "refund"
REFUNDABLE = ("paid", "partially_refunded")


class RefundTooLarge(Conflict):
    """The refund would take back more than was paid."""

    code = "refund_exceeds_payment"


def reserved(session: Session, request_id: str) -> int:
    """Coins of a request already refunded or being refunded (automatic returns excluded)."""
    return int(session.scalar(select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.payment_request_id == request_id, Refund.automatic.is_(False),
        Refund.status.in_(("pending", "succeeded")))) or 0)


def create_refund(session: Session, runtime: Runtime, merchant_id: str, request_id: str, amount: int | None,
                  reason: str | None) -> Refund:
    """Refund all (``amount`` None) or part of a paid request.

    Raises:
        NotFound: not this merchant's request.  Conflict: not paid.  RefundTooLarge: more than what
        is left.  InvalidRequest: amount ≤ 0.  PaymentRefused: the merchant's wallet cannot pay it now
        (e.g. coins already redeemed).
    """
    pr = get_request(session, request_id, merchant_id, lock=True)
    if pr.status not in REFUNDABLE:
        raise Conflict(f"only a paid request can be refunded; this one is {pr.status}", code="request_not_paid",
                       param="payment_request")
    if amount is not None and amount <= 0:
        raise InvalidRequest("amount must be a positive whole number of coins", param="amount")
    left = pr.amount - reserved(session, pr.id)
    amount = left if amount is None else amount
    if left <= 0 or amount > left:
        raise RefundTooLarge(f"at most {max(left, 0)} of {pr.amount} can still be refunded", param="amount")
    assert pr.payer_wallet is not None
    merchant = get_merchant(session, merchant_id)
    refund = Refund(id=new_id("re"), merchant_id=merchant_id, payment_request_id=pr.id, amount=amount, reason=reason,
                    status="pending")
    session.add(refund)
    session.flush()
    transfer = custodial.pay_from_custodial(session, runtime, merchant.wallet, pr.payer_wallet, amount, kind="refund",
                                            purpose=f"{PURPOSE}:{refund.id}", memo=f"refund for {pr.id}")
    refund.transfer_id = transfer.id
    return refund


def get_refund(session: Session, merchant_id: str, refund_id: str) -> Refund:
    """One of the merchant's refunds.

    Raises:
        NotFound: not this merchant's.
    """
    return merchant_row(session, Refund, refund_id, merchant_id, what="refund")


def list_refunds(session: Session, merchant_id: str, request_id: str | None, limit: int,
                 starting_after: str | None = None) -> Window[Refund]:
    """The merchant's refunds (of one request when given), newest first, cursor-paginated.

    Raises:
        InvalidRequest: unknown cursor (or another merchant's).
    """
    query = select(Refund).where(Refund.merchant_id == merchant_id)
    if request_id:
        query = query.where(Refund.payment_request_id == request_id)
    return newest_first(session, Refund, query, limit=limit, starting_after=starting_after,
                        cursor_scope=Refund.merchant_id == merchant_id)


def on_refund_final(session: Session, runtime: Runtime, transfer: Transfer) -> None:
    """Transfer hook of ``refund``: settle the refund and the request's refunded amount."""
    assert transfer.purpose is not None
    refund = session.get(Refund, transfer.purpose.split(":", 1)[1], with_for_update=True)
    if refund is None or refund.status != "pending":
        return
    pr = session.get(PaymentRequest, refund.payment_request_id, with_for_update=True)
    if transfer.status == "confirmed":
        refund.status = "succeeded"
        refund.succeeded_at = utcnow()
        if pr is not None and not refund.automatic:
            pr.amount_refunded += refund.amount
            pr.status = "refunded" if pr.amount_refunded >= pr.amount else "partially_refunded"
        webhooks.emit(session, runtime.settings, refund.merchant_id, "refund.succeeded", refund_out(refund))
    else:
        refund.status = "failed"
        refund.failure_code = transfer.failure_code
        webhooks.emit(session, runtime.settings, refund.merchant_id, "refund.failed", refund_out(refund))
