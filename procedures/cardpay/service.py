"""Paying with the My Number card at a merchant's counter, from the resident's card wallet; opting in.

**Opt-in** (a city counter, the card on the clerk's reader, the PIN typed by the resident): the card signs
an ``OptInStatement``; the card's person must have a live identity here (``identity``); the service makes a
custodial wallet (``transfers.custodial``) and attests it on chain as a resident wallet of the person's level
and expiry, under ``HMAC(pepper, card wallet id)`` — a key of its own, unlinkable to the person's phone
wallet. Counter top-ups can then mint into it like into any resident wallet.

**A payment** (a merchant's reader, ``machi-pos card-pay``), in the request's transaction:

1. the payment request is the calling merchant's (else 404) and open;
2. the statement names this merchant, its wallet, the request's amount, this chain and coin, and is fresh;
   its nonce was issued to this merchant for card payments and is consumed now (single use);
3. the card: certificate chain to the pinned J-LIS roots, validity, revocation, and its authentication
   key's signature over the statement's canonical bytes (``JpkiVerifier``, as for linking);
4. the card → the person (``SubjectDirectory``), who has a live identity and an active card wallet,
   neither of their wallets frozen on chain;
5. the per-payment and the day's limits (settings; the day is the city's);
6. the card wallet's key signs an ordinary ERC-3009 authorization for exactly the request, and it is
   accepted as the request's payment (``merchants.payment_requests.pay_request``) — from there it is a
   payment like any other: batched, relayed, the request paid by the transfer hook, the webhook sent.

The PIN never reaches the service; wrong PINs are counted, and the card locked, by the card itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.contracts.authorization import random_nonce
from chain.contracts.registry import AssuranceLevel
from chain.outbox import enqueue
from chain.plan import REGISTRY
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.auth.service import consume_challenge, issue_challenge
from procedures.cardpay.errors import (
    CardNotLinked,
    CardWalletExists,
    CardWalletFrozen,
    IdentityNotLive,
    LimitExceeded,
    NotOptedIn,
    StatementMismatch,
)
from procedures.cardpay.models import CardPayment, CardWallet, CardWalletStatus
from procedures.errors import ServiceError
from procedures.identity.service import IdentityService
from procedures.ids import new_id
from procedures.merchants import payment_requests
from procedures.merchants.models import Merchant, PaymentRequest
from procedures.runtime import Runtime
from procedures.transfers import custodial
from procedures.transfers.models import Transfer
from protocol.citytime import CityClock
from protocol.counter import CardPaymentStatement, OptInStatement
from protocol.errors import NonceExpired, NonceReused
from protocol.statement import CardSignatures

__all__ = ["OPT_IN_CHALLENGE", "PAYMENT_CHALLENGE", "CardPaid", "card_wallet_of", "consume", "counter_wallet",
           "open_opt_in", "open_payment", "opt_in", "pay", "spent_today"]

log = logging.getLogger("machi.cardpay")

#: Purposes in the shared ``challenges`` table.
PAYMENT_CHALLENGE = "card-payment"
OPT_IN_CHALLENGE = "card-opt-in"
#: How long the card wallet's authorization stays valid for the relayer (seconds).
AUTHORIZATION_TTL_S = 600


@dataclass(frozen=True)
class CardPaid:
    """A card payment accepted: its record, the request and the transfer on its way."""

    payment: CardPayment
    request: PaymentRequest
    transfer: Transfer


# --------------------------------------------------------------------------- challenges
def open_payment(session: Session, runtime: Runtime, merchant: Merchant, request_id: str) -> CardPaymentStatement:
    """The statement the card is to sign for the merchant's open request ``request_id`` (a fresh nonce).

    Raises:
        NotFound: not this merchant's request.  RequestNotPayable: not open.
    """
    pr = payment_requests.get_request(session, request_id, merchant.id)
    if pr.status != "open":
        raise payment_requests.RequestNotPayable(f"this payment request is {pr.status}", code=f"request_{pr.status}")
    challenge = issue_challenge(session, PAYMENT_CHALLENGE, merchant.wallet,
                                ttl=timedelta(seconds=runtime.settings.card_payment_ttl))
    domain = runtime.coin.domain()
    return CardPaymentStatement.create(merchant=merchant.id, pay_to=merchant.wallet, amount=pr.amount,
                                       payment_request=pr.id, nonce=challenge.nonce, issued_at=int(time.time()),
                                       chain_id=domain.chain_id, coin=domain.verifying_contract)


def open_opt_in(session: Session, runtime: Runtime, actor_wallet: str) -> OptInStatement:
    """The statement a card signs at a city counter to opt in (a fresh nonce, bound to the counter's session)."""
    challenge = issue_challenge(session, OPT_IN_CHALLENGE, actor_wallet,
                                ttl=timedelta(seconds=runtime.settings.card_payment_ttl))
    return OptInStatement.create(nonce=challenge.nonce, issued_at=int(time.time()),
                                 chain_id=runtime.manifest.chain_id,
                                 registry=checksum(runtime.manifest.address(REGISTRY), "registry"))


def counter_wallet(staff_id: str) -> str:
    """The pseudo-address a city counter's challenges are bound to (challenges are keyed by wallet)."""
    return checksum("0x" + keccak(f"machi:counter:{staff_id}".encode())[-20:].hex())


def consume(session: Session, nonce: str, purpose: str, wallet: str) -> None:
    """Use the statement's nonce once, for the purpose and wallet it was issued to.

    Raises:
        NonceReused, NonceExpired: used already; expired or never issued for this.
    """
    try:
        consume_challenge(session, "0x" + nonce, purpose, wallet)
    except ServiceError as exc:
        if exc.code == "nonce_reused":
            raise NonceReused() from None
        raise NonceExpired("the challenge expired" if exc.code == "nonce_expired" else
                           "no such challenge for this merchant; ask for a new one") from None


def _fresh(issued_at: int, ttl: int) -> None:
    now = int(time.time())
    if issued_at > now + 30 or now - issued_at > ttl:
        raise NonceExpired("the signed statement is too old (or from the future); start the payment again")


# --------------------------------------------------------------------------- the card → the person
def _person(session: Session, identity: IdentityService, message: bytes, card: CardSignatures) -> str:
    """The subject id of the card that signed ``message``; its identity must be live.

    Raises:
        CertificateError, BadCardSignature: the card (revoked, expired, not J-LIS) or its signature.
        CardNotLinked, IdentityNotLive.
    """
    verified = identity.trust.verifier.verify_card(card.auth_certificate, None, message=message,
                                                   auth_signature=card.auth_signature)
    subject = identity.subjects.resolve(session, verified)
    if subject is None:
        raise CardNotLinked()
    live = identity.records.live_for_subject(session, subject.id)
    if live is None or live.expires_at <= utcnow():
        raise IdentityNotLive()
    return subject.id


def card_wallet_of(session: Session, subject_id: str) -> CardWallet | None:
    """The person's active card wallet, if they opted in."""
    return session.scalar(select(CardWallet).where(CardWallet.subject_id == subject_id,
                                                   CardWallet.status == CardWalletStatus.ACTIVE))


# --------------------------------------------------------------------------- opt-in
def opt_in(session: Session, runtime: Runtime, identity: IdentityService, statement: OptInStatement,
           card: CardSignatures, *, staff_id: str) -> CardWallet:
    """Open a card wallet for the card's holder and queue its attestation on chain.

    Raises:
        MalformedStatement, NonceExpired, NonceReused: the statement or its challenge.
        CertificateError, BadCardSignature, CardNotLinked, IdentityNotLive: the card and its person.
        CardWalletExists: they opted in already.
    """
    registry = checksum(runtime.manifest.address(REGISTRY), "registry")
    if statement.chain_id != runtime.manifest.chain_id:
        raise StatementMismatch("chain_id")
    if statement.registry != registry:
        raise StatementMismatch("registry")
    _fresh(statement.issued_at, runtime.settings.card_payment_ttl)
    consume(session, statement.nonce, OPT_IN_CHALLENGE, counter_wallet(staff_id))
    subject_id = _person(session, identity, statement.canonical_bytes(), card)
    if card_wallet_of(session, subject_id) is not None:
        raise CardWalletExists()
    live = identity.records.live_for_subject(session, subject_id)
    assert live is not None  # _person checked it
    row_id = str(uuid.uuid4())
    wallet = custodial.create_custodial_wallet(session, runtime.vault, "card", row_id)
    call = runtime.registry.attest_call(wallet.address, identity.subjects.subject_key(row_id),
                                        AssuranceLevel(live.level), live.expires_at,
                                        keccak(b"machi:card-wallet:" + row_id.encode()))
    intent = enqueue(session, sender=runtime.keys.registrar.address, to=call.to, data=call.data,
                     kind="registry.attest", reference=f"card-wallet:{row_id}")
    wallet.registration_intent_id = intent.id
    row = CardWallet(id=row_id, subject_id=subject_id, wallet=wallet.address, status=CardWalletStatus.ACTIVE,
                     registration_intent_id=intent.id, opted_in_by=staff_id)
    session.add(row)
    session.flush()
    log.info("card wallet %s opened at a counter by staff %s (intent %d)", row.wallet, staff_id, intent.id)
    return row


# --------------------------------------------------------------------------- paying
def _check_statement(runtime: Runtime, merchant: Merchant, pr: PaymentRequest, statement: CardPaymentStatement) -> None:
    domain = runtime.coin.domain()
    expected = {"merchant": merchant.id, "pay_to": checksum(merchant.wallet), "amount": pr.amount,
                "payment_request": pr.id, "chain_id": domain.chain_id, "coin": checksum(domain.verifying_contract)}
    for field, value in expected.items():
        if getattr(statement, field) != value:
            raise StatementMismatch(field)


def spent_today(session: Session, clock: CityClock, card_wallet_id: str, now: datetime | None = None) -> int:
    """Coins the card wallet paid (or is paying) since the start of the city's day."""
    start = clock.start_of_day(clock.local_date(now or clock.now()))
    total = session.scalar(select(func.coalesce(func.sum(CardPayment.amount), 0)).join(
        Transfer, Transfer.id == CardPayment.transfer_id).where(
        CardPayment.card_wallet_id == card_wallet_id, CardPayment.created_at >= start, Transfer.status != "failed"))
    return int(total or 0)


def _check_limits(session: Session, runtime: Runtime, wallet: CardWallet, amount: int) -> None:
    settings = runtime.settings
    if amount > settings.card_payment_limit:
        raise LimitExceeded(daily=False, limit=settings.card_payment_limit)
    # one card wallet's payments are counted one at a time: the row lock orders concurrent counters
    session.scalar(select(CardWallet).where(CardWallet.id == wallet.id).with_for_update())
    spent = spent_today(session, settings.clock, wallet.id)
    if spent + amount > settings.card_payment_daily_limit:
        raise LimitExceeded(daily=True, limit=settings.card_payment_daily_limit,
                            left=max(0, settings.card_payment_daily_limit - spent))


def pay(session: Session, runtime: Runtime, identity: IdentityService, merchant: Merchant, request_id: str,
        statement: CardPaymentStatement, card: CardSignatures) -> CardPaid:
    """Pay the merchant's request ``request_id`` from the card holder's card wallet (see the module docstring).

    Raises:
        NotFound: not this merchant's request.  RequestNotPayable: not open, or being paid.
        StatementMismatch, MalformedStatement, NonceExpired, NonceReused: the statement.
        CertificateError, BadCardSignature: the card.  CardNotLinked, IdentityNotLive, NotOptedIn,
        CardWalletFrozen: its holder.  LimitExceeded: the limits.  PaymentRefused: the chain would refuse
        it (the card wallet's balance…).
    """
    pr = payment_requests.get_request(session, request_id, merchant.id, lock=True)
    _check_statement(runtime, merchant, pr, statement)
    _fresh(statement.issued_at, runtime.settings.card_payment_ttl)
    consume(session, statement.nonce, PAYMENT_CHALLENGE, merchant.wallet)
    if pr.status != "open" or payment_requests.in_progress(session, pr):
        raise payment_requests.RequestNotPayable("this payment request is not open for a card payment",
                                                 code="request_not_open")
    subject_id = _person(session, identity, statement.canonical_bytes(), card)
    wallet = card_wallet_of(session, subject_id)
    if wallet is None:
        raise NotOptedIn()
    live = identity.records.live_for_subject(session, subject_id)
    if runtime.coin.is_frozen(wallet.wallet) or (live is not None and runtime.coin.is_frozen(live.wallet)):
        raise CardWalletFrozen()
    _check_limits(session, runtime, wallet, pr.amount)
    account = custodial.custodial_account(session, runtime.vault, wallet.wallet)
    auth = runtime.coin.sign_authorization(account, merchant.wallet, pr.amount, nonce=random_nonce(),
                                           valid_before=int(time.time()) + AUTHORIZATION_TTL_S)
    pr, transfer = payment_requests.pay_request(session, runtime, pr.id, auth)
    payment = CardPayment(id=new_id("cp"), card_wallet_id=wallet.id, merchant_id=merchant.id,
                          payment_request_id=pr.id, transfer_id=transfer.id, amount=pr.amount)
    session.add(payment)
    session.flush()
    log.info("card payment %s: %d coins for %s from card wallet %s", payment.id, pr.amount, pr.id, wallet.wallet)
    return CardPaid(payment, pr, transfer)
