"""Fees and benefits of applications, through the payments core and the relayer.

* Fee: the resident's signed ERC-3009 authorization to the city treasury is accepted with the
  submission (``transfers.accept``, purpose ``application_fee:<id>``); when it settles, the hook
  records ``fee_paid`` (or ``fee_failed``).
* Refund on rejection: the treasury pays the fee back gaslessly (``pay_from_custodial``, purpose
  ``application_refund:<id>``) → ``fee_refunded``. A fee still in flight when the application is
  rejected is refunded by the sweeper once it has settled.
* Benefit on approval: credited as points (``coin.creditPoints(applicant, benefit, expiry)``, sent by the
  points key from its own allowance: ``procedures.settlement.points``, the same path and events as a top-up
  premium), lasting the catalog entry's ``benefit_expiry_days`` (default ``points_expiry_days``), enqueued
  with the application id as the outbox reference — so however often approval is retried, at most one
  credit exists → ``benefit_paid`` (or ``benefit_failed``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from chain.outbox import IntentStatus, TxIntent
from procedures.applications.models import Application
from procedures.applications.records import lock_application, notify, record_event
from procedures.errors import InvalidRequest, PermissionDenied, Unavailable
from procedures.runtime import Runtime
from procedures.settlement import points
from procedures.transfers import custodial
from procedures.transfers import service as transfers
from procedures.transfers.models import Transfer
from protocol import applications as protocol

log = logging.getLogger("machi.applications")

FEE_PURPOSE = "application_fee"
REFUND_PURPOSE = "application_refund"
BENEFIT_KIND = "application_benefit"


def charge_fee(session: Session, runtime: Runtime, application: Application, auth: Authorization | None) -> None:
    """Accept the fee authorization for a new application (nothing when it costs nothing).

    Raises:
        InvalidRequest: a fee is due and no authorization came (``param`` ``payment``), or one came
            for a free procedure, or it pays the wrong amount or recipient.
        PermissionDenied: the authorization is from another wallet.
        PaymentRefused / Unavailable: from ``transfers.accept`` (balance, nonce, pause); or the
            treasury is not set up yet.
    """
    if application.fee == 0:
        if auth is not None:
            raise InvalidRequest("this procedure has no fee; send no payment", code="no_fee_due", param="payment")
        return
    if auth is None:
        raise InvalidRequest(f"this procedure costs {application.fee} coins: sign an authorization to the treasury",
                             code="fee_required", param="payment")
    if auth.from_.lower() != application.applicant.lower():
        raise PermissionDenied("the fee must be paid from the applicant's wallet", code="not_your_wallet",
                               param="payment.from")
    treasury = custodial.treasury_address(session)
    if treasury is None:
        raise Unavailable("the city treasury is not set up yet; retry shortly", code="treasury_unavailable",
                          headers={"Retry-After": "10"})
    transfer = transfers.accept(session, runtime, auth, kind="fee", purpose=f"{FEE_PURPOSE}:{application.id}",
                                expected_to=treasury, expected_amount=application.fee)
    application.fee_transfer_id = transfer.id
    application.fee_status = "pending"


def refund_fee(session: Session, runtime: Runtime, application: Application) -> bool:
    """Pay a settled fee back from the treasury (the caller holds the row lock). ``True`` if queued.

    Does nothing unless the fee is ``paid`` (or its refund failed before); a fee still ``pending``
    is refunded by the sweeper once it settles.
    """
    if application.fee == 0 or application.fee_status not in ("paid", "refund_failed"):
        return False
    treasury = custodial.treasury_address(session)
    if treasury is None:
        return False
    transfer = custodial.pay_from_custodial(session, runtime, treasury, application.applicant, application.fee,
                                            kind="fee_refund", purpose=f"{REFUND_PURPOSE}:{application.id}")
    application.refund_transfer_id = transfer.id
    application.fee_status = "refunding"
    return True


def pay_benefit(session: Session, runtime: Runtime, application: Application,
                benefit_expiry_days: int | None = None) -> TxIntent | None:
    """Enqueue the benefit's points credit for an approved application, exactly once (reference = application id).
    """
    if application.benefit == 0:
        return None
    expiry = points.expiry_for(runtime, benefit_expiry_days)
    intent = points.queue_credit(session, runtime, application.applicant, application.benefit, expiry,
                                 kind=BENEFIT_KIND, reference=application.id)
    if application.benefit_intent_id is None:
        application.benefit_intent_id = intent.id
        application.benefit_status = "pending"
    return intent


def fee_due_for_refund(session: Session) -> list[str]:
    """Rejected applications whose settled fee has not been (successfully) refunded yet."""
    return list(session.scalars(select(Application.id).where(
        Application.status == "rejected", Application.fee > 0,
        Application.fee_status.in_(("paid", "refund_failed")))))


# --------------------------------------------------------------------------- settlement hooks
def on_fee_final(session: Session, runtime: Runtime, transfer: Transfer) -> None:
    """Transfer hook of ``application_fee``: the fee is paid (``fee_paid``) or failed."""
    application = lock_application(session, (transfer.purpose or "").split(":", 1)[-1])
    if application is None or application.fee_transfer_id != transfer.id or application.fee_status != "pending":
        return
    facts = {"transfer": transfer.id, "amount": transfer.amount, "tx_hash": transfer.tx_hash}
    if transfer.status == "confirmed":
        application.fee_status = "paid"
        record_event(session, application, type="fee_paid", content_hash=protocol.details_hash(facts),
                     public_details=facts)
        notify(session, application, "fee_paid", amount=transfer.amount)
    else:
        application.fee_status = "failed"
        facts["failure"] = transfer.failure_code
        record_event(session, application, type="fee_failed", content_hash=protocol.details_hash(facts),
                     public_details=facts)
        notify(session, application, "fee_failed", reason=transfer.failure_code)


def on_refund_final(session: Session, runtime: Runtime, transfer: Transfer) -> None:
    """Transfer hook of ``application_refund``: the fee went back to the applicant, or the sweeper retries."""
    application = lock_application(session, (transfer.purpose or "").split(":", 1)[-1])
    if application is None or application.refund_transfer_id != transfer.id or application.fee_status != "refunding":
        return
    if transfer.status == "confirmed":
        application.fee_status = "refunded"
        facts = {"transfer": transfer.id, "amount": transfer.amount, "tx_hash": transfer.tx_hash}
        record_event(session, application, type="fee_refunded", content_hash=protocol.details_hash(facts),
                     public_details=facts)
        notify(session, application, "fee_refunded", amount=transfer.amount)
    else:
        # The sweeper retries; the failure itself is operational, not part of the application's story.
        application.fee_status = "refund_failed"
        log.warning("fee refund %s for %s failed: %s", transfer.id, application.id, transfer.failure_code)


def on_benefit_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final-state handler of ``application_benefit`` intents: the benefit was credited, or not."""
    application = lock_application(session, intent.reference or "")
    if application is None or application.benefit_status != "pending":
        return
    facts = {"amount": application.benefit, "tx_hash": intent.tx_hash}
    if intent.status == IntentStatus.CONFIRMED:
        application.benefit_status = "paid"
        record_event(session, application, type="benefit_paid", content_hash=protocol.details_hash(facts),
                     public_details=facts)
        notify(session, application, "benefit_paid", amount=application.benefit)
    else:
        application.benefit_status = "failed"
        facts["failure"] = intent.error_code
        record_event(session, application, type="benefit_failed", content_hash=protocol.details_hash(facts),
                     public_details=facts)
        notify(session, application, "benefit_failed")
        log.error("benefit credit for %s failed: %s %s", application.id, intent.error_code, intent.error_message)
