"""The chain event indexer: what the chain says happened, kept equal to the chain through reorgs.

The outbox (``chain.outbox``) knows what the service *submitted*; the indexer records what the
city's contracts *emitted*: every log of the watched contracts, decoded against their ABIs.

Tables
    ``chain_events``        one decoded log (block, block hash, transaction, log index, contract,
                            event name, arguments as JSON); unique by (block hash, log index)
    ``chain_blocks``        number, hash and parent hash of the last ``window`` indexed blocks
    ``chain_index_cursor``  where indexing stands (last block and its hash, the chain head seen,
                            the watched contracts) — a restart continues from here

Everything up to the chain head is indexed; an event counts as *confirmed* once
``block_number + confirmations - 1 <= head`` (the relayer's rule), see ``ChainEvent.confirmed``.

Reorganisations
    Each pass first checks the stored hash of the last indexed block against the chain's (one
    hash commits to all its ancestors). On a mismatch the common ancestor is the highest block of
    the stored window the chain still has; everything above it is deleted and re-indexed in the
    same database transaction, so readers never see a half-rewound index. A reorg deeper than the
    window is detected the same way and falls back to the highest *event* block the chain still
    has (or the start block): a re-index from a verified point, never a silent divergence.
One indexer per database
    ``KeyLock`` (PostgreSQL advisory lock / file lock), as the relayer; the cursor is also
    updated compare-and-set, so a second writer can only waste a pass, never corrupt the index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from prometheus_client import Counter
from sqlalchemy import JSON, BigInteger, Engine, Index, Integer, String, UniqueConstraint, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from web3 import Web3
from web3.types import FilterParams, RPCEndpoint

from chain.plan import COIN
from chain.storage import Base, KeyLock, UTCDateTime, utcnow

log = logging.getLogger("machi.indexer")

INDEXED_EVENTS = Counter("machi_indexer_events", "Chain events indexed", ["contract"])
REORGS = Counter("machi_indexer_reorgs", "Reorganisations the indexer rewound", ["kind"])

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


# --------------------------------------------------------------------------- decoding
@dataclass(frozen=True)
class WatchedContract:
    """A contract the indexer follows: its manifest name, address and ABI."""

    name: str
    address: str
    abi: Sequence[Mapping[str, Any]]


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def jsonable(value: Any) -> Any:
    """Decoded ABI values as JSON: bytes as 0x-hex, tuples as lists, mappings as objects."""
    if isinstance(value, bytes | bytearray):
        return _hex(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class _EventShape:
    """One event's name and its inputs split into topics (indexed) and data, as ABI type strings."""

    contract: str
    name: str
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


def _is_dynamic(abi_type: str) -> bool:
    """Indexed values of these types are stored as their hash, not decodable from the topic."""
    return abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")


