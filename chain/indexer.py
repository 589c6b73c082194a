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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from prometheus_client import Counter
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.types import RPCEndpoint

from chain.errors import ChainError
from chain.events import EventDecoder, WatchedContract, hex_of
from chain.index_store import CURSOR_NAME, ChainBlock, ChainEvent, IndexCursor
from chain.scrub import describe
from chain.storage import KeyLock

log = logging.getLogger("machi.indexer")

INDEXED_EVENTS = Counter("machi_indexer_events", "Chain events indexed", ["contract"])
REORGS = Counter("machi_indexer_reorgs", "Reorganisations the indexer rewound", ["kind"])


class IndexerError(ChainError):
    """The node answered, but not in a way the indexer can use (an ``eth_getLogs`` error), or the
    index could not catch up."""

    code = "indexer_error"


@dataclass
class IndexerConfig:
    """Tuning of the indexer (the service fills ``confirmations`` from its settings)."""

    confirmations: int = 1
    window: int = 64  # tip blocks whose hashes are kept to detect reorganisations
    max_range: int = 2_000  # blocks per eth_getLogs request
    poll_interval: float = 0.25
    lock_retry: float = 1.0
    after_pass_idle: float = 5.0  # while no block comes, ``after_pass`` still runs this often (seconds)


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
    #: Called by ``run`` after a pass that indexed new blocks, and every ``after_pass_idle`` seconds
    #: without one (the service settles transfers from the new events here); what it raises counts as a
    #: failed pass.
    after_pass: Callable[[], object] | None = None

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
        last_after = 0.0
        try:
            while not stop.is_set():
                try:
                    result = self.poll()
                    now = time.monotonic()
                    if self.after_pass is not None and (
                            result is not None or now - last_after >= self.config.after_pass_idle):
                        last_after = now
                        self.after_pass()
                    backoff = self.config.poll_interval
                    caught_up = result is None or result.to_block >= result.head
                    if caught_up:
                        stop.wait(self.config.poll_interval)
                except ChainMoved:
                    continue  # read again at once
                except Exception as exc:  # noqa: BLE001 - the loop must survive node/DB outages
                    self.stats.last_error = describe(exc)
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
        raise IndexerError(f"indexer did not catch up in {max_passes} passes")

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
            raise IndexerError(f"eth_getLogs {from_block}..{to_block} failed: {response['error']}")
        return list(response["result"])

    def _header(self, number: int) -> dict[str, Any]:
        block = self.w3.eth.get_block(number)
        return {"number": number, "hash": hex_of(block["hash"]), "parent_hash": hex_of(block["parentHash"])}

    def _headers(self, numbers: Iterable[int]) -> list[dict[str, Any]]:
        wanted = list(numbers)
        with self.w3.batch_requests() as batch:
            for number in wanted:
                batch.add(self.w3.eth.get_block(number))
            blocks = cast(list[Any], batch.execute())
        return [{"number": n, "hash": hex_of(b["hash"]), "parent_hash": hex_of(b["parentHash"])}
                for n, b in zip(wanted, blocks, strict=True)]

    def _hash_at(self, number: int, head: int) -> str | None:
        """The chain's hash of block ``number`` (None above ``head``: the chain got shorter)."""
        if number > head or number < 0:
            return None
        try:
            return hex_of(self.w3.eth.get_block(number)["hash"])
        except Exception:  # noqa: BLE001 - a block the node no longer has is "not on the chain"
            return None

    def _hashes_at(self, numbers: Sequence[int]) -> dict[int, str]:
        if not numbers:
            return {}
        return {h["number"]: h["hash"] for h in self._headers(numbers)}
