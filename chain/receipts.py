"""Receipts of mined transactions, and what the service reads from them.

A receipt the node does not have is ``ReceiptNotFound`` (the transaction is not mined, was
reorged away, or belongs to another chain); a node that does not answer raises its transport
error unchanged, which ``chain.rpc.is_unreachable`` recognises — never "not found".
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from chain.contracts.coin import RegionalCoinClient
from chain.errors import ChainError


class ReceiptNotFound(ChainError):
    """The node has no receipt for the transaction."""

    code = "receipt_not_found"


def fetch_receipt(w3: Web3, tx_hash: str) -> TxReceipt:
    """The receipt of ``tx_hash``.

    Raises:
        ReceiptNotFound: the node has no such mined transaction.
    """
    try:
        return w3.eth.get_transaction_receipt(HexStr(tx_hash))
    except TransactionNotFound as exc:
        raise ReceiptNotFound(f"no receipt for transaction {tx_hash} on this chain") from exc


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
    """
    receipt = fetch_receipt(coin.w3, tx_hash)
    return [Recovery(to_checksum_address(e["args"]["lostWallet"]), to_checksum_address(e["args"]["successor"]),
                     int(e["args"]["amount"])) for e in coin.events(receipt, "Recovered")]
