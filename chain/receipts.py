"""Reading back what the chain recorded, with "the node did not answer" told apart from "not there".

A verifier that meets an outage must say so, never conclude that a transaction does not exist:
these reads raise ``NodeError`` for a transport failure and answer ``None`` only when the node
itself says it has no such transaction. ``outage_as_node_error`` gives other reads (contract
calls) the same rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from chain.errors import NodeError
from chain.rpc import is_unreachable

__all__ = ["node_chain_id", "outage_as_node_error", "transaction_receipt"]


@contextmanager
def outage_as_node_error(doing: str) -> Iterator[None]:
    """Raise a transport failure inside the block as ``NodeError`` ("… while ``doing``").

    Everything else (a revert, a node's error answer, a bug) passes through unchanged.
    """
    try:
        yield
    except NodeError:
        raise
    except Exception as exc:
        if is_unreachable(exc):
            raise NodeError(f"the chain node did not answer while {doing}") from exc
        raise


def transaction_receipt(w3: Web3, tx_hash: str | bytes) -> TxReceipt | None:
    """The receipt of a mined transaction, or ``None`` when the node knows no such mined transaction.

    Args:
        w3: a connection to the node.
        tx_hash: the transaction hash (32 bytes, or ``0x`` and 64 hex digits).

    Raises:
        NodeError: the node did not answer (refused, reset or timed out).
    """
    shown = tx_hash if isinstance(tx_hash, str) else "0x" + tx_hash.hex()
    with outage_as_node_error(f"reading transaction {shown}"):
        try:
            return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]  # str or bytes both work
        except TransactionNotFound:
            return None


def node_chain_id(w3: Web3) -> int:
    """The chain id the node serves.

    Raises:
        NodeError: the node did not answer.
    """
    with outage_as_node_error("reading the chain id"):
        return int(w3.eth.chain_id)
