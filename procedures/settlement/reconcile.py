"""Reconciliation: the database's ledger of coin movements against the chain.

The ledger is rebuilt from every *confirmed* outbox intent addressed to the coin — relayed
authorizations (payments, refunds, payouts…), mints (top-ups), points credits (premiums, benefits, rewards),
sweeps of expired points, redemptions, plain transfers by city keys, and recoveries (their amount read from
the receipt's ``Recovered`` event). Points count as value: a resident's ledger balance is its coins and points
together (a credit moves value from the points fund to the resident, a payment moves its whole value, the
fund paying the points' part; what the fund minted and what expired back to it come from the receipts), and
the fund's is its free coins. Each wallet's ledger balance is compared with ``balanceOf`` on chain, and minted −
redeemed with ``totalSupply``. Coins that moved outside the service (someone minting with another
key, a direct ERC-20 transfer between residents) show up as differences — that is the point.
Alongside, domain records are checked against their intents (a transfer still ``accepted`` whose
intent is final, a top-up pending after its mint, a request paid by an unconfirmed transfer…).

Results taken while intents are in flight may show transient differences; ``in_flight`` says how
many there were.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eth_abi.abi import decode as abi_decode
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.balances import coin_snapshot
from chain.calldata import CoinMovement, Movement, batch_item_movement, coin_movement
from chain.contracts.coin import RegionalCoinClient
from chain.contracts.reserve import decode_payment_item, released
from chain.outbox import IntentStatus, TxIntent
from chain.plan import RESERVE
from chain.receipts import points_effects, recoveries
from chain.storage import utcnow
from procedures.addresses import checksum
from procedures.merchants.models import Merchant, PaymentRequest, Refund
from procedures.offline import service as offline
from procedures.runtime import Runtime
from procedures.settlement.models import Payout, TopUp
from procedures.transfers.models import CustodialWallet, Transfer


@dataclass
class Ledger:
    """Balances and supply according to the database."""

    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    minted: int = 0
    redeemed: int = 0
    movements: int = 0

    def move(self, source: str | None, target: str | None, amount: int) -> None:
        """Record ``amount`` coins from ``source`` (None: minted) to ``target`` (None: burned)."""
        if source is not None:
            self.balances[source] -= amount
        if target is not None:
            self.balances[target] += amount
        self.movements += 1


def build_ledger(session: Session, runtime: Runtime) -> Ledger:
    """Replay every confirmed coin intent into balances (recoveries: amounts from their receipts)."""
    coin = runtime.coin
    ledger = Ledger()
    query = (select(TxIntent).where(TxIntent.to_address == coin.address, TxIntent.status == IntentStatus.CONFIRMED)
             .order_by(TxIntent.id).execution_options(yield_per=1000))
    for intent in session.scalars(query):
        if intent.batch_item is not None:
            movement: CoinMovement | None = batch_item_movement(intent.batch_item)
        else:
            movement = coin_movement(bytes(intent.data), intent.sender)
        if movement is None:
            continue
        if movement.kind is Movement.RECOVER:
            for recovery in recoveries(coin, intent.tx_hash) if intent.tx_hash else []:
                ledger.move(recovery.lost_wallet, recovery.successor, recovery.amount)
            _points_effects(coin, intent, ledger)
            continue
        if movement.kind in (Movement.CREDIT_POINTS, Movement.SWEEP_POINTS):
            if movement.kind is Movement.CREDIT_POINTS:
                ledger.move(coin.address, movement.target, movement.amount)  # the fund backs them
            _points_effects(coin, intent, ledger)
            continue
        ledger.move(movement.source, movement.target, movement.amount)
        if movement.kind is Movement.MINT:
            ledger.minted += movement.amount
        elif movement.kind is Movement.REDEEM:
            ledger.redeemed += movement.amount
    _offline_movements(session, runtime, ledger)
    return ledger


def _points_effects(coin: RegionalCoinClient, intent: TxIntent, ledger: Ledger) -> None:
    """What a credit, sweep or recovery did with points, from its receipt: the fund's mint, expired points back
    to the fund, points a recovery moved."""
    if not intent.tx_hash:
        return
    effects = points_effects(coin, intent.tx_hash)
    if effects.fund_minted:
        ledger.move(None, coin.address, effects.fund_minted)
        ledger.minted += effects.fund_minted
    for account, amount in effects.expired:
        ledger.move(account, coin.address, amount)
    for lost, successor, amount in effects.recovered:
        ledger.move(lost, successor, amount)


def _offline_movements(session: Session, runtime: Runtime, ledger: Ledger) -> None:
    """Coins into the offline reserve (a resident's reserve) and out of it (offline payments settled)."""
    if RESERVE not in runtime.manifest.contracts:
        return
    reserve = checksum(runtime.manifest.address(RESERVE))
    query = (select(TxIntent).where(TxIntent.to_address == reserve, TxIntent.status == IntentStatus.CONFIRMED,
                                    TxIntent.kind.in_((offline.RESERVE_KIND, offline.SETTLE_KIND,
                                                       offline.RELEASE_KIND)))
             .order_by(TxIntent.id))
    for intent in session.scalars(query):
        if intent.kind == offline.SETTLE_KIND and intent.batch_item is not None:
            _, merchant, amount, *_ = decode_payment_item(intent.batch_item)
            ledger.move(reserve, merchant, amount)
        elif intent.kind == offline.RESERVE_KIND:
            payer, amount = abi_decode(["address", "uint256"], bytes(intent.data)[4:68])
            ledger.move(checksum(payer), reserve, int(amount))
        elif intent.kind == offline.RELEASE_KIND and intent.tx_hash:
            # the amount is whatever was left: the receipt's ``Released`` event says
            for payer, amount in released(runtime.w3, reserve, intent.tx_hash):
                ledger.move(reserve, payer, amount)


def _labels(session: Session, runtime: Runtime) -> dict[str, str]:
    labels = {w.address: f"{w.owner_type}:{w.owner_id}" for w in session.scalars(select(CustodialWallet))}
    for merchant in session.scalars(select(Merchant)):
        labels[merchant.wallet] = f"merchant:{merchant.id}"
    labels[runtime.keys.settlement.address] = "city:settlement"
    return labels


def _record_problems(session: Session) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    rows = session.execute(select(Transfer.id, Transfer.status, TxIntent.status).join(
        TxIntent, TxIntent.id == Transfer.intent_id)).all()
    for transfer_id, status, intent_status in rows:
        if status == "accepted" and intent_status in (IntentStatus.CONFIRMED, IntentStatus.FAILED):
            problems.append({"type": "transfer", "id": transfer_id,
                             "problem": f"still accepted, intent {intent_status}"})
        elif status == "confirmed" and intent_status != IntentStatus.CONFIRMED:
            problems.append({"type": "transfer", "id": transfer_id, "problem": f"confirmed, intent {intent_status}"})
    for topup_id, intent_status in session.execute(select(TopUp.id, TxIntent.status).join(
            TxIntent, TxIntent.id == TopUp.intent_id).where(TopUp.status == "pending")).all():
        if intent_status in (IntentStatus.CONFIRMED, IntentStatus.FAILED):
            problems.append({"type": "topup", "id": topup_id, "problem": f"still pending, mint {intent_status}"})
    for pr_id, transfer_status in session.execute(select(PaymentRequest.id, Transfer.status).join(
            Transfer, Transfer.id == PaymentRequest.payment_transfer_id).where(
            PaymentRequest.status.in_(("paid", "partially_refunded", "refunded")))).all():
        if transfer_status != "confirmed":
            problems.append({"type": "payment_request", "id": pr_id,
                             "problem": f"paid, but its transfer is {transfer_status}"})
    refunded = (select(Refund.payment_request_id, func.sum(Refund.amount).label("total"))
                .where(Refund.automatic.is_(False), Refund.status == "succeeded")
                .group_by(Refund.payment_request_id).subquery())
    for pr_id, amount, total in session.execute(select(PaymentRequest.id, PaymentRequest.amount, refunded.c.total)
                                                .join(refunded, refunded.c.payment_request_id == PaymentRequest.id)):
        if total > amount:
            problems.append({"type": "payment_request", "id": pr_id, "problem": f"refunded {total} of {amount}"})
    for payout_id, status in session.execute(select(Payout.id, Payout.status).join(
            TxIntent, TxIntent.id == Payout.redeem_intent_id).where(TxIntent.status == IntentStatus.CONFIRMED,
                                                                     Payout.status == "processing")).all():
        problems.append({"type": "payout", "id": payout_id, "problem": f"burned on chain but {status}"})
    problems += duplicate_receipts(session)
    return problems


def receipt_key(reference: str) -> str:
    """A cash-receipt reference as the receipt itself: full-width and half-width alike (NFKC), case,
    spaces and dashes ignored — ``ＡＴＭ－０１２`` and ``atm 012`` are one slip."""
    folded = unicodedata.normalize("NFKC", reference).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch) != "Pd")


