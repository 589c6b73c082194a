"""How the relayer prices and builds its transactions: EIP-1559, or legacy with a fixed gas price.

Public chains and anvil price with EIP-1559 (base fee + tip); a permissioned QBFT network run by a
city and its banks commonly runs with a zero minimum gas price and legacy transactions. Both are
one ``FeePolicy``; the relayer builds every transaction — first sends and re-priced replacements
alike — through ``build_transaction``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from web3 import Web3

GWEI = 10**9


class FeeModel(enum.StrEnum):
    """How transactions are priced."""

    EIP1559 = "eip1559"
    LEGACY = "legacy"


@dataclass(frozen=True)
class Fees:
    """The price of one transaction. For legacy transactions ``max_fee`` is the gas price and
    ``priority`` equals it (what the sender pays per gas either way)."""

    max_fee: int
    priority: int


@dataclass(frozen=True)
class FeePolicy:
    """Pricing of one sender.

    Attributes:
        model: EIP-1559 or legacy.
        max_fee_per_gas: never bid more than this per gas.
        bump_percent: raise both fees by this much when a transaction is stuck (nodes require >= 10).
        gas_price: the fixed legacy gas price (``None`` = ask the node's ``eth_gasPrice``); 0 allowed.
    """

    model: FeeModel = FeeModel.EIP1559
    max_fee_per_gas: int = 500 * GWEI
    bump_percent: int = 20
    gas_price: int | None = None

    def quote(self, w3: Web3) -> Fees:
        """Fees for a new transaction, from the node's latest block (EIP-1559) or the fixed price."""
        if self.model is FeeModel.LEGACY:
            price = self.gas_price if self.gas_price is not None else int(w3.eth.gas_price)
            price = min(price, self.max_fee_per_gas)
            return Fees(price, price)
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        priority = min(int(w3.eth.max_priority_fee), self.max_fee_per_gas)
        return Fees(min(2 * base + priority, self.max_fee_per_gas), priority)

    def bumped(self, fees: Fees) -> Fees | None:
        """Fees for a replacement of a stuck transaction, or None when already at the cap.

        A zero price stays zero: on a zero-gas-price network nothing is stuck for its price, and
        raising a zero by a percentage would never clear the node's replacement rule anyway.
        """
        pct = 100 + self.bump_percent
        max_fee = min(fees.max_fee * pct // 100 + 1, self.max_fee_per_gas)
        if fees.max_fee == 0 or max_fee <= fees.max_fee:
            return None
        priority = min(fees.priority * pct // 100 + 1, max_fee)
        if self.model is FeeModel.LEGACY:
            priority = max_fee
        return Fees(max_fee, priority)


def build_transaction(
    policy: FeePolicy, *, chain_id: int, nonce: int, to: str, data: bytes, value: int, gas: int, fees: Fees
) -> dict[str, Any]:
    """The unsigned transaction dict for ``eth_account`` (type 2, or a legacy EIP-155 one)."""
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "to": to, "data": data, "value": value, "gas": gas}
    if policy.model is FeeModel.LEGACY:
        tx["gasPrice"] = fees.max_fee
    else:
        tx.update(type=2, maxFeePerGas=fees.max_fee, maxPriorityFeePerGas=fees.priority)
    return tx
