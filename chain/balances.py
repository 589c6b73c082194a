"""The coin's balances and supply, read together at one block (a consistent snapshot)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from chain.contracts.coin import RegionalCoinClient


@dataclass(frozen=True)
class CoinSnapshot:
    """Balances and total supply as of ``block``."""

    block: int
    balances: dict[str, int]
    total_supply: int


def coin_snapshot(coin: RegionalCoinClient, wallets: Iterable[str]) -> CoinSnapshot:
    """Each wallet's balance and the total supply, all at the head block when called — so payments
    mined meanwhile cannot make the numbers disagree with each other."""
    block = int(coin.w3.eth.block_number)
    functions = coin.contract.functions
    balances: dict[str, int] = {}
    for wallet in wallets:
        address = to_checksum_address(wallet)
        balances[address] = int(functions.balanceOf(address).call(block_identifier=block))
    return CoinSnapshot(block, balances, int(functions.totalSupply().call(block_identifier=block)))