def duplicate_receipts(session: Session) -> list[dict[str, str]]:
    """Top-ups (not failed) whose cash-receipt references are the same receipt written twice: yen
    received once, coins minted twice — one problem per receipt, naming every top-up."""
    by_receipt: dict[str, list[str]] = defaultdict(list)
    for topup_id, reference in session.execute(select(TopUp.id, TopUp.reference).where(TopUp.status != "failed")
                                               .order_by(TopUp.created_at, TopUp.id)):
        by_receipt[receipt_key(reference)].append(topup_id)
    return [{"type": "topup", "id": ", ".join(ids), "problem": f"one cash receipt, {len(ids)} top-ups"}
            for ids in by_receipt.values() if len(ids) > 1]


def reconcile(session: Session, runtime: Runtime, extra_wallets: list[str] | None = None) -> dict[str, Any]:
    """Compare the database with the chain; returns the report (``ok`` when nothing differs)."""
    coin = runtime.coin
    ledger = build_ledger(session, runtime)
    labels = _labels(session, runtime)
    wallets = set(ledger.balances) | set(labels) | {checksum(w) for w in extra_wallets or []}
    snapshot = coin_snapshot(coin, sorted(wallets))
    differences = []
    for wallet in sorted(snapshot.balances):
        chain_balance = snapshot.value(wallet)
        expected = ledger.balances.get(wallet, 0)
        if chain_balance != expected:
            differences.append({"wallet": wallet, "label": labels.get(wallet), "ledger": expected,
                                "chain": chain_balance, "difference": chain_balance - expected})
    block, supply = snapshot.block, snapshot.total_supply
    in_flight = session.scalar(select(func.count()).select_from(TxIntent).where(
        TxIntent.to_address == coin.address,
        TxIntent.status.in_((IntentStatus.QUEUED, IntentStatus.PENDING)))) or 0
    problems = _record_problems(session)
    checked_at: datetime = utcnow()
    return {
        "object": "reconciliation",
        "checked_at": checked_at.isoformat(),
        "block": block,
        "ok": not differences and supply == ledger.minted - ledger.redeemed and not problems,
        "supply": {"ledger": ledger.minted - ledger.redeemed, "chain": supply,
                   "difference": supply - (ledger.minted - ledger.redeemed),
                   "minted": ledger.minted, "redeemed": ledger.redeemed},
        "wallets_checked": len(wallets),
        "movements": ledger.movements,
        "in_flight": in_flight,
        "differences": differences,
        "record_problems": problems,
    }
