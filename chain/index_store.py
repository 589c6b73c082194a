"""The chain index's tables and what readers ask of them: where indexing stands, balances and
supply from ``Transfer`` events, and a comparison of the whole index with the chain.

Written by ``chain.indexer.Indexer``; read by reconciliation and the service's health and history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from web3 import Web3
from web3.types import FilterParams

from chain.events import hex_of
from chain.plan import COIN
from chain.storage import Base, UTCDateTime, utcnow

CURSOR_NAME = "city"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
BALANCE_OF = "0x70a08231"  # balanceOf(address)
TOTAL_SUPPLY = "0x18160ddd"  # totalSupply()


# --------------------------------------------------------------------------- tables
class ChainEvent(Base):
    """One log emitted by a watched contract, decoded."""

    __tablename__ = "chain_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    contract: Mapped[str] = mapped_column(String(42))
    contract_name: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("block_hash", "log_index", name="uq_chain_events_block_hash_log_index"),
        Index("ix_chain_events_block_number", "block_number"),
        Index("ix_chain_events_tx_hash", "tx_hash"),
        Index("ix_chain_events_contract_event", "contract_name", "event", "block_number"),
    )

    def confirmed(self, head: int, confirmations: int) -> bool:
        """True once the event's block is ``confirmations`` deep under ``head`` (its own block counts)."""
        return self.block_number + confirmations - 1 <= head


class ChainBlock(Base):
    """A recently indexed block: the window compared with the chain to detect reorganisations."""

    __tablename__ = "chain_blocks"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))


class IndexCursor(Base):
    """Where indexing stands; one row per index (the city's contracts)."""

    __tablename__ = "chain_index_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    contracts: Mapped[dict[str, str]] = mapped_column(JSON)  # watched name → address
    start_block: Mapped[int] = mapped_column(BigInteger)
    last_block: Mapped[int | None] = mapped_column(BigInteger)
    last_hash: Mapped[str | None] = mapped_column(String(66))
    head: Mapped[int | None] = mapped_column(BigInteger)
    reorgs: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --------------------------------------------------------------------------- views
def index_cursor(session: Session, name: str = CURSOR_NAME) -> IndexCursor | None:
    """The index's cursor (None before the first pass)."""
    return session.get(IndexCursor, name)


def index_status(session: Session, confirmations: int = 1, name: str = CURSOR_NAME) -> dict[str, Any]:
    """Where the index stands: last block, head seen, events (and how many are confirmed), reorgs."""
    cursor = index_cursor(session, name)
    events = session.scalar(select(func.count()).select_from(ChainEvent)) or 0
    if cursor is None or cursor.head is None:
        return {"indexed": False, "events": events}
    confirmed_to = cursor.head - confirmations + 1
    confirmed = session.scalar(
        select(func.count()).select_from(ChainEvent).where(ChainEvent.block_number <= confirmed_to)) or 0
    return {"indexed": True, "last_block": cursor.last_block, "head": cursor.head, "events": events,
            "confirmed_events": confirmed, "reorgs": cursor.reorgs}


def indexed_balances(session: Session, up_to_block: int | None = None, token: str = COIN) -> dict[str, int]:
    """Balances of every account the token's ``Transfer`` events touched (mints and burns included).

    Args:
        up_to_block: only events up to this block (e.g. the confirmed part: ``head - confirmations + 1``).
        token: the watched contract's name.
    """
    query = select(ChainEvent.args).where(ChainEvent.contract_name == token, ChainEvent.event == "Transfer")
    if up_to_block is not None:
        query = query.where(ChainEvent.block_number <= up_to_block)
    balances: dict[str, int] = {}
    for args in session.scalars(query):
        value = int(args["value"])
        if args["from"] != ZERO_ADDRESS:
            balances[args["from"]] = balances.get(args["from"], 0) - value
        if args["to"] != ZERO_ADDRESS:
            balances[args["to"]] = balances.get(args["to"], 0) + value
    return balances


@dataclass(frozen=True)
class AuthorizationFate:
    """What the confirmed index says became of one ERC-3009 authorization (``authorizer``, ``nonce``).

    ``used``: the nonce was consumed by a ``transferWithAuthorization`` — by anyone: the relayer's
    batch or a third party who submitted the signed authorization first. ``transfer`` is then the
    authorizer's ``Transfer`` log the same call emitted right after ``AuthorizationUsed`` (its from, to,
    value), after the fund's ``Transfer`` to the authorizer when points paid part of it.
    ``used`` false: the nonce was cancelled (``AuthorizationCanceled``).
    """

    used: bool
    tx_hash: str
    block_number: int
    transfer: dict[str, Any] | None


