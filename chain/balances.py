"""The coin's balances and supply, read together at one block (a consistent snapshot)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from eth_utils.address import to_checksum_address

from chain.contracts.coin import RegionalCoinClient


@dataclass(frozen=True)
class CoinSnapshot:
    """Balances and total supply as of ``block``; ``points``: each wallet's points (unexpired and expired,
    unswept; for the points fund, minus the coins it reserves for them), ``fund_free``: the fund's coins not
    backing any point."""

    block: int
    balances: dict[str, int]
    total_supply: int
    points: dict[str, int] = field(default_factory=dict)
    fund_free: int = 0

    def value(self, wallet: str) -> int:
        """What ``wallet`` holds in the ledger's terms: its coins and points (the fund: its free coins).
        Summed over every account, the total supply."""
        return self.balances.get(wallet, 0) + self.points.get(wallet, 0)


def coin_snapshot(coin: RegionalCoinClient, wallets: Iterable[str]) -> CoinSnapshot:
    """Each wallet's balance and points and the total supply, all at the head block when called — so payments
    mined meanwhile cannot make the numbers disagree with each other. The points fund (the coin's own address)
    counts its free coins: its reserved ones are the residents' points."""
    block = int(coin.w3.eth.block_number)
    functions = coin.contract.functions
    balances: dict[str, int] = {}
    points: dict[str, int] = {}
    _, fund_coins, reserved = functions.pointsFund().call(block_identifier=block)
    for wallet in wallets:
        address = to_checksum_address(wallet)
        balances[address] = int(functions.balanceOf(address).call(block_identifier=block))
        if address == coin.address:  # the fund: its reserved coins are the residents' points, not its own
            points[address] = -int(reserved)
            continue
        unexpired, expired, _, _ = functions.pointsOf(address).call(block_identifier=block)
        if unexpired or expired:
            points[address] = int(unexpired) + int(expired)
    return CoinSnapshot(block, balances, int(functions.totalSupply().call(block_identifier=block)), points,
                        int(fund_coins) - int(reserved))
