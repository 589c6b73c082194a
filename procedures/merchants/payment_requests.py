"""Payment requests: what a merchant asks for, how a resident pays it, and how it ends.

Exactly one payment per request
    A payment is accepted only while the request is ``open``, unexpired, and has no payment in
    flight; the request row is locked (PostgreSQL ``FOR UPDATE``; SQLite serialises writers) for
    the check and the acceptance, so of two racing payments the second is refused with 409. The
    final-state hook marks the request paid only for the transfer it accepted; should any other
    transfer for the request ever reach the chain, it is returned to the payer automatically
    (an ``automatic`` refund) instead of being kept.
Static codes
    A resident who scanned a merchant's static code pays an amount they typed; the service makes a
    ``source=static`` request for it on the spot, so refunds, statements and webhooks work alike.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from chain.rpc import is_unreachable
from chain.storage import utcnow
from procedures.errors import Conflict, InvalidRequest
from procedures.ids import new_id
from procedures.merchants import codes, webhooks
from procedures.merchants.accounts import ensure_active, get_merchant
from procedures.merchants.models import Merchant, PaymentRequest, Refund
from procedures.merchants.rows import merchant_row
from procedures.merchants.schemas import payment_request_out, refund_out
from procedures.pagination import Window, newest_first
from procedures.runtime import Runtime
from procedures.transfers import custodial, pending
from procedures.transfers import service as transfers
from procedures.transfers.models import Transfer

log = logging.getLogger("machi.merchants.requests")

STATUSES = ("open", "paid", "expired", "canceled", "partially_refunded", "refunded")
PURPOSE = "payment_request"


class RequestNotPayable(Conflict):
    """The request cannot take a payment (paid, expired, canceled, or a payment is in flight)."""

    code = "request_not_payable"


# --------------------------------------------------------------------------- merchant side
def create_request(
    session: Session, runtime: Runtime, merchant: Merchant, *, amount: int, description: str | None,
    order_reference: str | None, expires_in: int | None, metadata: dict[str, str] | None,
) -> PaymentRequest:
    """A new open request.

    Raises:
        InvalidRequest: bad amount or expiry.  MerchantUnavailable: not active.
    """
    ensure_active(merchant)
    seconds = expires_in if expires_in is not None else runtime.settings.payment_request_expiry
    if not 60 <= seconds <= 30 * 86400:
        raise InvalidRequest("a request expires between 60 seconds and 30 days from now", param="expires_in")
    if amount <= 0:
        raise InvalidRequest("amount must be a positive whole number of coins", param="amount")
    request_id = new_id("pr")
    pr = PaymentRequest(id=request_id, merchant_id=merchant.id, source="request", amount=amount,
                        description=description, order_reference=order_reference, metadata_=metadata or {},
                        status="open", uri=codes.request_uri(runtime, merchant, amount, request_id),
                        expires_at=utcnow() + timedelta(seconds=seconds))
    session.add(pr)
    session.flush()
    return pr


def get_request(session: Session, request_id: str, merchant_id: str | None = None, *,
                lock: bool = False) -> PaymentRequest:
    """A request, visible to its merchant only when ``merchant_id`` is given.

    Raises:
        NotFound: no such request (for this merchant).
    """
    return merchant_row(session, PaymentRequest, request_id, merchant_id, what="payment request", lock=lock)


def in_progress(session: Session, pr: PaymentRequest) -> bool:
    """A payment for ``pr`` is accepted but not final yet."""
    if pr.status != "open" or pr.payment_transfer_id is None:
        return False
    transfer = session.get(Transfer, pr.payment_transfer_id)  # usually loaded already (identity map)
    return transfer is not None and transfer.status in pending.OPEN


def list_requests(
    session: Session, merchant_id: str, *, limit: int, starting_after: str | None, status: str | None,
    created_gte: datetime | None, created_lt: datetime | None, order_reference: str | None = None,
) -> Window[PaymentRequest]:
    """The merchant's requests, newest first, cursor-paginated and filtered.

    Raises:
        InvalidRequest: unknown status or cursor.
    """
    query = select(PaymentRequest).where(PaymentRequest.merchant_id == merchant_id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidRequest(f"status is one of {', '.join(STATUSES)}", param="status")
        query = query.where(PaymentRequest.status == status)
    if created_gte is not None:
        query = query.where(PaymentRequest.created_at >= created_gte)
    if created_lt is not None:
        query = query.where(PaymentRequest.created_at < created_lt)
    if order_reference is not None:
        query = query.where(PaymentRequest.order_reference == order_reference)
    return newest_first(session, PaymentRequest, query, limit=limit, starting_after=starting_after,
                        cursor_scope=PaymentRequest.merchant_id == merchant_id)


def cancel(session: Session, runtime: Runtime, merchant_id: str, request_id: str) -> PaymentRequest:
    """Cancel an open request (``payment_request.canceled``).

    Raises:
        NotFound: not this merchant's.  Conflict: not open, or a payment is in flight.
    """
    pr = get_request(session, request_id, merchant_id, lock=True)
    if pr.status != "open":
        raise Conflict(f"only an open request can be canceled; this one is {pr.status}", code="request_not_open")
    if in_progress(session, pr):
        raise Conflict("a payment for this request is being confirmed; refund it instead once paid",
                       code="payment_in_progress")
    pr.status = "canceled"
    pr.canceled_at = utcnow()
    webhooks.emit(session, runtime.settings, pr.merchant_id, "payment_request.canceled", payment_request_out(pr))
    return pr


# --------------------------------------------------------------------------- resident side
def pay_request(session: Session, runtime: Runtime, request_id: str, auth: Authorization) -> tuple[
        PaymentRequest, Transfer]:
    """Accept ``auth`` as the one payment of an open request.

    Raises:
        NotFound: no such request.  RequestNotPayable: not open, expired, or a payment in flight.
        MerchantUnavailable: the merchant is suspended.  InvalidRequest / PaymentRefused: from
        ``transfers.accept`` (wrong amount or recipient, signature, balance…).
    """
    pr = get_request(session, request_id, lock=True)
    earlier = session.get(Transfer, pr.payment_transfer_id) if pr.payment_transfer_id else None
    if earlier is not None and transfers.same_authorization(earlier, auth):
        return pr, earlier  # the payer's retry of the payment already accepted: the same answer
    if pr.status != "open":
        raise RequestNotPayable(f"this payment request is {pr.status}", code=f"request_{pr.status}")
    if pr.expires_at is not None and pr.expires_at <= utcnow():
        raise RequestNotPayable("this payment request has expired", code="request_expired")
    if in_progress(session, pr):
        raise RequestNotPayable("this request is already being paid", code="payment_in_progress")
    merchant = get_merchant(session, pr.merchant_id)
    ensure_active(merchant)
    transfer = transfers.accept(session, runtime, auth, kind="payment", purpose=f"{PURPOSE}:{pr.id}",
                                memo=(pr.description or "")[:140] or None, expected_to=merchant.wallet,
                                expected_amount=pr.amount)
    pr.payment_transfer_id = transfer.id
    pr.payer_wallet = transfer.from_wallet
    pr.last_payment_error = None
    return pr, transfer


def pay_static(session: Session, runtime: Runtime, merchant_id: str, auth: Authorization,
               memo: str | None) -> tuple[PaymentRequest, Transfer]:
    """Accept a payment of a typed amount to a merchant's static code (a ``static`` request is made).

    Raises:
        NotFound: no such merchant.  MerchantUnavailable: not active.  InvalidRequest / PaymentRefused:
        from ``transfers.accept``.
    """
    earlier = transfers.replay_of(session, auth)
    if earlier is not None and earlier.purpose and earlier.purpose.startswith(f"{PURPOSE}:"):
        earlier_request = session.get(PaymentRequest, earlier.purpose.split(":", 1)[1])
        if earlier_request is not None and earlier_request.merchant_id == merchant_id:
            return earlier_request, earlier  # the payer's retry: the same answer, no second request
    merchant = get_merchant(session, merchant_id)
    ensure_active(merchant)
    pr = PaymentRequest(id=new_id("pr"), merchant_id=merchant.id, source="static", amount=auth.value,
                        description=memo, metadata_={}, status="open", uri=codes.static_uri(runtime, merchant))
    session.add(pr)
    session.flush()
    transfer = transfers.accept(session, runtime, auth, kind="payment", purpose=f"{PURPOSE}:{pr.id}", memo=memo,
                                expected_to=merchant.wallet)
    pr.payment_transfer_id = transfer.id
    pr.payer_wallet = transfer.from_wallet
    return pr, transfer


# --------------------------------------------------------------------------- final states
def on_payment_final(session: Session, runtime: Runtime, transfer: Transfer) -> None:
    """Transfer hook of ``payment_request``: mark the request paid exactly once (relayer transaction)."""
    assert transfer.purpose is not None
    pr = session.get(PaymentRequest, transfer.purpose.split(":", 1)[1], with_for_update=True)
    if pr is None:
        return
    ours = pr.payment_transfer_id == transfer.id
    if transfer.status == "confirmed":
        if ours and pr.status == "open":
            pr.status = "paid"
            pr.paid_at = utcnow()
            pr.tx_hash = transfer.tx_hash
            webhooks.emit(session, runtime.settings, pr.merchant_id, "payment_request.paid", payment_request_out(pr))
        else:
            _return_stray_payment(session, runtime, pr, transfer)
    elif ours and pr.status == "open":
        pr.last_payment_error = transfer.failure_code
        if pr.source == "static":
            pr.status = "canceled"  # nobody can retry a static payment's request: a new scan makes a new one
            pr.canceled_at = utcnow()
        else:
            pr.payment_transfer_id = None  # open again: the resident may retry


def _return_stray_payment(session: Session, runtime: Runtime, pr: PaymentRequest, transfer: Transfer) -> None:
    """A confirmed payment the request did not accept: send it back from the merchant's wallet."""
    log.error("payment %s reached the chain for request %s (%s) that it did not settle; returning it",
              transfer.id, pr.id, pr.status)
    refund = Refund(id=new_id("re"), merchant_id=pr.merchant_id, payment_request_id=pr.id, amount=transfer.amount,
                    reason=f"duplicate payment {transfer.id} returned automatically", status="pending",
                    automatic=True)
    session.add(refund)
    try:
        with session.begin_nested():
            merchant = get_merchant(session, pr.merchant_id)
            returned = custodial.pay_from_custodial(session, runtime, merchant.wallet, transfer.from_wallet,
                                                    transfer.amount, kind="refund", purpose=f"refund:{refund.id}",
                                                    memo=f"returned: duplicate payment for {pr.id}")
            refund.transfer_id = returned.id
    except Exception as exc:  # noqa: BLE001 - a refusal must not block the relayer; the operator sees it
        if is_unreachable(exc):
            raise  # no answer is no refusal: the relayer retries this final step once the chain is back
        log.exception("could not return payment %s automatically", transfer.id)
        refund.status = "failed"
        refund.failure_code = getattr(exc, "code", "refund_failed")
        webhooks.emit(session, runtime.settings, pr.merchant_id, "refund.failed", refund_out(refund))


def expire_due(session: Session, runtime: Runtime, now: datetime | None = None, limit: int = 200) -> list[str]:
    """Expire open requests past their expiry with no payment in flight (``payment_request.expired``)."""
    now = now or utcnow()
    expired = []
    candidates = session.scalars(select(PaymentRequest).where(
        PaymentRequest.status == "open", PaymentRequest.expires_at.is_not(None), PaymentRequest.expires_at <= now,
    ).order_by(PaymentRequest.expires_at).limit(limit).with_for_update())
    for pr in candidates:
        if in_progress(session, pr):
            continue  # accepted before expiry: the payment decides
        pr.status = "expired"
        pr.expired_at = now
        webhooks.emit(session, runtime.settings, pr.merchant_id, "payment_request.expired", payment_request_out(pr))
        expired.append(pr.id)
    return expired


def expiry_worker(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: expire requests (day-old idempotency records go by ``procedures.sweeps``)."""
    while not stop.is_set():
        try:
            with runtime.sessions() as session, session.begin():
                expire_due(session, runtime)
        except Exception as exc:  # noqa: BLE001 - survive database hiccups
            log.warning("expiry pass failed: %s", exc)
        stop.wait(runtime.settings.payment_expiry_interval)