def authorization_fate(session: Session, authorizer: str, nonce: str, up_to_block: int,
                       token: str = COIN) -> AuthorizationFate | None:
    """The fate of an authorization in the index up to ``up_to_block`` (the confirmed part), or
    ``None`` while the index has no use or cancellation of its nonce."""
    query = (select(ChainEvent).where(
        ChainEvent.contract_name == token, ChainEvent.event.in_(("AuthorizationUsed", "AuthorizationCanceled")),
        ChainEvent.args["nonce"].as_string() == nonce.lower(), ChainEvent.block_number <= up_to_block)
        .order_by(ChainEvent.block_number, ChainEvent.log_index))
    for event in session.scalars(query):
        if str(event.args.get("authorizer", "")).lower() != authorizer.lower():
            continue  # the same nonce of another account
        if event.event == "AuthorizationCanceled":
            return AuthorizationFate(False, event.tx_hash, event.block_number, None)
        # the payment's Transfer follows at once, or after the fund's Transfer to the payer when points paid
        following = [e for e in session.scalars(select(ChainEvent).where(
            ChainEvent.block_hash == event.block_hash, ChainEvent.log_index.in_((event.log_index + 1,
                                                                                 event.log_index + 2)),
            ChainEvent.contract_name == token, ChainEvent.event == "Transfer").order_by(ChainEvent.log_index))
            if str(e.args.get("from", "")).lower() == authorizer.lower()]
        return AuthorizationFate(True, event.tx_hash, event.block_number,
                                 dict(following[0].args) if following else None)
    return None


def points_holders(session: Session, token: str = COIN) -> list[str]:
    """Every account the index saw receive points (credited, or moved to it by a recovery), in first-seen
    order: the wallets that may hold points, expired or not (what the sweep looks at)."""
    holders: dict[str, None] = {}
    query = (select(ChainEvent).where(ChainEvent.contract_name == token,
                                      ChainEvent.event.in_(("PointsCredited", "PointsRecovered")))
             .order_by(ChainEvent.block_number, ChainEvent.log_index))
    for event in session.scalars(query):
        holders[str(event.args.get("account") or event.args.get("successor"))] = None
    return list(holders)


@dataclass(frozen=True)
class PointsPosition:
    """Points at an instant, replayed from the index: unexpired (still spendable), expired but not yet swept,
    how many wallets hold unexpired ones, and what was credited, spent and expired (swept) after a block."""

    unexpired: int
    expired_unswept: int
    holders: int
    credited: int
    spent: int
    swept: int


def points_position(session: Session, w3: Web3, up_to_block: int, at_time: int, after_block: int = -1,
                    token: str = COIN) -> PointsPosition:
    """Every wallet's points as of ``at_time`` (unix seconds) from the indexed events up to ``up_to_block``:
    ``PointsCredited`` (with their ``expiresAt``), the fund's ``Transfer`` to a payer (points spent, earliest
    expiry first among those unexpired at that block), ``PointsExpired`` (swept) and ``PointsRecovered``
    (moved with their expiries). ``credited``/``spent``/``swept``: in blocks ``after_block + 1 … up_to_block``.
    """
    fund_rows = session.scalars(select(ChainEvent.contract).where(ChainEvent.contract_name == token).limit(1))
    fund = next(iter(fund_rows), None)
    if fund is None:
        return PointsPosition(0, 0, 0, 0, 0, 0)
    named = ("PointsCredited", "PointsExpired", "PointsRecovered")
    events = list(session.scalars(select(ChainEvent).where(
        ChainEvent.contract_name == token, ChainEvent.block_number <= up_to_block,
        ChainEvent.event.in_(named)
        | ((ChainEvent.event == "Transfer") & (ChainEvent.args["from"].as_string() == fund)))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)))
    times = block_times(w3, {e.block_number for e in events if e.event != "PointsCredited"})
    buckets: dict[str, dict[int, int]] = {}
    credited = spent = swept = 0

    def take(account: str, amount: int, now: int) -> dict[int, int]:
        """Remove ``amount`` unexpired points of ``account`` at ``now``, earliest expiry first."""
        held, taken = buckets.setdefault(account, {}), {}
        for expires in sorted(e for e in held if e > now):
            part = min(held[expires], amount)
            held[expires] -= part
            taken[expires] = part
            amount -= part
            if not held[expires]:
                del held[expires]
        return taken

    for event in events:
        args, in_period = event.args, event.block_number > after_block
        if event.event == "PointsCredited":
            held = buckets.setdefault(str(args["account"]), {})
            held[int(args["expiresAt"])] = held.get(int(args["expiresAt"]), 0) + int(args["amount"])
            credited += int(args["amount"]) if in_period else 0
        elif event.event == "Transfer":
            take(str(args["to"]), int(args["value"]), times[event.block_number])
            spent += int(args["value"]) if in_period else 0
        elif event.event == "PointsExpired":
            held = buckets.setdefault(str(args["account"]), {})
            for expires in [e for e in held if e <= times[event.block_number]]:
                del held[expires]
            swept += int(args["amount"]) if in_period else 0
        else:  # PointsRecovered: the unexpired ones move with their expiries
            successor = buckets.setdefault(str(args["successor"]), {})
            for expires, amount in take(str(args["lostWallet"]), int(args["amount"]),
                                        times[event.block_number]).items():
                successor[expires] = successor.get(expires, 0) + amount
    unexpired = {a: sum(v for e, v in held.items() if e > at_time) for a, held in buckets.items()}
    expired = sum(v for held in buckets.values() for e, v in held.items() if e <= at_time)
    return PointsPosition(sum(unexpired.values()), expired, sum(1 for v in unexpired.values() if v), credited,
                          spent, swept)


