"""Card payments over HTTP: the merchant's reader asks for the statement and sends the card's signature
(part of the merchant API, ``payments:write``); a city counter opts a card holder in (operators)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from procedures.cardpay import service
from procedures.cardpay.errors import StatementMismatch
from procedures.cardpay.schemas import (
    CardPaymentChallengeIn,
    CardPaymentIn,
    CardPaymentOut,
    CardWalletOut,
    CounterChallengeOut,
    OptInIn,
    card_wallet_out,
)
from procedures.deps import AdminPrincipal, RuntimeDep, SessionDep
from procedures.errors import ServiceError
from procedures.identity.guard import NoMyNumber
from procedures.identity.routes import ServiceDep as IdentityDep
from procedures.merchants import payment_requests
from procedures.merchants.deps import PaymentsWrite, merchant_of
from procedures.merchants.schemas import payment_request_out
from procedures.ratelimit import limit
from protocol.counter import CardPaymentStatement, OptInStatement
from protocol.errors import ProtocolError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["card payments"])


def _challenge(statement: CardPaymentStatement | OptInStatement, ttl: int) -> CounterChallengeOut:
    return CounterChallengeOut(nonce="0x" + statement.nonce, statement=statement.to_json(),
                               canonical=statement.canonical_bytes().decode(), expires_in=ttl)


@router.post("/card_payments/challenge", summary="The statement a My Number card signs to pay a request")
def card_payment_challenge(body: CardPaymentChallengeIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                           principal: PaymentsWrite) -> CounterChallengeOut:
    """A single-use nonce and the payment statement (merchant, amount, request, chain, coin) for the card."""
    limit(request, "card-payment", per_minute=120)
    statement = service.open_payment(session, runtime, merchant_of(session, principal), body.payment_request)
    session.commit()  # the reader posts the signed statement right after this answer
    return _challenge(statement, runtime.settings.card_payment_ttl)


@router.post("/card_payments", status_code=status.HTTP_202_ACCEPTED, summary="Pay a request with a My Number card",
             dependencies=[NoMyNumber])
def card_payment(body: CardPaymentIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                 identity: IdentityDep, principal: PaymentsWrite) -> CardPaymentOut:
    """The card's signature over the statement; the resident's card wallet pays (202: being relayed)."""
    limit(request, "card-payment", per_minute=120)
    merchant = merchant_of(session, principal)
    payment_requests.get_request(session, body.payment_request, merchant.id)  # not ours: 404 before anything else
    statement = body.parsed()
    if statement.payment_request != body.payment_request:
        raise StatementMismatch("payment_request")
    try:
        paid = service.pay(session, runtime, identity, merchant, body.payment_request, statement, body.proof())
    except (ServiceError, ProtocolError):
        session.rollback()
        _use_up(session, runtime, statement.nonce, service.PAYMENT_CHALLENGE, merchant.wallet)
        raise
    session.commit()
    return CardPaymentOut(id=paid.payment.id, amount=paid.payment.amount, transfer=paid.transfer.id,
                          payment_request=payment_request_out(paid.request, in_progress=True),
                          created_at=paid.payment.created_at)


def _use_up(session: SessionDep, runtime: RuntimeDep, nonce: str, purpose: str, wallet: str) -> None:
    """A refused attempt still uses its nonce up (a new attempt asks for a new statement): nothing else of it
    is written."""
    try:
        service.consume(session, nonce, purpose, wallet)
        session.commit()
    except (ServiceError, ProtocolError):
        session.rollback()


@router.post("/admin/card_wallets/challenge", summary="The statement a card signs to opt in to a card wallet")
def opt_in_challenge(runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal) -> CounterChallengeOut:
    """At a city counter: a single-use nonce for this staff member's session."""
    statement = service.open_opt_in(session, runtime, service.counter_wallet(principal.subject))
    session.commit()
    return _challenge(statement, runtime.settings.card_payment_ttl)


@router.post("/admin/card_wallets", status_code=status.HTTP_201_CREATED, summary="Open a card wallet",
             dependencies=[NoMyNumber])
def opt_in(body: OptInIn, runtime: RuntimeDep, session: SessionDep, identity: IdentityDep,
           principal: AdminPrincipal) -> CardWalletOut:
    """The card holder's signed consent; the wallet is attested on chain (top up its address to fund it)."""
    statement = body.parsed()
    try:
        row = service.opt_in(session, runtime, identity, statement, body.proof(), staff_id=principal.subject)
    except (ServiceError, ProtocolError):
        session.rollback()
        _use_up(session, runtime, statement.nonce, service.OPT_IN_CHALLENGE, service.counter_wallet(principal.subject))
        raise
    session.commit()
    return card_wallet_out(row)
