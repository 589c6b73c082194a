"""Every movement of a wallet's balance, oldest to newest, with the balance after each.

The chain is the record of what moved: the indexer's ``Transfer`` events of the coin from or to the
wallet (``chain.index_store.wallet_coin_events``) — top-ups and benefits (mints), payments, refunds,
fees, transfers between residents, recovery moves, redemptions (burns) — so the running balance ends
where the coin's ``balanceOf`` stands once the index has caught up. The service's records say what
each movement was and who the other side is, in words the resident knows: the shop's display name,
the city for top-ups, benefits, fees and its own accounts, the procedure a fee or benefit was for,
the lost (or new) wallet of a recovery. Another resident stays an address (the service names no
private person). Transfers the service accepted that the chain has not carried yet — or that the
index has not read yet — are listed too, without a balance after them (the wallet says the index is
catching up).

Points are marked: a credit (a top-up's bonus, a benefit, a civic reward), points that expired and points a
recovery moved are rows of ``unit`` ``points`` (the coin balance after them is unchanged); a payment at a
shop that points paid part of says how many (``points``): the fund's ``Transfer`` of that part to the payer is
folded into the payment, so the balance after it is the coins left.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain.index_store import (
    ZERO_ADDRESS,
    ChainEvent,
    IndexCursor,
    block_times,
    wallet_coin_events,
    wallet_points_events,
)
from chain.outbox import TxIntent
from procedures.applications.models import Application
from procedures.applications.money import BENEFIT_KIND, FEE_PURPOSE, REFUND_PURPOSE
from procedures.applications.service import catalog
from procedures.civic.clerks import REWARD_KIND
from procedures.errors import InvalidRequest
from procedures.merchants.models import Merchant
from procedures.runtime import Runtime
from procedures.settlement.models import TopUp
from procedures.settlement.topups import POINTS_KIND
from procedures.transfers.models import CustodialWallet, Transfer
from procedures.transfers.pending import OPEN

__all__ = ["Movement", "MovementPage", "movements", "page"]

#: Outbox kinds of points credits → the movement kind a resident reads.
CREDIT_KINDS = {BENEFIT_KIND: "benefit", POINTS_KIND: "topup_bonus", REWARD_KIND: "reward"}


@dataclass
class Movement:
    """One change of the wallet's balance (or one on its way, ``status`` pending)."""

    id: str
    at: datetime
    kind: str  # topup, benefit, mint, payment, refund, fee, fee_refund, p2p, payout, recovery, redemption, transfer;
    # for points: topup_bonus, benefit, reward, points (another credit), points_expired, recovery
    amount: int  # signed: + in, - out
    counterparty: str | None  # the other side's address (None for mints and burns: the coin itself)
    counterparty_kind: str  # city, merchant, resident, lost_wallet, new_wallet
    counterparty_name: str | None  # the shop's display name, the city's name; None for a resident
    status: str  # confirmed | pending
    balance_after: int | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    memo: str | None = None
    title: dict[str, str] | None = None  # what it was for (the procedure of a fee or benefit), ja/en
    transfer_id: str | None = None
    unit: str = "coins"  # coins, or points (a credit, an expiry, a recovery's points)
    points: int = 0  # of a payment's amount, how much the wallet's points paid (the rest: coins)


@dataclass
class MovementPage:
    """A page of movements (newest first), the balance they add up to and how far the index reached."""

    rows: list[Movement]
    next_cursor: str | None
    balance: int
    indexed_block: int | None