def wallet_points_events(session: Session, wallet: str, token: str = COIN) -> list[ChainEvent]:
    """``wallet``'s points events, oldest first: credits and expiries of its points, recoveries that moved
    points from or to it (a checksummed address, as the index stores it)."""
    account = ChainEvent.args["account"].as_string()
    lost, successor = ChainEvent.args["lostWallet"].as_string(), ChainEvent.args["successor"].as_string()
    return list(session.scalars(select(ChainEvent).where(
        ChainEvent.contract_name == token,
        (ChainEvent.event.in_(("PointsCredited", "PointsExpired")) & (account == wallet))
        | ((ChainEvent.event == "PointsRecovered") & ((lost == wallet) | (successor == wallet))))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)))


def wallet_coin_events(session: Session, wallet: str, token: str = COIN) -> list[ChainEvent]:
    """Every indexed movement of ``wallet``'s coins, oldest first: the token's ``Transfer`` events from or
    to it (mints and burns included), and the token's other events in the same transactions (``Minted``,
    ``Recovered``, ``Redeemed``…) that say what the movement was.

    Args:
        wallet: a checksummed address, as the index stores it.
    """
    sender, receiver = ChainEvent.args["from"].as_string(), ChainEvent.args["to"].as_string()
    moves = list(session.scalars(
        select(ChainEvent).where(ChainEvent.contract_name == token, ChainEvent.event == "Transfer",
                                 (sender == wallet) | (receiver == wallet))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)))
    hashes = sorted({e.tx_hash for e in moves})
    context: list[ChainEvent] = []
    for start in range(0, len(hashes), 500):  # bounded IN lists
        context += session.scalars(select(ChainEvent).where(
            ChainEvent.contract_name == token, ChainEvent.event != "Transfer",
            ChainEvent.tx_hash.in_(hashes[start:start + 500])))
    return sorted(moves + context, key=lambda e: (e.block_number, e.log_index))


