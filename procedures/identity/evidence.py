"""The evidence bundle of a link: what was verified, sealed under a per-record key, committed on chain.

The bundle holds the statement, the verification outcome (levels, certificate references, the
basic facts of an adult's signing certificate) and the three signatures — never the raw
certificates. It is encrypted under a fresh data key (deleting the key erases it); the chain gets
only ``keccak256(ciphertext)``.
"""

from __future__ import annotations

import base64
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy.orm import Session

from procedures.crypto import Vault
from procedures.identity.certs import VerifiedCard
from procedures.identity.models import WalletIdentity
from protocol.statement import CardSignatures, LinkStatement

__all__ = ["EVIDENCE_PURPOSE", "open_evidence", "seal_evidence"]

#: The vault purpose of evidence keys.
EVIDENCE_PURPOSE = "identity-evidence"


def seal_evidence(session: Session, vault: Vault, row: WalletIdentity, statement: LinkStatement, card: CardSignatures,
                  wallet_signature: bytes, verified: VerifiedCard) -> None:
    """Seal the evidence bundle of ``row`` under a fresh data key and commit to it with keccak(ciphertext).

    Sets ``row.evidence_key_id``, ``row.evidence`` and ``row.evidence_commitment``.
    """
    bundle: dict[str, Any] = {
        "version": 1,
        "statement": statement.canonical_bytes().decode(),
        "verification": verified.evidence(),
        "note": verified.note,
        "signatures": {
            "auth": _b64(card.auth_signature),
            "signing": None if card.signing_signature is None else _b64(card.signing_signature),
            "wallet": "0x" + wallet_signature.hex(),
        },
    }
    key_id = vault.new_key(session, EVIDENCE_PURPOSE)
    blob = vault.seal_json(session, key_id, bundle, aad=_aad(row.id))
    row.evidence_key_id = key_id
    row.evidence = blob
    row.evidence_commitment = "0x" + keccak(blob).hex()


def open_evidence(session: Session, vault: Vault, row: WalletIdentity) -> dict[str, Any]:
    """Decrypt ``row``'s evidence bundle (personal data: for audits, never for logs).

    Raises:
        RecordErased: the bundle was crypto-erased.
    """
    bundle: dict[str, Any] = vault.open_json(session, row.evidence_key_id, row.evidence, aad=_aad(row.id))
    return bundle


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _aad(identity_id: str) -> bytes:
    return f"identity-evidence|{identity_id}".encode()
