"""Cancelling a lost-wallet recovery: what the old wallet signs (EIP-712 over the coin's domain).

A recovery is announced on chain (``RegionalCoin.requestRecovery``) and may run only after a delay.
Until then the lost wallet — if its owner still has it, e.g. a phone found again, or a recovery the
owner never asked for — cancels it by signing ``CancelRecovery(lostWallet, successor, eta, evidence)``;
the city relays the signature (``cancelRecoveryWithSignature``), so the owner needs no gas. The
signature names one request (its successor, eta and the fresh evidence commitment of its card check),
so it can never cancel a later one.
"""

from __future__ import annotations

from typing import Any

from protocol.addresses import checksum
from protocol.eip712 import EIP712_DOMAIN_FIELDS, recover_typed

__all__ = ["CANCEL_RECOVERY_TYPES", "cancel_recovery_typed_data", "check_cancel_request", "cancel_signer"]

CANCEL_RECOVERY_TYPES: list[dict[str, str]] = [
    {"name": "lostWallet", "type": "address"},
    {"name": "successor", "type": "address"},
    {"name": "eta", "type": "uint256"},
    {"name": "evidence", "type": "bytes32"},
]


def cancel_recovery_typed_data(domain: dict[str, Any], lost_wallet: str, successor: str, eta: int,
                               evidence: bytes) -> dict[str, Any]:
    """The EIP-712 ``full_message`` the lost wallet signs to cancel the recovery to ``successor`` due at ``eta``
    (``evidence``: the request's evidence commitment, ``pendingRecovery(lost).evidence``).

    Args:
        domain: the coin's EIP-712 domain (``name``, ``version``, ``chainId``, ``verifyingContract``).
    """
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "CancelRecovery": CANCEL_RECOVERY_TYPES},
        "primaryType": "CancelRecovery",
        "domain": dict(domain),
        "message": {"lostWallet": checksum(lost_wallet), "successor": checksum(successor), "eta": int(eta),
                    "evidence": "0x" + bytes(evidence).hex()},
    }


def check_cancel_request(typed: dict[str, Any], wallet: str) -> None:
    """What a wallet checks before signing typed data the service sent: a ``CancelRecovery`` of itself.

    Raises:
        ValueError: anything else (another type, another wallet, unexpected fields).
    """
    message = typed.get("message") or {}
    if (typed.get("primaryType") != "CancelRecovery"
            or typed.get("types", {}).get("CancelRecovery") != CANCEL_RECOVERY_TYPES
            or set(message) != {"lostWallet", "successor", "eta", "evidence"}
            or str(message.get("lostWallet", "")).lower() != wallet.lower()):
        raise ValueError("the service asked to sign something other than cancelling this wallet's recovery")


def cancel_signer(typed: dict[str, Any], signature: str) -> str | None:
    """Who signed the cancellation, or ``None`` for a malformed signature."""
    return recover_typed(typed, signature)
