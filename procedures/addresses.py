"""Wallet addresses as users type them: validated and checksummed, or refused with the one error shape.

The one place the service checksums an address: ``checksum`` in services, ``WalletAddress`` in
request models.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator
from web3 import Web3

from procedures.errors import InvalidRequest


def is_wallet(value: Any) -> bool:
    """Whether ``value`` is a 0x address (any case)."""
    return isinstance(value, str) and bool(Web3.is_address(value))


def checksum(wallet: Any, param: str = "wallet") -> str:
    """The checksummed address.

    Raises:
        InvalidRequest: not a 0x address (``param`` names the field).
    """
    if not is_wallet(wallet):
        raise InvalidRequest("not a valid wallet address (0x and 40 hex digits)", param=param)
    return str(Web3.to_checksum_address(wallet))


def _checksummed(value: str) -> str:
    # pydantic turns the ValueError into a 422 naming the field
    if not is_wallet(value):
        raise ValueError("not an Ethereum address")
    return str(Web3.to_checksum_address(value))


#: A wallet address field of a request model, checksummed on the way in.
WalletAddress = Annotated[str, AfterValidator(_checksummed)]
