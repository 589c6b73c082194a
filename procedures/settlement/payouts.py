"""Payouts: merchants redeem coins for yen.

1. The merchant's custodial wallet pays the coins to the city's *settlement account* with a
   gasless authorization (batched like every payment). The settlement account is the settlement
   key's own address (``MACHI_SETTLEMENT_KEY``, no role on chain), registered as a City account at
   start-up by the registrar: it has gas, a sender worker, and City accounts may ``redeem``.
2. Once that transfer is confirmed, the settlement account burns the coins with
   ``redeem(amount, keccak(payout id))`` (an outbox intent) → the payout is ``redeemed``. If the burn
   fails, the coins go back to the merchant and the payout is ``failed``.
3. The city exports a Zengin file of every redeemed payout not yet in a batch (``in_transit``),
   uploads it to its bank, then marks the batch transferred → ``paid`` and ``payout.paid``.

The fee (``Settings.payout_fee_bps``, rounded down to whole yen) is kept by the city: all coins are
burned; the bank transfer is ``amount - fee``.
"""

from __future__ import annotations

import logging
from datetime import date

from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.storage import utcnow
from procedures.errors import Conflict, InvalidRequest
from procedures.ids import new_id
from procedures.merchants import webhooks
from procedures.merchants.accounts import bank_account, ensure_active, get_merchant
from procedures.merchants.models import Merchant
from procedures.merchants.rows import merchant_row
from procedures.pagination import Window, newest_first
from procedures.rows import row_or_404
from procedures.runtime import Runtime
from procedures.settlement.models import Payout, PayoutBatch
from procedures.settlement.schemas import payout_out
from procedures.transfers import custodial
from procedures.transfers import service as transfers
from procedures.transfers.custodial import ensure_registered
from procedures.transfers.models import Transfer
from procedures.zengin import ACCOUNT_TYPES, Originator, TransferLine, build_transfer_file

log = logging.getLogger("machi.settlement.payouts")

PURPOSE = "payout"
SETTLEMENT_REFERENCE = "city-account:settlement"
STATUSES = ("processing", "redeemed", "in_transit", "paid", "failed")


def settlement_address(runtime: Runtime) -> str:
    """The city account payouts are redeemed from (the settlement key's address)."""
    return runtime.keys.settlement.address


def ensure_settlement_account(runtime: Runtime) -> None:
    """Start-up hook: register the settlement account as a City account on chain, once."""
    ensure_registered(runtime, settlement_address(runtime), "settlement", kind="settlement.register",
                      reference=SETTLEMENT_REFERENCE)



# --------------------------------------------------------------------------- merchant side
def fee_for(amount: int, bps: int) -> int:
    """The payout fee in whole yen (rounded down)."""
    return amount * bps // 10_000


def create_payout(session: Session, runtime: Runtime, merchant: Merchant, amount: int) -> Payout:
    """Start redeeming ``amount`` coins of the merchant's balance.

    Raises:
        InvalidRequest: amount not positive, or nothing left after the fee.  MerchantUnavailable.
        PaymentRefused: the balance (minus payments still in flight) is too low.
    """
    ensure_active(merchant)
    if amount <= 0:
        raise InvalidRequest("amount must be a positive whole number of coins", param="amount")
    bps = runtime.settings.payout_fee_bps
    fee = fee_for(amount, bps)
    if amount - fee <= 0:
        raise InvalidRequest("the amount does not cover the payout fee", param="amount")
    payout = Payout(id=new_id("po"), merchant_id=merchant.id, amount=amount, fee=fee, net_amount=amount - fee,
                    fee_bps=bps, status="processing")
    payout.redeem_ref = "0x" + keccak(payout.id.encode()).hex()
    session.add(payout)
    session.flush()
    transfer = custodial.pay_from_custodial(session, runtime, merchant.wallet, settlement_address(runtime), amount,
                                            kind="payout", purpose=f"{PURPOSE}:{payout.id}", memo="payout")
    payout.transfer_id = transfer.id
    return payout


