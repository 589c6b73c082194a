"""Wallet addresses as users type them: validated and checksummed, or refused with the one error shape."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from procedures.errors import InvalidRequest


def checksum(wallet: Any, param: str = "wallet") -> str:
    """The checksummed address.

    Raises:
        InvalidRequest: not a 0x address (``param`` names the field).
    """
    if not isinstance(wallet, str) or not Web3.is_address(wallet):
        raise InvalidRequest("not a valid wallet address (0x and 40 hex digits)", param=param)
    return str(Web3.to_checksum_address(wallet))