def movements(session: Session, runtime: Runtime, wallet: str) -> tuple[list[Movement], int | None]:
    """All of ``wallet``'s movements, oldest first (confirmed, then pending), and the index's last block.

    Raises:
        chain.errors.NodeError (mapped to 503): the node does not answer the block times.
    """
    events = wallet_coin_events(session, wallet)
    context: dict[str, list[ChainEvent]] = defaultdict(list)
    moves: list[ChainEvent] = []
    for event in events:
        (moves if event.event == "Transfer" else context[event.tx_hash]).append(event)
    fund = runtime.coin.address
    moves = sorted(moves + wallet_points_events(session, wallet), key=lambda e: (e.block_number, e.log_index))
    hashes = sorted({e.tx_hash for e in moves})
    indexed_block = session.scalar(select(IndexCursor.last_block).order_by(IndexCursor.name).limit(1))
    # on their way: accepted, or confirmed in a block the index has not read yet
    not_indexed = Transfer.status.in_(OPEN) | ((Transfer.status == "confirmed") & (
        Transfer.block_number.is_(None) | (Transfer.block_number > (indexed_block or -1))))
    waiting = list(session.scalars(select(Transfer).where(
        or_(Transfer.from_wallet == wallet, Transfer.to_wallet == wallet), not_indexed)
        .order_by(Transfer.created_at, Transfer.id)))
    parties = {str(e.args[side]) for e in moves if e.event == "Transfer" for side in ("from", "to")}
    parties |= {t.from_wallet for t in waiting} | {t.to_wallet for t in waiting}
    names = _Names(session, runtime, wallet, hashes, parties)
    times = block_times(runtime.w3, (e.block_number for e in moves)) if moves else {}
    rows: list[Movement] = []
    balance = 0
    paid_by_points: dict[str, int] = defaultdict(int)  # per transaction: the fund's part of the next payment
    for event in moves:
        if event.event == "Transfer" and event.args["from"] == fund:
            paid_by_points[event.tx_hash] += int(event.args["value"])
            balance += int(event.args["value"])
            continue
        movement = names.describe(event, context[event.tx_hash])
        if movement is None:
            continue
        movement.at = datetime.fromtimestamp(times[event.block_number], UTC)
        if movement.unit == "coins":
            balance += movement.amount
            if movement.amount < 0:
                movement.points = paid_by_points.pop(event.tx_hash, 0)
        movement.balance_after = balance
        rows.append(movement)
    carried = {(m.tx_hash, m.transfer_id) for m in rows}
    for transfer in waiting:
        if (transfer.tx_hash, transfer.id) in carried:
            continue
        rows.append(names.pending(transfer))
    return rows, indexed_block


def page(session: Session, runtime: Runtime, wallet: str, limit: int, starting_after: str | None) -> MovementPage:
    """``limit`` movements, newest first, after the one whose id is ``starting_after``.

    Raises:
        InvalidRequest: ``starting_after`` is not one of this wallet's movements.
    """
    rows, indexed_block = movements(session, runtime, wallet)
    confirmed = [m.balance_after for m in rows if m.balance_after is not None]
    newest = rows[::-1]
    start = 0
    if starting_after:
        ids = [m.id for m in newest]
        if starting_after not in ids:
            raise InvalidRequest("unknown cursor", param="starting_after")
        start = ids.index(starting_after) + 1
    shown = newest[start:start + limit]
    more = start + limit < len(newest)
    return MovementPage(shown, shown[-1].id if more and shown else None, confirmed[-1] if confirmed else 0,
                        indexed_block)


