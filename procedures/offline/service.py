"""Offline payments that cannot bounce, on the service's side.

**Reserving** (online, beforehand): the resident signs an ERC-3009 ``ReceiveWithAuthorization`` to the
``OfflineReserve`` (only the reserve can collect it); the service checks the city's limit (``limits``:
the setting, or disaster mode's), screens the call with an ``eth_call`` as the relayer and queues it.

**Relaying** (a merchant's counter, once the network is back): the counter posts the codes it accepted
offline. Each is checked as the counter did (``protocol.offline``: ours, this chain and reserve, this
merchant, the payer's signature, not expired) — a refusal is one 400 line and nothing is stored — then
kept and queued as one item of the reserve's ``settleBatch`` (``chain.contracts.reserve.ReserveBatcher``).
The reserve settles items first come, first served, each from what is still reserved: a reserve spent
at two counters pays exactly one; the other ends ``refused`` with the reason, and its merchant gets an
``offline_payment.refused`` webhook (``offline_payment.paid`` for the one that was paid).

The relayer's hot key only carries what residents signed: the reserve's ``reserve`` and ``settleBatch``
with their signatures (``chain.roles``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from chain.contracts.reserve import Refusal, ReserveBatcher, encode_payment_item
from chain.errors import ContractLogicError
from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.plan import RESERVE
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.errors import Conflict, InvalidRequest, Unavailable
from procedures.ids import new_id
from procedures.merchants import webhooks
from procedures.merchants.models import Merchant
from procedures.offline import limits
from procedures.offline.errors import OverReserveLimit, ReserveRefused, SeenElsewhere
from procedures.offline.models import OfflinePaymentRow, OfflineStatus, ReserveTopUp, TopUpStatus
from procedures.runtime import Runtime
from procedures.transfers.custodial import ensure_registered
from procedures.transfers.pending import lock_wallet, pending_out
from protocol.offline import MAX_VALIDITY_S, OfflinePayment, check_payment

__all__ = ["RESERVE_KIND", "SETTLE_KIND", "ReserveState", "ensure_reserve_account", "on_reserve_final",
           "on_settle_final", "receive", "reserve", "reserve_state", "snapshot"]

log = logging.getLogger("machi.offline")

RESERVE_KIND = "offline.reserve"
SETTLE_KIND = "offline.settle"
RELEASE_REQUEST_KIND = "offline.release_request"
RELEASE_KIND = "offline.release"
RESERVE_ACCOUNT_REFERENCE = "city-account:offline-reserve"

#: The reserve's refusal → (API code, what the merchant is told).
REFUSALS: dict[str, tuple[str, str]] = {
    Refusal.INSUFFICIENT_RESERVE.label: (
        "reserve_spent", "the payer's offline reserve was already spent (another counter relayed a payment from "
                         "it first); ask the payer to pay again online"),
    Refusal.NONCE_USED.label: ("already_settled", "this offline payment was already settled"),
    Refusal.EXPIRED.label: ("expired", "this offline payment expired before it was relayed"),
    Refusal.INVALID_SIGNATURE.label: ("bad_signature", "the payer's signature does not match this payment"),
    Refusal.ZERO_AMOUNT.label: ("malformed", "the offline payment is for nothing"),
    Refusal.MERCHANT_REFUSED.label: ("merchant_refused", "the coin refused to pay this merchant (suspended or "
                                                         "frozen)"),
}


# --------------------------------------------------------------------------- the reserve as a city account
def ensure_reserve_account(runtime: Runtime) -> None:
    """Start-up hook: the reserve holds coins, so it is registered as a City account on chain, once."""
    ensure_registered(runtime, runtime.manifest.address(RESERVE), "offline-reserve", kind="registry.register_city",
                      reference=RESERVE_ACCOUNT_REFERENCE)


# --------------------------------------------------------------------------- reserving
@dataclass(frozen=True)
class ReserveState:
    """A resident's offline reserve: on chain, being added, the city's limit now, where it lives."""

    reserved: int
    release_at: int
    adding: int
    limit: int
    chain_id: int
    reserve: str
    max_validity: int


def _adding(session: Session, payer: str) -> int:
    total = session.scalar(select(func.coalesce(func.sum(ReserveTopUp.amount), 0)).where(
        ReserveTopUp.payer == payer, ReserveTopUp.status == TopUpStatus.PENDING))
    return int(total or 0)


def reserve_state(session: Session, runtime: Runtime, payer: str) -> ReserveState:
    """``payer``'s reserve (reads the chain)."""
    payer = checksum(payer)
    reserved, release_at = runtime.reserve.reserve_of(payer)
    return ReserveState(reserved=reserved, release_at=release_at, adding=_adding(session, payer),
                        limit=limits.reserve_limit(session, runtime.settings), chain_id=runtime.manifest.chain_id,
                        reserve=checksum(runtime.reserve.address), max_validity=MAX_VALIDITY_S)


