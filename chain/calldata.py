"""What a call to the coin does with coins, read from its calldata (no chain needed).

The service's ledger of coin movements is rebuilt from the outbox: every confirmed intent to the
coin is a mint, a burn (``redeem``), a transfer by a city key, a relayed authorization (alone or
as a batch item), or a recovery. ``coin_movement`` names which, and who pays whom how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from chain.contracts.authorization import Authorization


class Movement(StrEnum):
    """The kinds of coin-moving calls."""

    MINT = "mint"
    REDEEM = "redeem"
    TRANSFER = "transfer"
    AUTHORIZATION = "authorization"
    RECOVER = "recover"
    CREDIT_POINTS = "credit_points"
    SWEEP_POINTS = "sweep_points"


@dataclass(frozen=True)
class CoinMovement:
    """Coins one call moves.

    Attributes:
        source: whose coins leave (``None``: minted).
        target: who receives them (``None``: burned; for a recovery, the successor the receipt names).
        amount: how many (for a recovery, only the receipt's ``Recovered`` event tells: 0 here; for a sweep,
            its ``PointsExpired`` events: 0 here).

    A points credit moves ``amount`` of value from the fund (``source`` ``None`` here: the coin's own account)
    to the resident as points; the receipt tells what the fund minted for it.
    """

    kind: Movement
    source: str | None
    target: str | None
    amount: int


_SELECTORS = {
    function_signature_to_4byte_selector("mint(address,uint256)"): Movement.MINT,
    function_signature_to_4byte_selector("redeem(uint256,bytes32)"): Movement.REDEEM,
    function_signature_to_4byte_selector("transfer(address,uint256)"): Movement.TRANSFER,
    function_signature_to_4byte_selector("executeRecovery(address)"): Movement.RECOVER,
    function_signature_to_4byte_selector("creditPoints(address,uint256,uint256)"): Movement.CREDIT_POINTS,
    function_signature_to_4byte_selector("sweepExpiredPoints(address[])"): Movement.SWEEP_POINTS,
    function_signature_to_4byte_selector(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
    ): Movement.AUTHORIZATION,
}


def batch_item_movement(item: bytes) -> CoinMovement:
    """The movement of one relayed authorization, from its batch item (``Authorization.encode``).

    Raises:
        ValueError: not an encoded authorization.
    """
    auth = Authorization.decode(item)
    return CoinMovement(Movement.AUTHORIZATION, to_checksum_address(auth.from_), to_checksum_address(auth.to),
                        auth.value)


def coin_movement(data: bytes, sender: str) -> CoinMovement | None:
    """The movement a call with calldata ``data`` sent by ``sender`` makes, or ``None`` for calls
    that move no coins (freeze, pause, role changes…).

    Raises:
        eth_abi.exceptions.DecodingError: the arguments do not decode (not calldata of the coin).
    """
    kind = _SELECTORS.get(bytes(data[:4]))
    args = bytes(data[4:])
    if kind is Movement.MINT:
        to, amount = abi_decode(["address", "uint256"], args)
        return CoinMovement(kind, None, to_checksum_address(to), int(amount))
    if kind is Movement.REDEEM:
        amount, _ = abi_decode(["uint256", "bytes32"], args)
        return CoinMovement(kind, to_checksum_address(sender), None, int(amount))
    if kind is Movement.TRANSFER:
        to, amount = abi_decode(["address", "uint256"], args)
        return CoinMovement(kind, to_checksum_address(sender), to_checksum_address(to), int(amount))
    if kind is Movement.AUTHORIZATION:
        from_, to, amount = abi_decode(["address", "address", "uint256"], args[:96])
        return CoinMovement(kind, to_checksum_address(from_), to_checksum_address(to), int(amount))
    if kind is Movement.RECOVER:
        (lost,) = abi_decode(["address"], args)
        return CoinMovement(kind, to_checksum_address(lost), None, 0)
    if kind is Movement.CREDIT_POINTS:
        to, amount, _ = abi_decode(["address", "uint256", "uint256"], args)
        return CoinMovement(kind, None, to_checksum_address(to), int(amount))
    if kind is Movement.SWEEP_POINTS:
        return CoinMovement(kind, None, None, 0)
    return None
