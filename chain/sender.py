"""What the parts of one sender share: its key, node, database, tuning, counters and node calls.

The relayer (``chain.relayer``) signs and sends; the tracker (``chain.tracking``) follows what was
sent to a final state. Both work on one ``SenderContext``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from chain.batching import Batcher
from chain.fees import GWEI, FeeModel, FeePolicy
from chain.outbox import OPEN_TX_STATUSES, ChainTx, TxIntent, TxStatus
from chain.roles import Allowlist
from chain.storage import utcnow

CONFIRMATION_SECONDS = Histogram(
    "machi_relayer_confirmation_seconds",
    "Time from enqueue to a final state (confirmation lag)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
TRANSACTIONS_SENT = Counter("machi_relayer_transactions_sent", "Transactions signed and sent", ["sender"])
INTENTS_FINAL = Counter("machi_relayer_intents_final", "Intents that reached a final state", ["status"])
REFUSED_CALLS = Counter("machi_relayer_refused_calls", "Intents or re-pricings refused: the call is outside the "
                        "sender's allowlist", ["key", "sender"])

log = logging.getLogger("machi.relayer")

#: ``fn(point)``: called at the named points of a send (``after_persist``, ``after_send``). Crash
#: tests inject one that dies there like ``kill -9``; production passes none.
Checkpoint = Callable[[str], None]


@dataclass
class RelayerConfig:
    """Tuning of one sender (the service fills it from Settings)."""

    confirmations: int = 1
    max_in_flight: int = 64
    bump_after: float = 30.0
    bump_percent: int = 20
    max_fee_per_gas: int = 500 * GWEI
    fee_model: FeeModel = FeeModel.EIP1559
    gas_price: int | None = None
    batch_max_size: int = 100
    batch_max_wait: float = 0.2
    poll_interval: float = 0.05
    rebroadcast_after: float = 3.0
    lock_retry: float = 1.0

    def fee_policy(self) -> FeePolicy:
        """The pricing these settings describe."""
        return FeePolicy(model=self.fee_model, max_fee_per_gas=self.max_fee_per_gas,
                         bump_percent=self.bump_percent, gas_price=self.gas_price)


@dataclass
class RelayerStats:
    """Counters for logs, metrics and benchmarks."""

    sent: int = 0
    confirmed_txs: int = 0
    confirmed_intents: int = 0
    failed_intents: int = 0
    bumped: int = 0
    rebroadcast: int = 0
    dropped: int = 0
    failed_passes: int = 0
    refused: int = 0
    last_error: str | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


@dataclass
class SenderContext:
    """One sender's key, connections, tuning and the node calls its parts make."""

    w3: Web3
    account: LocalAccount
    sessions: sessionmaker[Session]
    config: RelayerConfig
    chain_id: int
    #: ``host:pid:random`` of the process sending (recorded on every transaction it signs).
    instance: str
    #: the (contract, selector) pairs this key may sign; nothing else is ever signed.
    allowlist: Allowlist
    batchers: dict[str, Batcher] = field(default_factory=dict)
    on_final: Callable[[Session, TxIntent], None] | None = None
    checkpoint: Checkpoint | None = None
    stats: RelayerStats = field(default_factory=RelayerStats)
    #: ``time.monotonic()`` of the last (re)broadcast of each open transaction hash.
    last_seen: dict[str, float] = field(default_factory=dict)

    @property
    def sender(self) -> ChecksumAddress:
        """The checksummed address this context sends for."""
        return self.account.address

    @property
    def fees(self) -> FeePolicy:
        """How this sender prices its transactions."""
        return self.config.fee_policy()

    def permits(self, to: str, data: bytes) -> bool:
        """Whether the key may sign a call to ``to`` with ``data``; a refusal is logged and counted."""
        if self.allowlist.permits(to, data):
            return True
        log.error("refused to sign for %s: %s", self.sender, self.allowlist.refusal(to, data))
        REFUSED_CALLS.labels(self.allowlist.key, self.sender).inc()
        self.stats.refused += 1
        return False

    def reached(self, point: str) -> None:
        """Pass a named point of a send (a crash test's hook may die here)."""
        if self.checkpoint is not None:
            self.checkpoint(point)

    def broadcast(self, tx_hash: str, raw: bytes) -> bool:
        """Hand raw bytes to the node; 'already known' and 'nonce too low' are not errors here.

        Node answers are told apart by their text: JSON-RPC nodes report these conditions only as
        messages (anvil, geth, Besu and Hardhat word them alike), never as distinct error codes.
        """
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text or "nonce too low" in text:
                return False
            if "underpriced" in text or "insufficient funds" in text:
                log.warning("node refused %s: %s", tx_hash, exc)
                return False
            raise
        self.last_seen[tx_hash] = time.monotonic()
        return True

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The transaction's receipt, or None while the node has none (not mined, or reorganised out)."""
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def node_knows(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (in its pool or in a block)."""
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            return True
        except TransactionNotFound:
            return False

    def set_status(self, tx_id: int, status: TxStatus, sent: bool = False) -> None:
        """Move an open transaction row to ``status`` (and stamp ``sent_at`` once)."""
        with self.sessions() as session, session.begin():
            row = session.get(ChainTx, tx_id)
            if row is not None and row.status in OPEN_TX_STATUSES:
                row.status = status
                if sent and row.sent_at is None:
                    row.sent_at = utcnow()
