"""Reading back what the chain recorded, with "the node did not answer" told apart from "not there".

A verifier that meets an outage must say so, never conclude that a transaction does not exist:
these reads raise ``NodeError`` for a transport failure and answer ``None`` (or ``ReceiptNotFound``)
only when the node itself says it has no such transaction — it is not mined, was reorganised away,
or belongs to another chain. ``outage_as_node_error`` gives other reads (contract calls) the same
rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from chain.contracts.coin import RegionalCoinClient
from chain.errors import ChainError, NodeError
from chain.rpc import is_unreachable

__all__ = ["ReceiptNotFound", "Recovery", "fetch_receipt", "node_chain_id", "outage_as_node_error", "recoveries",
           "transaction_receipt"]


class ReceiptNotFound(ChainError):
    """The node has no receipt for the transaction."""

    code = "receipt_not_found"


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


def fetch_receipt(w3: Web3, tx_hash: str) -> TxReceipt:
    """The receipt of ``tx_hash``.

    Raises:
        ReceiptNotFound: the node has no such mined transaction.
        NodeError: the node did not answer.
    """
    receipt = transaction_receipt(w3, tx_hash)
    if receipt is None:
        raise ReceiptNotFound(f"no receipt for transaction {tx_hash} on this chain")
    return receipt


@dataclass(frozen=True)
class Recovery:
    """One ``RegionalCoin.Recovered`` event: a lost wallet's balance moved to its successor."""

    lost_wallet: str
    successor: str
    amount: int


def recoveries(coin: RegionalCoinClient, tx_hash: str) -> list[Recovery]:
    """The recoveries the coin made in transaction ``tx_hash``.

    Raises:
        ReceiptNotFound: the node has no such mined transaction.
        NodeError: the node did not answer.
    """
    receipt = fetch_receipt(coin.w3, tx_hash)
    return [Recovery(to_checksum_address(e["args"]["lostWallet"]), to_checksum_address(e["args"]["successor"]),
                     int(e["args"]["amount"])) for e in coin.events(receipt, "Recovered")]


@dataclass(frozen=True)
class PointsEffects:
    """What a transaction did with points: what the fund minted, the points that expired back to the fund
    (account → amount) and those a recovery moved (lost wallet, successor, amount)."""

    fund_minted: int
    expired: Sequence[tuple[str, int]]
    recovered: Sequence[tuple[str, str, int]]


def points_effects(coin: RegionalCoinClient, tx_hash: str) -> PointsEffects:
    """The points events of the coin in transaction ``tx_hash``.

    Raises:
        ReceiptNotFound: the node has no such mined transaction.
        NodeError: the node did not answer.
    """
    receipt = fetch_receipt(coin.w3, tx_hash)
    minted = sum(int(e["args"]["value"]) for e in coin.events(receipt, "Transfer")
                 if int(e["args"]["from"], 16) == 0 and e["args"]["to"] == coin.address)
    expired = [(to_checksum_address(e["args"]["account"]), int(e["args"]["amount"]))
               for e in coin.events(receipt, "PointsExpired")]
    recovered = [(to_checksum_address(e["args"]["lostWallet"]), to_checksum_address(e["args"]["successor"]),
                  int(e["args"]["amount"])) for e in coin.events(receipt, "PointsRecovered")]
    return PointsEffects(minted, expired, recovered)
