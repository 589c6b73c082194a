"""Reconciliation: the database's ledger of coin movements against the chain.

The ledger is rebuilt from every *confirmed* outbox intent addressed to the coin — relayed
authorizations (payments, refunds, payouts…), mints (top-ups, benefits), redemptions, plain
transfers by city keys, and recoveries (their amount read from the receipt's ``Recovered``
event). Each wallet's ledger balance is compared with ``balanceOf`` on chain, and minted −
redeemed with ``totalSupply``. Coins that moved outside the service (someone minting with another
key, a direct ERC-20 transfer between residents) show up as differences — that is the point.
Alongside, domain records are checked against their intents (a transfer still ``accepted`` whose
intent is final, a top-up pending after its mint, a request paid by an unconfirmed transfer…).

Results taken while intents are in flight may show transient differences; ``in_flight`` says how
many there were.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from chain.outbox import IntentStatus, TxIntent
from chain.storage import utcnow
from procedures.merchants.models import Merchant, PaymentRequest, Refund
from procedures.runtime import Runtime
from procedures.settlement.models import Payout, TopUp
from procedures.transfers.models import CustodialWallet, Transfer

_MINT = function_signature_to_4byte_selector("mint(address,uint256)")
_REDEEM = function_signature_to_4byte_selector("redeem(uint256,bytes32)")
_TRANSFER = function_signature_to_4byte_selector("transfer(address,uint256)")
_RECOVER = function_signature_to_4byte_selector("recover(address)")
_TWA = function_signature_to_4byte_selector(
    "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)")


@dataclass
class Ledger:
    """Balances and supply according to the database."""

    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    minted: int = 0
    redeemed: int = 0
    movements: int = 0

    def move(self, source: str | None, target: str | None, amount: int) -> None:
        if source is not None:
            self.balances[to_checksum_address(source)] -= amount
        if target is not None:
            self.balances[to_checksum_address(target)] += amount
        self.movements += 1


def build_ledger(session: Session, runtime: Runtime) -> Ledger:
    """Replay every confirmed coin intent into balances."""
    coin = runtime.coin
    ledger = Ledger()
    query = (select(TxIntent).where(TxIntent.to_address == coin.address, TxIntent.status == IntentStatus.CONFIRMED)
             .order_by(TxIntent.id).execution_options(yield_per=1000))
    for intent in session.scalars(query):
        if intent.batch_item is not None:
            auth = Authorization.decode(intent.batch_item)
            ledger.move(auth.from_, auth.to, auth.value)
            continue
        data = bytes(intent.data)
        selector, args = data[:4], data[4:]
        if selector == _MINT:
            to, amount = abi_decode(["address", "uint256"], args)
            ledger.move(None, to, amount)
            ledger.minted += amount
        elif selector == _REDEEM:
            amount, _ = abi_decode(["uint256", "bytes32"], args)
            ledger.move(intent.sender, None, amount)
            ledger.redeemed += amount
        elif selector == _TRANSFER:
            to, amount = abi_decode(["address", "uint256"], args)
            ledger.move(intent.sender, to, amount)
        elif selector == _TWA:
            from_, to, amount = abi_decode(["address", "address", "uint256"], args[:96])
            ledger.move(from_, to, amount)
        elif selector == _RECOVER and intent.tx_hash:
            receipt = runtime.w3.eth.get_transaction_receipt(intent.tx_hash)  # type: ignore[arg-type]
            for event in coin.events(receipt, "Recovered"):
                ledger.move(event["args"]["lostWallet"], event["args"]["successor"], int(event["args"]["amount"]))
    return ledger


def _labels(session: Session, runtime: Runtime) -> dict[str, str]:
    labels = {w.address: f"{w.owner_type}:{w.owner_id}" for w in session.scalars(select(CustodialWallet))}
    for merchant in session.scalars(select(Merchant)):
        labels[merchant.wallet] = f"merchant:{merchant.id}"
    labels[runtime.keys.relayer.address] = "city:settlement"
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
    return problems


def reconcile(session: Session, runtime: Runtime, extra_wallets: list[str] | None = None) -> dict[str, Any]:
    """Compare the database with the chain; returns the report (``ok`` when nothing differs)."""
    coin = runtime.coin
    block = runtime.w3.eth.block_number
    ledger = build_ledger(session, runtime)
    labels = _labels(session, runtime)
    wallets = set(ledger.balances) | set(labels) | {to_checksum_address(w) for w in extra_wallets or []}
    differences = []
    for wallet in sorted(wallets):
        chain_balance = int(coin.contract.functions.balanceOf(wallet).call(block_identifier=block))
        expected = ledger.balances.get(wallet, 0)
        if chain_balance != expected:
            differences.append({"wallet": wallet, "label": labels.get(wallet), "ledger": expected,
                                "chain": chain_balance, "difference": chain_balance - expected})
    supply = int(coin.contract.functions.totalSupply().call(block_identifier=block))
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