def get_payout(session: Session, payout_id: str, merchant_id: str | None = None) -> Payout:
    """A payout (the merchant's own when ``merchant_id`` is given).

    Raises:
        NotFound: no such payout for this caller.
    """
    return merchant_row(session, Payout, payout_id, merchant_id, what="payout")


def list_payouts(session: Session, merchant_id: str | None, *, limit: int, starting_after: str | None,
                 status: str | None) -> Window[Payout]:
    """Payouts newest first (one merchant's, or all for the operator), cursor-paginated.

    Raises:
        InvalidRequest: unknown status or cursor.
    """
    query = select(Payout)
    if merchant_id is not None:
        query = query.where(Payout.merchant_id == merchant_id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidRequest(f"status is one of {', '.join(STATUSES)}", param="status")
        query = query.where(Payout.status == status)
    return newest_first(session, Payout, query, limit=limit, starting_after=starting_after,
                        cursor_scope=None if merchant_id is None else Payout.merchant_id == merchant_id)


# --------------------------------------------------------------------------- chain outcomes
def on_payout_transfer_final(session: Session, runtime: Runtime, transfer: Transfer) -> None:
    """Transfer hook of ``payout``: coins reached the settlement account → queue the burn."""
    assert transfer.purpose is not None
    payout = session.get(Payout, transfer.purpose.split(":", 1)[1], with_for_update=True)
    if payout is None or payout.status != "processing":
        return
    if transfer.status != "confirmed":
        _fail(session, runtime, payout, transfer.failure_code or "transfer_failed", transfer.failure_message)
        return
    call = runtime.coin.redeem_call(payout.amount, payout.redeem_ref)
    intent = enqueue(session, sender=settlement_address(runtime), to=call.to, data=call.data, kind="payout.redeem",
                     reference=f"payout-redeem:{payout.id}")
    payout.redeem_intent_id = intent.id


def on_payout_intent_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final-state handler of ``payout.*`` intents: the burn (or the return of coins after a failed
    burn) is final."""
    if intent.reference is None:
        return
    payout = session.get(Payout, intent.reference.split(":", 1)[1], with_for_update=True)
    if payout is None:
        return
    if intent.kind == "payout.redeem" and payout.status == "processing":
        if intent.status == IntentStatus.CONFIRMED:
            payout.status = "redeemed"
            payout.redeemed_at = utcnow()
            payout.redeem_tx_hash = intent.tx_hash
            return
        # Give the coins back to the merchant: the settlement account sends them with its own key.
        merchant = get_merchant(session, payout.merchant_id)
        call = runtime.coin.transfer_call(merchant.wallet, payout.amount)
        enqueue(session, sender=settlement_address(runtime), to=call.to, data=call.data, kind="payout.return",
                reference=f"payout-return:{payout.id}")
        _fail(session, runtime, payout, intent.error_code or "redeem_failed",
              f"the burn failed ({intent.error_message}); the coins are returned to the merchant")
    elif intent.kind == "payout.return" and intent.status == IntentStatus.FAILED:
        log.error("returning the coins of failed payout %s failed: %s — reconcile by hand", payout.id,
                  intent.error_message)


def _fail(session: Session, runtime: Runtime, payout: Payout, code: str, message: str | None) -> None:
    payout.status = "failed"
    payout.failure_code = transfers.skip_code(code) if code and code[0].isupper() else code
    payout.failure_message = message
    webhooks.emit(session, runtime.settings, payout.merchant_id, "payout.failed", payout_out(payout))


# --------------------------------------------------------------------------- the bank file
def originator(runtime: Runtime) -> Originator:
    """The city's account from settings (``MACHI_ZENGIN_*``)."""
    s = runtime.settings
    return Originator(code=s.zengin_originator_code, name=s.zengin_originator_name, bank_code=s.zengin_bank_code,
                      bank_name=s.zengin_bank_name, branch_code=s.zengin_branch_code,
                      branch_name=s.zengin_branch_name, account_type=s.zengin_account_type,
                      account_number=s.zengin_account_number)


def export_batch(session: Session, runtime: Runtime, transfer_date: date | None, created_by: str) -> tuple[
        PayoutBatch, list[Payout], bytes]:
    """Put every redeemed payout not yet exported into a new batch and build its Zengin file.

    Raises:
        Conflict: nothing to export.  ZenginFormatError: a value does not fit (nothing is changed).
    """
    payouts = list(session.scalars(select(Payout).where(Payout.status == "redeemed", Payout.batch_id.is_(None))
                                   .order_by(Payout.created_at, Payout.id).with_for_update()))
    if not payouts:
        raise Conflict("no redeemed payouts are waiting for a bank transfer", code="nothing_to_export")
    lines = []
    for number, payout in enumerate(payouts, start=1):
        account = bank_account(session, runtime.vault, get_merchant(session, payout.merchant_id))
        lines.append(TransferLine(bank_code=account.bank_code, bank_name=account.bank_name_kana,
                                  branch_code=account.branch_code, branch_name=account.branch_name_kana,
                                  account_type=ACCOUNT_TYPES[account.account_type],
                                  account_number=account.account_number, holder=account.holder_name_kana,
                                  amount=payout.net_amount, customer_code1=str(number)))
    when = transfer_date or runtime.settings.clock.today()
    content = build_transfer_file(originator(runtime), when, lines)
    batch_id = new_id("pb")
    key_id = runtime.vault.new_key(session, "zengin-file")
    batch = PayoutBatch(id=batch_id, status="exported", transfer_date=when, count=len(lines),
                        total_amount=sum(line.amount for line in lines), file_key_id=key_id,
                        file_blob=runtime.vault.seal(session, key_id, content, aad=batch_id.encode()),
                        created_by=created_by)
    session.add(batch)
    for payout in payouts:
        payout.batch_id = batch_id
        payout.status = "in_transit"
    session.flush()
    return batch, payouts, content


def get_batch(session: Session, batch_id: str, *, lock: bool = False) -> PayoutBatch:
    """A payout batch.

    Raises:
        NotFound: no such batch.
    """
    return row_or_404(session, PayoutBatch, batch_id, what="payout batch", lock=lock)


def batch_payouts(session: Session, batch_id: str) -> list[Payout]:
    """The payouts of a batch in file order."""
    return list(session.scalars(select(Payout).where(Payout.batch_id == batch_id)
                                .order_by(Payout.created_at, Payout.id)))


def batch_file(session: Session, runtime: Runtime, batch: PayoutBatch) -> bytes:
    """The batch's Zengin file (decrypted)."""
    return runtime.vault.open(session, batch.file_key_id, batch.file_blob, aad=batch.id.encode())


def mark_transferred(session: Session, runtime: Runtime, batch_id: str) -> tuple[PayoutBatch, list[Payout]]:
    """The bank carried out the file: every payout in it is ``paid`` (``payout.paid``).

    Raises:
        NotFound: no such batch.  Conflict: already marked.
    """
    batch = get_batch(session, batch_id, lock=True)
    if batch.status != "exported":
        raise Conflict("this batch was already marked transferred", code="batch_already_transferred")
    now = utcnow()
    batch.status = "transferred"
    batch.transferred_at = now
    payouts = batch_payouts(session, batch.id)
    for payout in payouts:
        payout.status = "paid"
        payout.paid_at = now
        webhooks.emit(session, runtime.settings, payout.merchant_id, "payout.paid", payout_out(payout))
    return batch, payouts


def list_batches(session: Session, limit: int, starting_after: str | None = None) -> Window[PayoutBatch]:
    """Batches newest first, cursor-paginated.

    Raises:
        InvalidRequest: unknown cursor.
    """
    return newest_first(session, PayoutBatch, select(PayoutBatch), limit=limit, starting_after=starting_after)
