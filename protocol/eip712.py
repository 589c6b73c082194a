"""What every EIP-712 signature of the protocol shares: the domain's fields, signing, recovering."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

__all__ = ["EIP712_DOMAIN_FIELDS", "recover_typed", "sign_typed"]

#: ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)``.
EIP712_DOMAIN_FIELDS: list[dict[str, str]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def sign_typed(account: Any, typed: dict[str, Any]) -> str:
    """``0x``-hex 65-byte signature of ``typed`` (an EIP-712 ``full_message``) by a local account."""
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return "0x" + bytes(signed.signature).hex()


def recover_typed(typed: dict[str, Any], signature: str) -> str | None:
    """The checksummed address that signed ``typed``, or ``None`` for a malformed signature."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        return str(Account.recover_message(encode_typed_data(full_message=typed), signature=raw))
    except Exception:  # noqa: BLE001 - any decoding failure means "not a valid signature"
        return None