def reserve(session: Session, runtime: Runtime, payer: str, auth: Authorization) -> ReserveTopUp:
    """Queue the move of ``auth.value`` of ``payer``'s coins into their reserve (caller's transaction).

    ``auth`` is the payer's ``ReceiveWithAuthorization`` to the reserve (same fields as a transfer).

    Raises:
        InvalidRequest: not the caller's, not to the reserve, not positive.  OverReserveLimit: over the limit.
        ReserveRefused: the chain would refuse it (signature, balance, verification, freeze, nonce).
        Unavailable: the reserve's registration as a city account is not on chain yet.
    """
    payer = checksum(payer)
    reserve_address = checksum(runtime.reserve.address)
    if checksum(auth.from_, "authorization.from") != payer:
        raise InvalidRequest("you can only reserve your own coins", code="not_your_wallet", param="authorization.from")
    if checksum(auth.to, "authorization.to") != reserve_address:
        raise InvalidRequest("the authorization must pay the city's offline reserve", code="wrong_recipient",
                             param="authorization.to")
    if auth.value <= 0:
        raise InvalidRequest("the amount must be a positive whole number of coins", param="authorization.value")
    nonce = "0x" + auth.nonce.hex()
    lock_wallet(session, payer)  # one payer's reserves are counted against the limit one at a time
    if session.scalar(select(ReserveTopUp.id).where(ReserveTopUp.nonce == nonce)) is not None:
        raise InvalidRequest("this authorization was already used", code="nonce_used", param="authorization.nonce")
    limit = limits.reserve_limit(session, runtime.settings)
    reserved, _ = runtime.reserve.reserve_of(payer)
    held = reserved + _adding(session, payer)
    if held + auth.value > limit:
        raise OverReserveLimit(limit, held)
    owed = pending_out(session, payer)  # payments and reserves queued, not in a block yet
    if owed and runtime.coin.balance_of(payer) < owed + auth.value:
        raise Conflict("the balance is too low once payments still in progress are counted",
                       code="insufficient_balance", param="authorization.value")
    if not runtime.registry.is_verified(reserve_address):
        # its city-account registration (a start-up hook) is not on chain yet
        raise Unavailable("the city's offline reserve is being set up; try again in a minute",
                          code="reserve_not_ready", headers={"Retry-After": "30"})
    call = runtime.reserve.reserve_call(payer, auth.value, valid_after=auth.valid_after,
                                        valid_before=auth.valid_before, nonce=auth.nonce, signature=auth.signature)
    try:
        runtime.reserve._eth_call(call.data, sender=runtime.keys.relayer.address)
    except ContractLogicError as exc:
        raise ReserveRefused(exc.name or str(exc)) from None
    row = ReserveTopUp(id=new_id("ors"), payer=payer, amount=auth.value, nonce=nonce, status=TopUpStatus.PENDING)
    session.add(row)
    intent = enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data, kind=RESERVE_KIND,
                     reference=f"offline-reserve:{row.id}")
    row.intent_id = intent.id
    session.flush()
    log.info("offline reserve %s: %d coins for %s (intent %d)", row.id, row.amount, payer, intent.id)
    return row