def block_times(w3: Web3, numbers: Iterable[int]) -> dict[int, int]:
    """Each block's timestamp (unix seconds), in one batch of requests."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    with w3.batch_requests() as batch:
        for number in wanted:
            batch.add(w3.eth.get_block(number))
        blocks = cast(list[Any], batch.execute())
    return {n: int(b["timestamp"]) for n, b in zip(wanted, blocks, strict=True)}


def last_block_at(w3: Web3, timestamp: float) -> int | None:
    """The highest block whose timestamp is at or before ``timestamp`` (unix seconds), by binary search
    over the chain (about log2(height) block reads); None when the first block is later."""
    low, high = 0, int(w3.eth.block_number)
    if int(w3.eth.get_block(low)["timestamp"]) > timestamp:
        return None
    while low < high:  # block `low` is at or before; find the last such
        middle = (low + high + 1) // 2
        if int(w3.eth.get_block(middle)["timestamp"]) <= timestamp:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class SupplyFlow:
    """Coins created and destroyed in a range of blocks (the token's mints and burns); ``to_fund``: the part of
    ``issued`` minted to the points fund (the token's own address) to back points."""

    issued: int
    redeemed: int
    to_fund: int = 0


def supply_flow(session: Session, after_block: int, up_to_block: int, token: str = COIN) -> SupplyFlow:
    """Minted and burned in blocks ``after_block + 1 … up_to_block``, from the indexed ``Transfer`` events
    from and to the zero address."""
    issued = redeemed = to_fund = 0
    for contract, args in session.execute(select(ChainEvent.contract, ChainEvent.args).where(
            ChainEvent.contract_name == token, ChainEvent.event == "Transfer",
            ChainEvent.block_number > after_block, ChainEvent.block_number <= up_to_block)):
        if args["from"] == ZERO_ADDRESS:
            issued += int(args["value"])
            to_fund += int(args["value"]) if args["to"] == contract else 0
        elif args["to"] == ZERO_ADDRESS:
            redeemed += int(args["value"])
    return SupplyFlow(issued, redeemed, to_fund)


@dataclass
class IndexCheck:
    """The index compared with the chain at the index's last block."""

    block: int | None
    canonical: bool
    accounts_checked: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)
    supply: dict[str, int] = field(default_factory=dict)
    missing_logs: list[str] = field(default_factory=list)  # on chain, not in the index
    orphan_logs: list[str] = field(default_factory=list)  # in the index, not on chain

    @property
    def ok(self) -> bool:
        """True when the index is on the canonical chain and agrees with it everywhere."""
        return (self.canonical and not self.differences and not self.missing_logs and not self.orphan_logs
                and self.supply.get("indexed") == self.supply.get("chain"))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {"ok": self.ok, "block": self.block, "canonical": self.canonical,
                "accounts_checked": self.accounts_checked, "differences": self.differences, "supply": self.supply,
                "missing_logs": self.missing_logs, "orphan_logs": self.orphan_logs}


def _call(w3: Web3, to: str, data: str, block: int) -> Any:
    return w3.eth.call({"to": cast(Any, to), "data": cast(Any, data)}, block)


def compare_balances(session: Session, w3: Web3, token: str, block: int, balances: dict[str, int] | None = None,
                     chunk: int = 500) -> tuple[int, list[dict[str, Any]], dict[str, int]]:
    """The indexed balance of every account seen up to ``block`` against ``balanceOf`` at that block, and
    the indexed supply (the balances' sum: minted − burned) against ``totalSupply``: (accounts checked,
    differences, supply). ``balances``: ``indexed_balances(session, block)`` if the caller has it already.
    Reads the chain's state at ``block``: a node that has pruned it raises its error."""
    if balances is None:
        balances = indexed_balances(session, block)
    accounts = sorted(balances)
    differences: list[dict[str, Any]] = []
    for start in range(0, len(accounts), chunk):  # bounded JSON-RPC batches
        part = accounts[start:start + chunk]
        with w3.batch_requests() as batch:
            for account in part:
                batch.add(_call(w3, token, BALANCE_OF + account[2:].lower().rjust(64, "0"), block))
            answers = cast(list[Any], batch.execute())
        for account, answer in zip(part, answers, strict=True):
            balance = int.from_bytes(bytes(answer), "big")
            if balance != balances[account]:
                differences.append({"account": account, "indexed": balances[account], "chain": balance})
    chain_supply = int.from_bytes(bytes(_call(w3, token, TOTAL_SUPPLY, block)), "big")
    return len(accounts), differences, {"indexed": sum(balances.values()), "chain": chain_supply}


def verify_against_chain(session: Session, w3: Web3, compare_logs: bool = True, name: str = CURSOR_NAME,
                         max_range: int = 2_000) -> IndexCheck:
    """Compare the index with the chain at the index's last block.

    Checks that the last indexed block is canonical; the indexed balance of every account seen
    against ``balanceOf`` and the indexed supply against ``totalSupply`` at that block; and, with
    ``compare_logs``, the indexed logs against ``eth_getLogs`` over the whole indexed range.
    """
    cursor = index_cursor(session, name)
    if cursor is None or cursor.last_block is None:
        return IndexCheck(block=None, canonical=False)
    block = cursor.last_block
    canonical = block <= w3.eth.block_number and hex_of(w3.eth.get_block(block)["hash"]) == cursor.last_hash
    check = IndexCheck(block=block, canonical=canonical)
    if not canonical:
        return check
    check.accounts_checked, check.differences, check.supply = compare_balances(
        session, w3, cursor.contracts[COIN], block)
    if compare_logs:
        indexed = {f"{h}:{i}" for h, i in session.execute(
            select(ChainEvent.block_hash, ChainEvent.log_index).where(ChainEvent.block_number <= block))}
        on_chain: set[str] = set()
        addresses = [Web3.to_checksum_address(a) for a in cursor.contracts.values()]
        for start in range(cursor.start_block, block + 1, max_range):
            params: FilterParams = {"fromBlock": start, "toBlock": min(block, start + max_range - 1),
                                    "address": addresses}
            on_chain |= {f"{hex_of(e['blockHash'])}:{int(e['logIndex'])}" for e in w3.eth.get_logs(params)}
        check.missing_logs = sorted(on_chain - indexed)
        check.orphan_logs = sorted(indexed - on_chain)
    return check