class EventDecoder:
    """Decodes raw logs of the watched contracts by (address, topic 0) against their ABIs.

    Works on the node's raw JSON (hex strings) with ``eth_abi`` directly: several times faster
    than web3's per-log formatting, which dominated the indexer's catch-up time.
    """

    def __init__(self, contracts: Iterable[WatchedContract]) -> None:
        self._events: dict[tuple[str, str], _EventShape] = {}
        self._checksums: dict[str, str] = {}
        for contract in contracts:
            for entry in contract.abi:
                if entry.get("type") != "event" or entry.get("anonymous"):
                    continue
                topic = _hex(event_abi_to_log_topic(cast(Any, entry)))
                inputs = list(entry.get("inputs", []))
                data = [i for i in inputs if not i.get("indexed")]
                self._events[(contract.address.lower(), topic)] = _EventShape(
                    contract=contract.name,
                    name=str(entry["name"]),
                    indexed=tuple((str(i["name"]), collapse_if_tuple(i)) for i in inputs if i.get("indexed")),
                    data_names=tuple(str(i["name"]) for i in data),
                    data_types=tuple(collapse_if_tuple(i) for i in data),
                )

    def checksum(self, address: str) -> str:
        """The checksummed form of ``address`` (cached: the same few addresses recur in every block)."""
        key = address.lower()
        cached = self._checksums.get(key)
        if cached is None:
            cached = self._checksums[key] = Web3.to_checksum_address(key)
        return cached

    def _value(self, abi_type: str, value: Any) -> Any:
        if abi_type == "address":
            return self.checksum(value)
        if isinstance(value, str | int | bool):
            return value
        return jsonable(value)

    def decode(self, entry: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """(contract name, event name, arguments) of one raw log; unknown logs keep their raw topics."""
        topics = [str(t).lower() for t in entry["topics"]]
        shape = self._events.get((str(entry["address"]).lower(), topics[0])) if topics else None
        if shape is None or len(topics) != len(shape.indexed) + 1:
            return "unknown", "unknown", {"topics": topics, "data": str(entry["data"])}
        args: dict[str, Any] = {}
        for (name, abi_type), topic in zip(shape.indexed, topics[1:], strict=True):
            if _is_dynamic(abi_type):
                args[name] = topic  # only the hash of the value is on chain
            else:
                args[name] = self._value(abi_type, abi_decode([abi_type], bytes.fromhex(topic[2:]))[0])
        values = abi_decode(list(shape.data_types), bytes.fromhex(str(entry["data"])[2:]))
        for name, abi_type, value in zip(shape.data_names, shape.data_types, values, strict=True):
            args[name] = self._value(abi_type, value)
        return shape.contract, shape.name, args


# --------------------------------------------------------------------------- the indexer
@dataclass
class IndexerConfig:
    """Tuning of the indexer (the service fills ``confirmations`` from its settings)."""

    confirmations: int = 1
    window: int = 64  # tip blocks whose hashes are kept to detect reorganisations
    max_range: int = 2_000  # blocks per eth_getLogs request
    poll_interval: float = 0.25
    lock_retry: float = 1.0


@dataclass
class IndexerStats:
    """Counters for logs, status lines and benchmarks."""

    passes: int = 0
    events: int = 0
    reorgs: int = 0
    deep_reorgs: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class _Point:
    """A block the next pass builds on: its number and hash (None before the start block)."""

    number: int
    hash: str | None


@dataclass
class _Plan:
    """What a pass found out before writing: the base to build on and whether it rewinds."""

    cursor: tuple[int | None, str | None] | None  # the cursor as read (compare-and-set)
    base: _Point
    rewind: bool = False
    deep: bool = False
    reset: bool = False


@dataclass
class PassResult:
    """What one indexing pass did."""

    from_block: int
    to_block: int
    head: int
    events: int
    rewound_to: int | None = None
    deep: bool = False


class ChainMoved(Exception):
    """The chain changed while a pass read it; the pass is dropped and retried."""


@dataclass
class Indexer:
    """Indexes the watched contracts' logs into the database. ``run(stop)`` in a thread, or ``poll()``."""

    w3: Web3
    contracts: Sequence[WatchedContract]
    start_block: int
    engine: Engine
    sessions: sessionmaker[Session]
    lock_dir: Path
    config: IndexerConfig = field(default_factory=IndexerConfig)
    name: str = CURSOR_NAME
    stats: IndexerStats = field(default_factory=IndexerStats)

    def __post_init__(self) -> None:
        self.decoder = EventDecoder(self.contracts)
        self.addresses = [Web3.to_checksum_address(c.address) for c in self.contracts]
        self.watched = {c.name: Web3.to_checksum_address(c.address) for c in self.contracts}
        self.lock = KeyLock(self.engine, f"chain-indexer:{self.name}", self.lock_dir)

    # ------------------------------------------------------------------ lifecycle
    def run(self, stop: threading.Event) -> None:
        """Wait for the index lock, then poll until ``stop`` is set (surviving node/DB outages)."""
        while not stop.is_set() and not self.lock.try_acquire():
            stop.wait(self.config.lock_retry)
        if stop.is_set():
            return
        log.info("indexing %s from block %d", ", ".join(self.watched), self.start_block)
        backoff = self.config.poll_interval
        try:
            while not stop.is_set():
                try:
                    result = self.poll()
                    backoff = self.config.poll_interval
                    caught_up = result is None or result.to_block >= result.head
                    if caught_up:
                        stop.wait(self.config.poll_interval)
                except ChainMoved:
                    continue  # read again at once
                except Exception as exc:  # noqa: BLE001 - the loop must survive node/DB outages
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("indexer pass failed, retrying: %s", self.stats.last_error)
                    backoff = min(backoff * 2, 5.0)
                    stop.wait(backoff)
        finally:
            self.lock.release()

    def catch_up(self, max_passes: int = 10_000) -> int:
        """Poll until the index reaches the chain head; returns the events written."""
        written = 0
        for _ in range(max_passes):
            try:
                result = self.poll()
            except ChainMoved:
                continue
            if result is not None:
                written += result.events
            if result is None or result.to_block >= result.head:
                return written
        raise RuntimeError(f"indexer did not catch up in {max_passes} passes")

    # ------------------------------------------------------------------ one pass
    def poll(self) -> PassResult | None:
        """One pass: detect a reorg, fetch the next range of logs and write it in one transaction.

        Returns None when there was nothing to do.

        Raises:
            ChainMoved: the chain changed under the pass (nothing was written; poll again).
        """
        head = self.w3.eth.block_number
        plan = self._plan(head)
        from_block = plan.base.number + 1
        if from_block > head:
            if not plan.rewind:
                return None
            self._write(plan, [], [], head, plan.base)  # the chain got shorter: rewind only
            return PassResult(from_block, plan.base.number, head, 0, plan.base.number, plan.deep)
        to_block = min(head, from_block + self.config.max_range - 1)
        top_before = self._header(to_block)
        logs = self._logs(from_block, to_block)
        window = self._headers(range(max(from_block, to_block - self.config.window + 1), to_block + 1))
        self._check_consistent(plan.base, from_block, top_before, window, logs)
        rows = [self._event_row(entry) for entry in logs]
        top = window[-1]
        self._write(plan, rows, window, head, _Point(to_block, top["hash"]))
        self.stats.passes += 1
        self.stats.events += len(rows)
        rewound = plan.base.number if plan.rewind else None
        return PassResult(from_block, to_block, head, len(rows), rewound, plan.deep)

    def _plan(self, head: int) -> _Plan:
        """Read the cursor and decide the base of this pass (rewinding after a reorg)."""
        with self.sessions() as session:
            cursor = session.get(IndexCursor, self.name)
            start = _Point(self.start_block - 1, None)
            if cursor is None:
                return _Plan(None, start)
            as_read = (cursor.last_block, cursor.last_hash)
            if cursor.contracts != self.watched or cursor.start_block != self.start_block:
                log.warning("watched contracts changed; re-indexing from block %d", self.start_block)
                return _Plan(as_read, start, rewind=True, reset=True)
            if cursor.last_block is None or cursor.last_hash is None:
                return _Plan(as_read, start)
            if self._hash_at(cursor.last_block, head) == cursor.last_hash:
                return _Plan(as_read, _Point(cursor.last_block, cursor.last_hash))
            base, deep = self._common_ancestor(session, head)
        kind = "deep" if deep else "window"
        log.warning("reorg: block %d %s changed; rewinding to %d (%s)", cursor.last_block,
                    cursor.last_hash[:10], base.number, kind)
        self.stats.reorgs += 1
        self.stats.deep_reorgs += int(deep)
        REORGS.labels(kind).inc()
        return _Plan(as_read, base, rewind=True, deep=deep)

    def _common_ancestor(self, session: Session, head: int) -> tuple[_Point, bool]:
        """The highest stored block the chain still has: (that point, whether the window missed it)."""
        stored = list(session.execute(select(ChainBlock.number, ChainBlock.hash).order_by(ChainBlock.number.desc())))
        chain = self._hashes_at([n for n, _ in stored if n <= head])
        for number, block_hash in stored:
            if chain.get(number) == block_hash:
                return _Point(number, block_hash), False
        # Deeper than the window: step back over the blocks that hold events (their hashes are
        # stored), doubling the stride, until one is still on the chain.
        floor = stored[-1][0] if stored else None
        query = select(ChainEvent.block_number, ChainEvent.block_hash).distinct()
        if floor is not None:
            query = query.where(ChainEvent.block_number < floor)
        candidates = list(session.execute(query.order_by(ChainEvent.block_number.desc())))
        index, stride = 0, 1
        while index < len(candidates):
            number, block_hash = candidates[index]
            if number <= head and self._hash_at(number, head) == block_hash:
                return _Point(number, block_hash), True
            index += stride
            stride *= 2
        return _Point(self.start_block - 1, None), True

    def _check_consistent(self, base: _Point, from_block: int, top_before: Mapping[str, Any],
                          window: Sequence[Mapping[str, Any]], logs: Sequence[Mapping[str, Any]]) -> None:
        """Refuse a pass whose reads straddle a reorg (logs, headers and base must form one chain)."""
        if window[-1]["hash"] != top_before["hash"]:
            raise ChainMoved(f"block {window[-1]['number']} changed during the pass")
        for parent, child in zip(window, window[1:], strict=False):
            if child["parent_hash"] != parent["hash"]:
                raise ChainMoved(f"blocks {parent['number']}..{child['number']} do not link")
        if base.hash is not None:
            if window[0]["number"] == from_block:
                linked = window[0]["parent_hash"] == base.hash
            else:
                linked = self._hash_at(base.number, window[-1]["number"]) == base.hash
            if not linked:
                raise ChainMoved(f"block {base.number} left the chain during the pass")
        hashes = {h["number"]: h["hash"] for h in window}
        for entry in logs:
            expected = hashes.get(int(entry["blockNumber"], 16))
            if expected is not None and str(entry["blockHash"]).lower() != expected:
                raise ChainMoved(f"a log of block {entry['blockNumber']} is from another branch")

    def _write(self, plan: _Plan, rows: list[dict[str, Any]], window: Sequence[Mapping[str, Any]], head: int,
               tip: _Point) -> None:
        """Apply one pass in one transaction: rewind, insert, prune the window, move the cursor."""
        with self.sessions() as session, session.begin():
            cursor = session.get(IndexCursor, self.name, with_for_update=True)
            current = None if cursor is None else (cursor.last_block, cursor.last_hash)
            if current != plan.cursor:
                raise ChainMoved("another indexer moved the cursor")  # compare-and-set lost
            if plan.reset:
                session.execute(delete(ChainEvent))
                session.execute(delete(ChainBlock))
            elif plan.rewind:
                session.execute(delete(ChainEvent).where(ChainEvent.block_number > plan.base.number))
                session.execute(delete(ChainBlock).where(ChainBlock.number > plan.base.number))
            if rows:
                session.execute(insert(ChainEvent), rows)
            if window:
                session.execute(delete(ChainBlock).where(ChainBlock.number >= window[0]["number"]))
                session.execute(insert(ChainBlock),
                                [{"number": h["number"], "hash": h["hash"], "parent_hash": h["parent_hash"]}
                                 for h in window])
            session.execute(delete(ChainBlock).where(ChainBlock.number <= tip.number - self.config.window))
            if cursor is None:
                cursor = IndexCursor(name=self.name, reorgs=0)
                session.add(cursor)
            cursor.contracts = dict(self.watched)
            cursor.start_block = self.start_block
            cursor.last_block = tip.number if tip.hash is not None else None
            cursor.last_hash = tip.hash
            cursor.head = head
            cursor.reorgs = (cursor.reorgs or 0) + int(plan.rewind)
        for row in rows:
            INDEXED_EVENTS.labels(row["contract_name"]).inc()

    # ------------------------------------------------------------------ reads
    def _event_row(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        contract_name, event, args = self.decoder.decode(entry)
        return {
            "block_number": int(entry["blockNumber"], 16),
            "block_hash": str(entry["blockHash"]).lower(),
            "tx_hash": str(entry["transactionHash"]).lower(),
            "log_index": int(entry["logIndex"], 16),
            "contract": self.decoder.checksum(entry["address"]),
            "contract_name": contract_name,
            "event": event,
            "args": args,
        }

    def _logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """The watched contracts' logs in the range, as the node's raw JSON (decoded by ``EventDecoder``)."""
        params = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": self.addresses}
        response = self.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        if "error" in response:
            raise RuntimeError(f"eth_getLogs {from_block}..{to_block} failed: {response['error']}")
        return list(response["result"])

    def _header(self, number: int) -> dict[str, Any]:
        block = self.w3.eth.get_block(number)
        return {"number": number, "hash": _hex(block["hash"]), "parent_hash": _hex(block["parentHash"])}

    def _headers(self, numbers: Iterable[int]) -> list[dict[str, Any]]:
        wanted = list(numbers)
        with self.w3.batch_requests() as batch:
            for number in wanted:
                batch.add(self.w3.eth.get_block(number))
            blocks = cast(list[Any], batch.execute())
        return [{"number": n, "hash": _hex(b["hash"]), "parent_hash": _hex(b["parentHash"])}
                for n, b in zip(wanted, blocks, strict=True)]

    def _hash_at(self, number: int, head: int) -> str | None:
        """The chain's hash of block ``number`` (None above ``head``: the chain got shorter)."""
        if number > head or number < 0:
            return None
        try:
            return _hex(self.w3.eth.get_block(number)["hash"])
        except Exception:  # noqa: BLE001 - a block the node no longer has is "not on the chain"
            return None

    def _hashes_at(self, numbers: Sequence[int]) -> dict[int, str]:
        if not numbers:
            return {}
        return {h["number"]: h["hash"] for h in self._headers(numbers)}


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


def indexed_supply(session: Session, up_to_block: int | None = None, token: str = COIN) -> int:
    """Minted minus burned, from the token's ``Transfer`` events from/to the zero address."""
    query = select(ChainEvent.args).where(ChainEvent.contract_name == token, ChainEvent.event == "Transfer")
    if up_to_block is not None:
        query = query.where(ChainEvent.block_number <= up_to_block)
    supply = 0
    for args in session.scalars(query):
        supply += int(args["value"]) * ((args["from"] == ZERO_ADDRESS) - (args["to"] == ZERO_ADDRESS))
    return supply


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
    canonical = block <= w3.eth.block_number and _hex(w3.eth.get_block(block)["hash"]) == cursor.last_hash
    check = IndexCheck(block=block, canonical=canonical)
    if not canonical:
        return check
    token = cursor.contracts[COIN]
    balances = indexed_balances(session, block)
    accounts = sorted(balances)
    answers: list[Any] = []
    if accounts:
        with w3.batch_requests() as batch:
            for account in accounts:
                batch.add(_call(w3, token, BALANCE_OF + account[2:].lower().rjust(64, "0"), block))
            answers = cast(list[Any], batch.execute())
    for account, answer in zip(accounts, answers, strict=True):
        balance = int.from_bytes(bytes(answer), "big")
        if balance != balances[account]:
            check.differences.append({"account": account, "indexed": balances[account], "chain": balance})
    check.accounts_checked = len(accounts)
    chain_supply = int.from_bytes(bytes(_call(w3, token, TOTAL_SUPPLY, block)), "big")
    check.supply = {"indexed": indexed_supply(session, block), "chain": chain_supply}
    if compare_logs:
        indexed = {f"{h}:{i}" for h, i in session.execute(
            select(ChainEvent.block_hash, ChainEvent.log_index).where(ChainEvent.block_number <= block))}
        on_chain: set[str] = set()
        addresses = [Web3.to_checksum_address(a) for a in cursor.contracts.values()]
        for start in range(cursor.start_block, block + 1, max_range):
            params: FilterParams = {"fromBlock": start, "toBlock": min(block, start + max_range - 1),
                                    "address": addresses}
            on_chain |= {f"{_hex(e['blockHash'])}:{int(e['logIndex'])}" for e in w3.eth.get_logs(params)}
        check.missing_logs = sorted(on_chain - indexed)
        check.orphan_logs = sorted(indexed - on_chain)
    return check