class _Names:
    """What the service knows of the other sides and the purposes of one wallet's movements."""

    def __init__(self, session: Session, runtime: Runtime, wallet: str, hashes: list[str],
                 parties: set[str]) -> None:
        self.wallet, self.city = wallet, runtime.settings.city_name
        self.merchants: dict[str, str] = {}
        self.city_wallets: set[str] = set()
        listed = sorted(parties - {ZERO_ADDRESS, wallet})
        for start in range(0, len(listed), 500):
            chunk = listed[start:start + 500]
            for address, name in session.execute(select(Merchant.wallet, Merchant.display_name)
                                                 .where(Merchant.wallet.in_(chunk))):
                self.merchants[address] = name
            self.city_wallets.update(session.scalars(select(CustodialWallet.address).where(
                CustodialWallet.owner_type == "city", CustodialWallet.address.in_(chunk))))
        self.transfers: dict[tuple[str, str, str, int], Transfer] = {}
        self.topups: set[str] = set()
        self.benefits: dict[str, str] = {}
        self.credits: dict[str, str] = {}  # a points credit's transaction → what it was (its movement kind)
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            for transfer in session.scalars(select(Transfer).where(Transfer.tx_hash.in_(chunk))):
                key = (str(transfer.tx_hash).lower(), transfer.from_wallet, transfer.to_wallet, transfer.amount)
                self.transfers[key] = transfer
            self.topups.update(str(h).lower() for h in session.scalars(select(TopUp.tx_hash)
                                                                       .where(TopUp.tx_hash.in_(chunk))))
            for tx_hash, reference in session.execute(select(TxIntent.tx_hash, TxIntent.reference).where(
                    TxIntent.kind == BENEFIT_KIND, TxIntent.tx_hash.in_(chunk))):
                self.benefits[str(tx_hash).lower()] = str(reference)
            for tx_hash, kind in session.execute(select(TxIntent.tx_hash, TxIntent.kind).where(
                    TxIntent.kind.in_(CREDIT_KINDS), TxIntent.tx_hash.in_(chunk))):
                self.credits[str(tx_hash).lower()] = CREDIT_KINDS[kind]
        self._session, self._runtime = session, runtime

    def _application_title(self, application_id: str | None) -> dict[str, str] | None:
        if not application_id:
            return None
        application = self._session.get(Application, application_id)
        if application is None or application.applicant != self.wallet:
            return None
        procedure = catalog(self._runtime).find(application.procedure_code)
        return dict(procedure.title) if procedure else None

    def _party(self, address: str | None) -> tuple[str, str | None]:
        if address is None or address in self.city_wallets:
            return "city", self.city
        if address in self.merchants:
            return "merchant", self.merchants[address]
        return "resident", None

    def describe(self, event: ChainEvent, context: list[ChainEvent]) -> Movement | None:
        """The movement one ``Transfer`` (or points) event made to the wallet (None if it did not change it)."""
        args: dict[str, Any] = event.args
        if event.event != "Transfer":
            return self._points(event)
        sender, receiver, value = str(args["from"]), str(args["to"]), int(args["value"])
        incoming = receiver == self.wallet
        if incoming and sender == self.wallet:
            return None  # to itself: the balance did not change
        other = sender if incoming else receiver
        amount = value if incoming else -value
        tx_hash = event.tx_hash.lower()
        base: dict[str, Any] = {"id": f"mv_{event.id}", "at": datetime.min.replace(tzinfo=UTC), "amount": amount,
                                "status": "confirmed", "tx_hash": tx_hash, "block_number": event.block_number}
        if sender == ZERO_ADDRESS:
            kind = "topup" if tx_hash in self.topups else "benefit" if tx_hash in self.benefits else "mint"
            return Movement(**base, kind=kind, counterparty=None, counterparty_kind="city",
                            counterparty_name=self.city, title=self._application_title(self.benefits.get(tx_hash)))
        if receiver == ZERO_ADDRESS:
            return Movement(**base, kind="redemption", counterparty=None, counterparty_kind="city",
                            counterparty_name=self.city)
        for fact in context:
            if fact.event == "Recovered" and {fact.args.get("lostWallet"), fact.args.get("successor")} == {
                    sender, receiver}:
                return Movement(**base, kind="recovery", counterparty=other,
                                counterparty_kind="lost_wallet" if incoming else "new_wallet", counterparty_name=None)
        party, name = self._party(other)
        transfer = self.transfers.get((tx_hash, sender, receiver, value))
        if transfer is None:
            return Movement(**base, kind="transfer", counterparty=other, counterparty_kind=party,
                            counterparty_name=name)
        return Movement(**base, kind=transfer.kind, counterparty=other, counterparty_kind=party,
                        counterparty_name=name, memo=transfer.memo, title=self._purpose_title(transfer),
                        transfer_id=transfer.id)

    def _points(self, event: ChainEvent) -> Movement:
        """A points row: a credit (what it was, from the service's records), an expiry, a recovery's points."""
        args, tx_hash = event.args, event.tx_hash.lower()
        base: dict[str, Any] = {"id": f"mv_{event.id}", "at": datetime.min.replace(tzinfo=UTC), "status": "confirmed",
                                "tx_hash": tx_hash, "block_number": event.block_number, "unit": "points"}
        if event.event == "PointsCredited":
            return Movement(**base, kind=self.credits.get(tx_hash, "points"), amount=int(args["amount"]),
                            counterparty=None, counterparty_kind="city", counterparty_name=self.city,
                            title=self._application_title(self.benefits.get(tx_hash)))
        if event.event == "PointsExpired":
            return Movement(**base, kind="points_expired", amount=-int(args["amount"]), counterparty=None,
                            counterparty_kind="city", counterparty_name=self.city)
        incoming = args["successor"] == self.wallet  # PointsRecovered
        return Movement(**base, kind="recovery", amount=int(args["amount"]) * (1 if incoming else -1),
                        counterparty=str(args["lostWallet"] if incoming else args["successor"]),
                        counterparty_kind="lost_wallet" if incoming else "new_wallet", counterparty_name=None)

    def _purpose_title(self, transfer: Transfer) -> dict[str, str] | None:
        prefix, _, reference = (transfer.purpose or "").partition(":")
        return self._application_title(reference) if prefix in (FEE_PURPOSE, REFUND_PURPOSE) else None

    def pending(self, transfer: Transfer) -> Movement:
        """A transfer the service accepted that the chain has not carried yet (or that the index has not read)."""
        incoming = transfer.to_wallet == self.wallet
        other = transfer.from_wallet if incoming else transfer.to_wallet
        party, name = self._party(other)
        return Movement(id=transfer.id, at=transfer.created_at, kind=transfer.kind,
                        amount=transfer.amount if incoming else -transfer.amount, counterparty=other,
                        counterparty_kind=party, counterparty_name=name,
                        status="confirmed" if transfer.status == "confirmed" else "pending", memo=transfer.memo,
                        tx_hash=transfer.tx_hash, block_number=transfer.block_number,
                        title=self._purpose_title(transfer), transfer_id=transfer.id)
