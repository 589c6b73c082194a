"""Wallet addresses as users type them: validated and checksummed, or refused with the one error shape.

The one address check is ``protocol.addresses.checksum`` (shared with the wallet); this module puts
it in the service's terms: ``checksum`` in services (an ``InvalidRequest`` naming the field),
``WalletAddress`` in request models (a 422 naming the field).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from procedures.errors import InvalidRequest
from protocol import addresses
from protocol.errors import InvalidAddress


def is_wallet(value: Any) -> bool:
    """Whether ``value`` is a 0x address the shared check accepts."""
    try:
        addresses.checksum(value)
    except InvalidAddress:
        return False
    return True


def checksum(wallet: Any, param: str = "wallet") -> str:
    """The checksummed address.

    Raises:
        InvalidRequest: not a 0x address, or a broken EIP-55 checksum (``param`` names the field).
    """
    try:
        return addresses.checksum(wallet, what=param)
    except InvalidAddress as exc:
        raise InvalidRequest(
            "not a valid wallet address (0x and 40 hex digits"
            + (", checksum broken" if exc.bad_checksum else "")
            + ")",
            param=param,
        ) from exc


def _checksummed(value: str) -> str:
    # pydantic turns the ValueError (InvalidAddress is one) into a 422 naming the field
    return addresses.checksum(value)


#: A wallet address field of a request model, checksummed on the way in.
WalletAddress = Annotated[str, AfterValidator(_checksummed)]
