"""The one address check of client code: EIP-55 form, and typos in a checksummed address refused."""

from __future__ import annotations

from typing import Any

from eth_utils.address import is_address, to_checksum_address

from protocol.errors import InvalidAddress

__all__ = ["checksum"]


def checksum(value: Any, what: str = "address") -> str:
    """The EIP-55 (checksummed) form of a ``0x`` address.

    All-lower and all-upper hex carry no checksum and are accepted; mixed case must be a valid
    EIP-55 checksum, so a mistyped checksummed address is refused instead of silently "corrected".

    Args:
        value: what was typed or received.
        what: the field's name, for the message.

    Raises:
        InvalidAddress: not a ``0x`` address of 40 hex digits, or a broken checksum.
    """
    if not isinstance(value, str) or not value.startswith("0x") or not is_address(value):
        raise InvalidAddress(what)
    checksummed = str(to_checksum_address(value))
    digits = value[2:]
    if value != checksummed and digits != digits.lower() and digits != digits.upper():
        raise InvalidAddress(what, checksum=True)
    return checksummed
