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
    addresses: list[str] = [to_checksum_address(w) for w in wallets]
    balances: dict[str, int] = {a: int(functions.balanceOf(a).call(block_identifier=block)) for a in addresses}
    _, fund_coins, reserved = functions.pointsFund().call(block_identifier=block)
    holders = [a for a in addresses if a != coin.address]
    read = coin.points_of_many(holders, block)
    points: dict[str, int] = {a: p.unexpired + p.expired for a, p in zip(holders, read, strict=True)
                             if p.unexpired or p.expired}
    if coin.address in balances:  # the fund: its reserved coins are the residents' points, not its own
        points[coin.address] = -int(reserved)
    return CoinSnapshot(block, balances, int(functions.totalSupply().call(block_identifier=block)), points,
                        int(fund_coins) - int(reserved))