def on_reserve_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final handler of ``offline.reserve`` intents (relayer transaction)."""
    row = session.scalar(select(ReserveTopUp).where(ReserveTopUp.intent_id == intent.id).with_for_update())
    if row is None or row.status != TopUpStatus.PENDING:
        return
    if intent.status == IntentStatus.CONFIRMED:
        row.status = TopUpStatus.CONFIRMED
    else:
        row.status, row.failure_code = TopUpStatus.FAILED, intent.error_code


# --------------------------------------------------------------------------- releasing
def request_release(session: Session, runtime: Runtime, payer: str, nonce: bytes, signature: bytes) -> int:
    """Queue the payer's signed ``ReleaseRequest``: their unused reserve comes back after the reserve's delay
    (counters refuse their offline payments valid past it meanwhile). Returns when it will be due (about).

    Raises:
        Conflict: nothing reserved, or a release already requested.  ReserveRefused: the signature or nonce.
    """
    payer = checksum(payer)
    lock_wallet(session, payer)
    reserved, release_at = runtime.reserve.reserve_of(payer)
    if reserved == 0:
        raise Conflict("there is nothing in your offline reserve to release", code="nothing_reserved")
    if release_at:
        raise Conflict("a release of your offline reserve is already under way", code="release_pending")
    call = runtime.reserve.request_release_call(payer, nonce, signature)
    try:
        runtime.reserve._eth_call(call.data, sender=runtime.keys.relayer.address)
    except ContractLogicError as exc:
        raise ReserveRefused(exc.name or str(exc)) from None
    enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data, kind=RELEASE_REQUEST_KIND,
            reference=f"offline-release-request:{payer}:0x{nonce.hex()}")
    log.info("offline reserve of %s: release requested", payer)
    return int(time.time()) + runtime.reserve.release_delay()


def complete_release(session: Session, runtime: Runtime, payer: str) -> int:
    """Queue the release of ``payer``'s unused reserve once it is due; returns the coins it returns.

    Raises:
        Conflict: no release requested, or not due yet (the message says when).
    """
    payer = checksum(payer)
    reserved, release_at = runtime.reserve.reserve_of(payer)
    if not release_at:
        raise Conflict("no release of your offline reserve was requested", code="no_release")
    if runtime.coin.block_time() < release_at:
        raise Conflict(f"the release is due at {release_at} (unix time): offline payments may still be on their way",
                       code="release_not_due")
    call = runtime.reserve.release_call(payer)
    enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data, kind=RELEASE_KIND,
            reference=f"offline-release:{payer}:{release_at}")
    return reserved


def snapshot(session: Session, runtime: Runtime, *, limit: int,
             starting_after: str | None = None) -> tuple[list[tuple[str, int, int]], str | None]:
    """One page of ``(payer, reserved, release due or 0)`` of the residents who reserved here (reads the
    chain), by payer address: what a counter syncs to check offline payments with no network.

    Args:
        limit: payers looked at in this page (those whose reserve is empty now are left out of it).
        starting_after: the previous page's ``next_cursor`` (the last payer it looked at).

    Returns:
        The page's entries and the cursor of the next page (``None`` on the last).

    Raises:
        InvalidRequest: the cursor is not an address (``param`` starting_after).
    """
    # pending ones too: the chain may hold the reserve before the relayer saw its receipt confirmed
    query = select(ReserveTopUp.payer).where(ReserveTopUp.status != TopUpStatus.FAILED)
    if starting_after is not None:
        query = query.where(ReserveTopUp.payer > checksum(starting_after, "starting_after"))
    payers = list(session.scalars(query.distinct().order_by(ReserveTopUp.payer).limit(limit + 1)))
    shown, more = payers[:limit], len(payers) > limit
    out = [(payer, reserved, release_at)
           for payer, (reserved, release_at) in zip(shown, runtime.reserve.reserves_of(shown), strict=True)
           if reserved]
    return out, (shown[-1] if more else None)


def _check(runtime: Runtime, merchant: Merchant, payment: OfflinePayment, now: int) -> None:
    """The counter's checks again, at the service (no snapshot: the reserve itself decides the amount).

    Raises:
        OfflineRefused: ``wrong_chain``, ``wrong_merchant``, ``bad_signature``, ``expired``, ``too_long``.
    """
    check_payment(payment, runtime.manifest.chain_id, runtime.reserve.address, merchant.wallet, now, slack_s=3600)


def receive(session: Session, runtime: Runtime, merchant: Merchant, code: str) -> tuple[OfflinePaymentRow, bool]:
    """Keep the offline payment ``code`` a counter of ``merchant`` accepted and queue its settlement.

    Returns:
        The row and whether it is new (the same code relayed again returns the first row).

    Raises:
        OfflineRefused: not ours, malformed, another chain or merchant, tampered, expired — nothing stored.
        SeenElsewhere: another merchant relayed the same signed payment.
    """
    payment = OfflinePayment.from_text(code)
    lock_wallet(session, payment.payer)  # two counters relaying the same code at once: one row, one intent
    existing = session.scalar(select(OfflinePaymentRow).where(OfflinePaymentRow.payer == payment.payer,
                                                             OfflinePaymentRow.nonce == payment.nonce))
    if existing is not None:
        if existing.merchant_id != merchant.id or existing.code != payment.to_text():
            raise SeenElsewhere()
        return existing, False
    _check(runtime, merchant, payment, int(time.time()))
    row = OfflinePaymentRow(id=new_id("op"), merchant_id=merchant.id, payer=payment.payer,
                            merchant_wallet=payment.merchant, amount=payment.amount, nonce=payment.nonce,
                            valid_before=payment.valid_before, code=payment.to_text(), status=OfflineStatus.RELAYING)
    session.add(row)
    item = encode_payment_item(payment.to_tuple())
    call = runtime.reserve.settle_batch_call([payment.to_tuple()])
    intent = enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data, kind=SETTLE_KIND,
                     reference=f"offline-payment:{row.id}", batch_key=ReserveBatcher.KEY, batch_item=item)
    row.intent_id = intent.id
    session.flush()
    log.info("offline payment %s: %d coins from %s to merchant %s queued (intent %d)", row.id, row.amount,
             row.payer, merchant.id, intent.id)
    return row, True


def on_settle_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final handler of ``offline.settle`` intents: paid, or refused with the reason; the merchant's webhook."""
    from procedures.offline.schemas import offline_payment_out

    row = session.scalar(select(OfflinePaymentRow).where(OfflinePaymentRow.intent_id == intent.id)
                         .with_for_update())
    if row is None or row.status != OfflineStatus.RELAYING:
        return
    row.tx_hash, row.final_at = intent.tx_hash, utcnow()
    if intent.status == IntentStatus.CONFIRMED:
        row.status = OfflineStatus.PAID
        event = "offline_payment.paid"
    else:
        row.status = OfflineStatus.REFUSED
        row.reason, row.reason_message = REFUSALS.get(intent.error_code or "", (
            "relay_failed", (intent.error_message or "the relay failed")[:200]))
        event = "offline_payment.refused"
        log.warning("offline payment %s refused at relay: %s", row.id, row.reason)
    webhooks.emit(session, runtime.settings, row.merchant_id, event, offline_payment_out(row))


def waiting(session: Session, limit: int = 50) -> tuple[int, int, list[OfflinePaymentRow]]:
    """Offline payments received and not yet settled: (count, coins, the oldest ``limit``) — the console's."""
    count, coins = session.execute(select(func.count(), func.coalesce(func.sum(OfflinePaymentRow.amount), 0)).where(
        OfflinePaymentRow.status == OfflineStatus.RELAYING)).one()
    rows = session.scalars(select(OfflinePaymentRow).where(OfflinePaymentRow.status == OfflineStatus.RELAYING)
                           .order_by(OfflinePaymentRow.created_at).limit(limit)).all()
    return int(count), int(coins or 0), list(rows)
